"""Line KPIs from the database: counts per state, and one application's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from line.errors import NotFound
from line.models import Application, Card, StageEvent, StageEventRecord
from line.types import MAX_DB_INTEGER, ApplicationState, CardState, EventKind


@dataclass(frozen=True, slots=True)
class StatusCounts:
    applications: dict[str, int]
    cards: dict[str, int]

    @property
    def total_applications(self) -> int:
        return sum(self.applications.values())

    @property
    def total_cards(self) -> int:
        return sum(self.cards.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"applications": dict(self.applications), "cards": dict(self.cards)}


def status_counts(*, session: Session) -> StatusCounts:
    """Applications and cards per state; every state is present, zero or not."""
    applications = {state.value: 0 for state in ApplicationState}
    for state, count in session.exec(
        select(Application.state, sa.func.count()).group_by(Application.state)
    ):
        applications[ApplicationState(state).value] = count
    cards = {state.value: 0 for state in CardState}
    for state, count in session.exec(select(Card.state, sa.func.count()).group_by(Card.state)):
        cards[CardState(state).value] = count
    return StatusCounts(applications=applications, cards=cards)


@dataclass(frozen=True, slots=True)
class History:
    application: Application
    cards: list[Card]
    events: list[StageEventRecord]


def find_applications(*, session: Session, key: str) -> list[Application]:
    """Applications for a 12-digit personal ID (newest first), or the one with that id.
    Anything else (other characters, a number no id column can hold) finds none, without a
    query: the databases refuse an integer out of their range instead of finding nothing."""
    key = key.strip()
    if not (key.isascii() and key.isdigit()):  # "²" and "١٢" are digits to str.isdigit
        return []
    if len(key) == 12:
        return list(
            session.exec(
                select(Application)
                .where(Application.id_number == key)
                .order_by(col(Application.id).desc())
            )
        )
    if int(key) > MAX_DB_INTEGER:
        return []
    application = session.get(Application, int(key))
    return [application] if application is not None else []


def history(*, session: Session, application_id: int) -> History:
    application = session.get(Application, application_id)
    if application is None:
        raise NotFound(f"application {application_id} not found")
    cards = list(
        session.exec(
            select(Card).where(Card.application_id == application_id).order_by(col(Card.attempt))
        )
    )
    events = [
        event.record()
        for event in session.exec(
            select(StageEvent)
            .where(StageEvent.application_id == application_id)
            .order_by(col(StageEvent.id))
        )
    ]
    return History(application=application, cards=cards, events=events)


@dataclass(frozen=True, slots=True)
class DailyFigures:
    """What the daily report shows, from the stage event record."""

    days: list[str]  # ISO dates, oldest first
    done: dict[str, dict[str, int]]  # stage -> day -> cards that ended it well
    failed: dict[str, int]  # stage -> cards spoiled there (in the window)
    reworked: int  # replacement cards started (attempt > 1) in the window
    made: int  # good cards so far: passed QC, dispatched or delivered

    def yield_of(self, stage: str) -> float | None:
        good = sum(self.done.get(stage, {}).values())
        total = good + self.failed.get(stage, 0)
        return good / total if total else None


def daily_figures(
    *, session: Session, until: datetime, days: int = 7, zone: tzinfo = UTC
) -> DailyFigures:
    """Cards per stage per day over the last ``days`` days up to ``until``; a day is a
    calendar day in ``zone`` (the centre's time zone; UTC by default)."""
    since = until - timedelta(days=days)
    day_list = [
        (since + timedelta(days=n + 1)).astimezone(zone).date().isoformat() for n in range(days)
    ]
    done: dict[str, dict[str, int]] = {}
    failed: dict[str, int] = {}
    for event in session.exec(
        select(StageEvent).where(
            col(StageEvent.ended_at) > since, col(StageEvent.ended_at) <= until
        )
    ):
        if event.kind is EventKind.START:  # a card body taken: not an outcome
            continue
        stage = event.stage.value
        if event.outcome.value == "ok":
            day = event.ended_at.astimezone(zone).date().isoformat()
            done.setdefault(stage, {}).setdefault(day, 0)
            done[stage][day] += 1
        else:
            failed[stage] = failed.get(stage, 0) + 1
    reworked = session.exec(
        select(sa.func.count())
        .select_from(Card)
        .where(Card.attempt > 1, col(Card.created_at) > since, col(Card.created_at) <= until)
    ).one()
    made = session.exec(
        select(sa.func.count())
        .select_from(Card)
        .where(
            col(Card.state).in_([CardState.QC_PASSED, CardState.DISPATCHED, CardState.DELIVERED])
        )
    ).one()
    return DailyFigures(day_list, done, failed, int(reworked), int(made))
