"""Dispatch as the CLI and the dispatch flow both run it: one batch, with its manifest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from line.db import session_scope
from line.dispatch import batch_code, dispatch, ready_for_dispatch
from line.idnumber import mask_id
from line.models import Application, Card
from line.settings import Settings
from line.spec import spec_in_use
from line.stations import load_register, station_label
from line.today import day_bounds, stations_dispatched_since
from line.types import utc_now
from printers.manifest import ManifestHeader, ManifestLine, render_manifest


class ReadyBatch(NamedTuple):
    """A batch to make now: the station and its cards' serials."""

    destination: str
    serials: list[str]


@dataclass(frozen=True, slots=True)
class DispatchPlan:
    """The batches to make now, and the cards that wait for a station's next day."""

    batches: list[ReadyBatch]
    held: dict[str, int]  # destination -> cards waiting for tomorrow's batch

    @property
    def held_cards(self) -> int:
        return sum(self.held.values())


def plan_dispatch(
    *, engine: Engine, max_cards: int, at: datetime | None = None, zone: tzinfo = UTC
) -> DispatchPlan:
    """One batch per police station per day, up to ``max_cards``: full batches go at any
    time; a station's partial batch goes only if no batch went to that station earlier in
    the day (the centre's day, in ``zone``), else its cards wait for the next day's batch.
    A courier run per station per day, not a parcel of one card each time dispatch runs."""
    at = at or utc_now()
    midnight, _ = day_bounds(at.astimezone(zone).date(), zone)
    with session_scope(engine) as session:
        ready = ready_for_dispatch(session=session)
        sent_today = stations_dispatched_since(session=session, since=midnight)
    batches: list[ReadyBatch] = []
    held: dict[str, int] = {}
    for destination, cards in sorted(ready.items()):
        serials = [card.serial for card in cards]
        full, rest = divmod(len(serials), max_cards)
        batches += [
            ReadyBatch(destination, serials[n * max_cards : (n + 1) * max_cards])
            for n in range(full)
        ]
        if rest and destination in sent_today:
            held[destination] = rest
        elif rest:
            batches.append(ReadyBatch(destination, serials[full * max_cards :]))
    return DispatchPlan(batches, held)


def ready_batches(
    *, engine: Engine, max_cards: int, at: datetime | None = None, zone: tzinfo = UTC
) -> list[ReadyBatch]:
    """The batches to make now (see ``plan_dispatch``)."""
    return plan_dispatch(engine=engine, max_cards=max_cards, at=at, zone=zone).batches


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
        header = ManifestHeader(
            code=code,
            centre=settings.centre,
            destination=destination,
            station=station_label(load_register(settings.home_dir), destination),
            dispatched_at=at,
            zone=ZoneInfo(spec_in_use(settings.line_spec).calendar.timezone),
        )
        manifest = render_manifest(
            out=settings.home_dir / "manifests" / f"{code}.pdf",
            header=header,
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
