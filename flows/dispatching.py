"""Dispatch as the CLI and the dispatch flow both run it: one batch, with its manifest."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from line.db import session_scope
from line.dispatch import batch_code, dispatch, ready_for_dispatch
from line.idnumber import mask_id
from line.models import Application, Card
from line.settings import Settings
from line.types import utc_now
from printers.manifest import ManifestLine, render_manifest


def ready_batches(*, engine: Engine, max_cards: int) -> list[tuple[str, list[str]]]:
    """(destination, card serials) of every batch to make now, at most ``max_cards`` each."""
    with session_scope(engine) as session:
        ready = ready_for_dispatch(session=session)
    return [
        (destination, [card.serial for card in cards[start : start + max_cards]])
        for destination, cards in sorted(ready.items())
        for start in range(0, len(cards), max_cards)
    ]


def dispatch_batch(
    *,
    engine: Engine,
    settings: Settings,
    destination: str,
    serials: list[str],
    rework_limit: int,
    actor: str,
) -> dict[str, Any]:
    """Render the manifest, then record the batch; a failed record removes the manifest."""
    with session_scope(engine) as session:
        cards = list(session.exec(select(Card).where(col(Card.serial).in_(serials))))
        at = utc_now()
        code = batch_code(session=session, destination=destination, at=at)
        ids = dict(
            session.exec(
                select(Application.id, Application.id_number).where(
                    col(Application.id).in_([card.application_id for card in cards])
                )
            ).all()
        )
        manifest = render_manifest(
            out=settings.home_dir / "manifests" / f"{code}.pdf",
            code=code,
            centre=settings.centre,
            destination=destination,
            dispatched_at=at,
            lines=[
                ManifestLine(card.serial, mask_id(ids[card.application_id]), card.chip_uid)
                for card in cards
            ],
        )
        try:
            dispatch(
                session=session, destination=destination, cards=cards, code=code, actor=actor,
                at=at, rework_limit=rework_limit, manifest=str(manifest),
            )  # fmt: skip
        except BaseException:
            manifest.unlink(missing_ok=True)
            raise
    return {
        "code": code,
        "destination": destination,
        "cards": len(cards),
        "manifest": str(manifest),
    }
