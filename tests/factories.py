"""Test data: valid applications and files of them, from a seeded generator."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from line.card import CardData, expiry_date
from line.models import Application
from line.synthetic import SyntheticApplication, people, person, portrait
from line.types import ApplicationState


def photo_file(directory: Path, name: str = "photo.jpg", *, seed: int = 1) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(portrait(random.Random(seed), fmt="PNG" if name.endswith(".png") else "JPEG"))
    return path


def applicant(seed: int, *, today: date, photo: str = "photo.jpg") -> SyntheticApplication:
    return person(random.Random(seed), today=today, photo=photo)


def good_rows(count: int, *, seed: int = 11) -> list[dict[str, str]]:
    """``count`` valid intake rows, their photos ``photos/a.jpg`` and ``photos/b.png`` in turn
    (a test puts those two files beside the batch: ``photo_file``)."""
    from tests.conftest import TODAY

    rng = random.Random(seed)
    return [
        p.row() for p in people(rng, count, today=TODAY, photos=["photos/a.jpg", "photos/b.png"])
    ]


def add_application(session: Session, *, seed: int, today: date, **overrides: Any) -> Application:
    """Insert one approved application straight into the database."""
    who = applicant(seed, today=today)
    now = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    values: dict[str, Any] = {
        "id_number": who.id_number,
        "full_name": who.full_name,
        "date_of_birth": who.date_of_birth,
        "sex": who.sex,
        "nationality": who.nationality,
        "place_of_origin": who.place_of_origin,
        "place_of_residence": who.place_of_residence,
        "old_id_number": who.old_id_number or None,
        "photo_path": "/photos/x.jpg",
        "photo_sha256": "0" * 64,
        "destination": who.destination,
        "state": ApplicationState.APPROVED,
        "received_at": now,
        "updated_at": now,
    }
    application = Application(**{**values, **overrides})
    session.add(application)
    session.flush()
    return application


def card_for(seed: int, photo: Path | None = None, **changes: object) -> CardData:
    """What the devices get for one synthetic applicant's first card, issued on TODAY."""
    from tests.conftest import TODAY

    who = applicant(seed, today=TODAY)
    card = CardData(
        application_id=seed,
        card_serial=f"C{seed:010d}-1",
        id_number=who.id_number,
        full_name=who.full_name,
        date_of_birth=who.date_of_birth,
        sex=who.sex,
        nationality=who.nationality,
        place_of_origin=who.place_of_origin,
        place_of_residence=who.place_of_residence,
        old_id_number=who.old_id_number or None,
        photo_path=photo if photo is not None else Path("unused.jpg"),
        issue_date=TODAY,
        expiry_date=expiry_date(who.date_of_birth, TODAY),
        destination=who.destination,
    )
    return dataclasses.replace(card, **changes)  # type: ignore[arg-type]
