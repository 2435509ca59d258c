"""The stage event record's one writer: append one event for an application (and its card).

Every stage operation (``line.operations``) and every manager's decision
(``line.decisions``) records what it did through ``append_event``; the record is
append-only (the database refuses UPDATE and DELETE on it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from line import reasons
from line.errors import NotFound
from line.models import Application, Card, StageEvent, StageEventRecord
from line.types import EventKind, Outcome, Stage


def locked_application(session: Session, application_id: int) -> Application:
    """The application, locked for the rest of the transaction (two workers never change
    it at once)."""
    application = session.exec(
        select(Application).where(Application.id == application_id).with_for_update()
    ).first()
    if application is None:
        raise NotFound(f"application {application_id} not found", application_id=application_id)
    return application


def append_event(
    session: Session,
    application: Application,
    card: Card | None,
    *,
    stage: Stage,
    kind: EventKind,
    outcome: Outcome,
    actor: str,
    machine: str | None,
    reason_code: str | None,
    started_at: datetime,
    ended_at: datetime | None = None,
) -> StageEvent:
    """Append one stage event of ``kind``, with the states the change left application and
    card in; an instant event (a decision, a start) has no ``ended_at``. Its reason code, if
    any, must be one of the catalogue's for ``stage``."""
    if reason_code is not None:
        reasons.require(reason_code, stage=stage, field="reason_code")
    ended_at = started_at if ended_at is None else ended_at
    if ended_at < started_at:
        raise ValueError(f"event ends ({ended_at}) before it starts ({started_at})")
    assert application.id is not None
    event = StageEvent(
        application_id=application.id,
        card_id=card.id if card is not None else None,
        stage=stage,
        kind=kind,
        machine=machine,
        actor=actor,
        outcome=outcome,
        reason_code=reason_code,
        application_state=application.state,
        card_state=card.state if card is not None else None,
        started_at=started_at,
        ended_at=ended_at,
    )
    session.add(event)
    return event


QC_PASSED = "passed"
"""What ``qc_verdict`` says of a card that passed QC."""


def qc_verdict(events: Iterable[StageEventRecord | StageEvent], card_id: int) -> str | None:
    """The card's QC verdict from its stage events: ``passed``, or the reason code it was
    rejected with; ``None`` before QC. The QC stage event is where the verdict is stored."""
    verdict = None
    for event in events:
        if event.card_id == card_id and event.stage is Stage.QC and event.kind is EventKind.OUTCOME:
            verdict = QC_PASSED if event.outcome is Outcome.OK else event.reason_code
    return verdict


def qc_verdicts(*, session: Session, card_ids: Iterable[int]) -> dict[int, str]:
    """``qc_verdict`` of each card that has been through QC, in one query."""
    ids = list(card_ids)
    if not ids:
        return {}
    events = session.exec(
        select(StageEvent)
        .where(col(StageEvent.card_id).in_(ids), StageEvent.stage == Stage.QC)
        .order_by(col(StageEvent.id))
    ).all()
    verdicts: dict[int, str] = {}
    for event in events:  # oldest first: a card's last QC outcome is its verdict
        if event.card_id is not None and event.kind is EventKind.OUTCOME:
            verdicts[event.card_id] = (
                QC_PASSED if event.outcome is Outcome.OK else event.reason_code or ""
            )
    return verdicts
