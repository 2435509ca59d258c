"""Dispatch: passed cards grouped by police station into batches, handed over with a manifest;
then delivery confirmed by the station, or a card returned with its reason.

Functions take a keyword-only ``session`` and commit nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from line.devices import ChipStock
from line.errors import IllegalTransition, NotFound
from line.logsetup import get_logger
from line.models import Application, Card, DispatchBatch
from line.operations import StageResult, confirm_delivery, finish_stages
from line.operations import return_card as returned
from line.purge import PersonalDataPurged
from line.routing import Action
from line.types import CardState, Outcome, Stage

log = get_logger(__name__)


class AlreadyDelivered(IllegalTransition):
    """A batch whose delivery the station confirmed already (``delivered_at``)."""

    def __init__(self, code: str, delivered_at: datetime) -> None:
        super().__init__("dispatch batch", "delivered", "delivered", entity_id=code)
        self.delivered_at = delivered_at
        self.message = f"batch {code} already delivered on {delivered_at:%Y-%m-%d %H:%M} UTC"
        self.args = (self.message,)


class DeliveredBeforeDispatch(IllegalTransition):
    """A delivery confirmed at a time before its batch was dispatched."""

    def __init__(self, code: str, dispatched_at: datetime, at: datetime) -> None:
        super().__init__("dispatch batch", "dispatched", "delivered", entity_id=code)
        self.message = (
            f"batch {code} was dispatched on {dispatched_at:%Y-%m-%d %H:%M} UTC: it cannot "
            f"have been delivered before, on {at:%Y-%m-%d %H:%M} UTC"
        )
        self.args = (self.message,)


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
        raise AlreadyDelivered(code, batch.delivered_at)
    if at < batch.dispatched_at:  # the record would have cards arrive before they left
        raise DeliveredBeforeDispatch(code, batch.dispatched_at, at)
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
    *,
    session: Session,
    serial: str,
    reason: str,
    actor: str,
    at: datetime,
    rework_limit: int,
    stock: ChipStock | None = None,
) -> Action:
    """A dispatched or delivered card came back (``delivery.damaged``, ``delivery.refused``...:
    a return reason of ``line.reasons``): it is spoiled, its chip booked as spoiled in
    ``stock``, and its application gets a new card (or waits for a manager past the rework
    limit). The stage operation ``line.operations.return_card`` does it all."""
    card_id = session.exec(select(Card.id).where(Card.serial == serial)).first()
    if card_id is None:
        raise NotFound(f"no card {serial!r}")
    purged = session.exec(
        select(Application.id, Application.purged_at)
        .join(Card, col(Card.application_id) == Application.id)
        .where(Card.id == card_id)
    ).one()
    if purged[1] is not None:  # nothing left to remake the card from
        raise PersonalDataPurged(
            f"card {serial}: application {purged[0]}'s personal data was purged on "
            f"{purged[1]:%Y-%m-%d} (retention); the citizen applies again for a new card"
        )
    route = returned(
        session=session,
        card_id=card_id,
        reason_code=reason,
        actor=actor,
        at=at,
        rework_limit=rework_limit,
        stock=stock,
    )
    log.info("dispatch.returned", card_serial=serial, reason_code=reason, route=route.action.value)
    return route.action
