"""Line KPIs from the database: counts per state, and one application's history."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from line.errors import NotFound
from line.models import Application, Card, StageEvent, StageEventRecord
from line.types import ApplicationState, CardState


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
    """Applications for a 12-digit personal ID (newest first), or the one with that id."""
    key = key.strip()
    if len(key) == 12 and key.isdigit():
        return list(
            session.exec(
                select(Application)
                .where(Application.id_number == key)
                .order_by(col(Application.id).desc())
            )
        )
    if key.isdigit():
        application = session.get(Application, int(key))
        return [application] if application is not None else []
    return []


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
