"""Bad card data of every kind the line must survive, made for real: photo files that are gone,
changed, corrupt, pixel bombs or in a format the chip cannot take; names and IDs that no card
can carry (rows as legacy data or a hand edit would leave them, straight in the database).

Each kind says which reason codes may hold its application: the line must hold (or spoil)
it with one of them, and go on with the rest of its batch.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import random
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlmodel import Session

from line.models import Application
from line.synthetic import person, portrait
from line.types import ApplicationState


@functools.cache
def pixel_bomb() -> bytes:
    """A real 20000 x 20000 PNG (48 KB on disk, 400 M pixels: 1.2 GB once decoded to RGB)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, format="PNG")
    return out.getvalue()


def gif_portrait(seed: int) -> bytes:
    """A portrait in a format neither the face nor the chip's DG2 takes (JPEG or PNG only)."""
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(portrait(random.Random(seed)))).save(out, format="GIF")
    return out.getvalue()


@dataclasses.dataclass(frozen=True)
class BadKind:
    """How to spoil an application's data, and the reason codes that may hold it."""

    name: str
    reasons: frozenset[str]
    spoil: Callable[[Application, Path], None]  # (application row, its photo file)


def _gone(_: Application, photo: Path) -> None:
    photo.unlink()


def _changed(_: Application, photo: Path) -> None:
    photo.write_bytes(portrait(random.Random(999_001)))  # another person's face


def _rewritten(application: Application, photo: Path, content: bytes) -> None:
    """The file holds ``content`` and the record agrees (as legacy data would): only the
    content itself is wrong."""
    photo.write_bytes(content)
    application.photo_sha256 = hashlib.sha256(content).hexdigest()


BAD_KINDS: dict[str, BadKind] = {
    kind.name: kind
    for kind in (
        BadKind("photo-gone", frozenset({"print.photo_not_found"}), _gone),
        BadKind("photo-changed", frozenset({"print.photo_changed"}), _changed),
        BadKind(
            "photo-corrupt",
            frozenset({"print.photo_unreadable"}),
            lambda a, p: _rewritten(a, p, portrait(random.Random(3))[:400]),
        ),
        BadKind(
            "photo-bomb",
            frozenset({"print.photo_too_large"}),
            lambda a, p: _rewritten(a, p, pixel_bomb()),
        ),
        BadKind(
            "photo-gif",
            frozenset({"print.photo_not_image"}),
            lambda a, p: _rewritten(a, p, gif_portrait(4)),
        ),
        BadKind(
            "name-with-separator",
            frozenset({"print.qr_field"}),
            lambda a, _: setattr(a, "full_name", a.full_name.replace(" ", " | ", 1)),
        ),
        BadKind(
            "id-not-ascii",
            frozenset({"print.data_invalid"}),
            # Arabic-Indic digits, as an intake that trusted str.isdigit() let in.
            lambda a, _: setattr(
                a, "id_number", a.id_number[:6] + "".join(chr(0x660 + int(d)) for d in a.id_number[6:])
            ),
        ),
    )
}


def add_applications(
    session: Session, folder: Path, count: int, *, today: date, seed: int = 7
) -> list[tuple[Application, Path]]:
    """``count`` approved applications straight into the database, each with its own real
    photo file under ``folder`` (so spoiling one photo spoils one application)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    now = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    for index in range(count):
        who = person(rng, today=today, photo="-")
        photo = folder / f"photo-{seed}-{index}.jpg"
        content = portrait(random.Random(seed * 1000 + index))
        photo.write_bytes(content)
        application = Application(
            id_number=who.id_number,
            full_name=who.full_name,
            date_of_birth=who.date_of_birth,
            sex=who.sex,
            nationality=who.nationality,
            place_of_origin=who.place_of_origin,
            place_of_residence=who.place_of_residence,
            old_id_number=who.old_id_number or None,
            photo_path=str(photo),
            photo_sha256=hashlib.sha256(content).hexdigest(),
            destination=who.destination,
            state=ApplicationState.APPROVED,
            received_at=now,
            updated_at=now,
        )
        session.add(application)
        made.append((application, photo))
    session.flush()
    return made
