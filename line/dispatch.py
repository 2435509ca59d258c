"""Dispatch: passed cards grouped by police station into batches, handed over with a manifest;
then delivery confirmed by the station, or a card returned with its reason.

Functions take a keyword-only ``session`` and commit nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from line.errors import IllegalTransition, NotFound
from line.logsetup import get_logger
from line.models import Application, Card, DispatchBatch, StageEvent
from line.operations import StageResult, confirm_delivery, finish_stages
from line.routing import Action, next_stage
from line.states import check_application_transition, check_card_transition
from line.types import ApplicationState, CardState, EventStage, Outcome, Stage

log = get_logger(__name__)


def ready_for_dispatch(*, session: Session) -> dict[str, list[Card]]:
    """Cards that passed QC and are in no batch yet, by destination, oldest first."""
    rows = session.exec(
        select(Card, Application.destination)
        .join(Application, col(Application.id) == Card.application_id)
        .where(Card.state == CardState.QC_PASSED, col(Card.dispatch_batch_id).is_(None))
        .order_by(Application.destination, col(Card.id))
    ).all()
    ready: dict[str, list[Card]] = {}
    for card, destination in rows:
        ready.setdefault(destination, []).append(card)
    return ready


def batch_code(*, session: Session, destination: str, at: datetime) -> str:
    """``D<station>-<YYYYMMDD>-<n>``: the n-th batch for that station that day."""
    prefix = f"D{destination}-{at:%Y%m%d}-"
    count = session.exec(
        select(sa.func.count())
        .select_from(DispatchBatch)
        .where(col(DispatchBatch.code).startswith(prefix))
    ).one()
    return f"{prefix}{int(count) + 1:03d}"


def dispatch(
    *,
    session: Session,
    destination: str,
    cards: Sequence[Card],
    code: str,
    actor: str,
    at: datetime,
    rework_limit: int,
    manifest: str | None = None,
) -> DispatchBatch:
    """Hand ``cards`` over to ``destination`` as one batch: every card goes to dispatched."""
    if not cards:
        raise ValueError("a dispatch batch needs cards")
    for card in cards:
        application = session.get(Application, card.application_id)
        if application is None or application.destination != destination:
            raise ValueError(f"card {card.serial} is not for {destination}")
    batch = DispatchBatch(
        code=code, destination=destination, cards=len(cards), manifest=manifest, dispatched_at=at
    )
    session.add(batch)
    session.flush()
    finish_stages(
        session=session,
        results=[
            StageResult(card.id or 0, Stage.DISPATCH, Outcome.OK, actor, code, at, at)
            for card in cards
        ],
        rework_limit=rework_limit,
    )
    for card in cards:
        card.dispatch_batch_id = batch.id
        session.add(card)
    session.flush()
    log.info("dispatch.batch", code=code, destination=destination, cards=len(cards))
    return batch


def deliver(*, session: Session, code: str, actor: str, at: datetime) -> DispatchBatch:
    """The station confirms it received the batch: its dispatched cards are delivered."""
    batch = session.exec(select(DispatchBatch).where(DispatchBatch.code == code)).first()
    if batch is None:
        raise NotFound(f"no dispatch batch {code!r}")
    if batch.delivered_at is not None:
        raise IllegalTransition("dispatch batch", "delivered", "delivered", entity_id=code)
    cards = session.exec(
        select(Card).where(Card.dispatch_batch_id == batch.id, Card.state == CardState.DISPATCHED)
    ).all()
    for card in cards:
        confirm_delivery(session=session, card_id=card.id or 0, actor=actor, at=at)
    batch.delivered_at = at
    session.add(batch)
    session.flush()
    log.info("dispatch.delivered", code=code, cards=len(cards))
    return batch


def return_card(
    *, session: Session, serial: str, reason: str, actor: str, at: datetime, rework_limit: int
) -> Action:
    """A dispatched card came back (damaged, refused...): it is spoiled with ``reason`` and
    its application gets a new card (or waits for a manager past the rework limit)."""
    if not reason.strip():
        raise ValueError("a returned card needs a reason")
    card = session.exec(select(Card).where(Card.serial == serial).with_for_update()).first()
    if card is None:
        raise NotFound(f"no card {serial!r}")
    application = session.get(Application, card.application_id)
    assert application is not None
    route = next_stage(
        Stage.DISPATCH, Outcome.FAIL, attempt=card.attempt, rework_limit=rework_limit
    )
    target = ApplicationState.APPROVED if route.action is Action.REWORK else ApplicationState.HELD
    check_card_transition(card.state, CardState.SPOILED, entity_id=serial)
    check_application_transition(application.state, target, entity_id=application.id)
    card.state = CardState.SPOILED
    card.spoiled_at_stage = EventStage.DELIVERY.value
    card.spoil_reason = reason
    card.updated_at = at
    application.state = target
    application.spoiled_cards += 1
    application.updated_at = at
    session.add_all([card, application])
    session.add(
        StageEvent(
            application_id=application.id or 0,
            card_id=card.id,
            stage=EventStage.DELIVERY,
            machine=None,
            actor=actor,
            outcome=Outcome.FAIL,
            reason_code=reason,
            application_state=target,
            card_state=CardState.SPOILED,
            started_at=at,
            ended_at=at,
        )
    )
    session.flush()
    log.info("dispatch.returned", card_serial=serial, reason_code=reason, route=route.action.value)
    return route.action
