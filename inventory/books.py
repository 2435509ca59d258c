"""The books' primitives: a lot's balance, the one way a movement is written, lot look-ups.

A lot's balance is carried by its last movement (no scan of the history), and every movement
is written by :func:`record_movement`, which refuses one that would leave a count below
zero. Everything takes a session and commits nothing; the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from inventory.models import MovementKind, StockLot, StockMovement

CHIP = "chip"


@dataclass(frozen=True, slots=True)
class Balance:
    """A lot's stock after its last movement."""

    on_hand: int = 0  # physically in the store: available + reserved
    reserved: int = 0
    consumed: int = 0  # taken by cards still good
    spoiled: int = 0  # taken by cards that were spoiled

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def after(self, kind: MovementKind, quantity: int) -> Balance:
        """The balance once a ``kind`` movement of ``quantity`` is booked; ValueError if
        it would leave any count (or what is available) below zero."""
        on_hand, reserved, consumed, spoiled = (
            self.on_hand,
            self.reserved,
            self.consumed,
            self.spoiled,
        )
        if kind is MovementKind.RECEIPT:
            on_hand += quantity
        elif kind is MovementKind.RESERVATION:
            reserved += quantity
        elif kind is MovementKind.RELEASE:
            reserved -= quantity
        elif kind is MovementKind.CONSUMPTION:
            reserved -= quantity
            on_hand -= quantity
            consumed += quantity
        elif kind is MovementKind.SPOILAGE:
            consumed -= quantity
            spoiled += quantity
        elif kind is MovementKind.ADJUSTMENT:
            on_hand += quantity
        result = Balance(on_hand, reserved, consumed, spoiled)
        if min(on_hand, reserved, consumed, spoiled, result.available) < 0:
            raise ValueError(f"{kind} of {quantity} would leave {result}")
        return result


@dataclass(frozen=True, slots=True)
class LotStock:
    lot: StockLot
    balance: Balance


def balance_of(*, session: Session, lot_id: int) -> Balance:
    """The lot's balance, read from its last movement."""
    last = session.exec(
        select(StockMovement)
        .where(StockMovement.lot_id == lot_id)
        .order_by(col(StockMovement.id).desc())
        .limit(1)
    ).first()
    if last is None:
        return Balance()
    return Balance(last.on_hand_after, last.reserved_after, last.consumed_after, last.spoiled_after)


def record_movement(
    session: Session,
    lot: StockLot,
    before: Balance,
    kind: MovementKind,
    quantity: int,
    *,
    actor: str,
    at: datetime,
    application_id: int | None = None,
    card_serial: str | None = None,
    reason: str | None = None,
) -> Balance:
    """Book a movement on ``lot`` (whose balance is ``before``), carrying the balance after
    it, so the next reader need not add up the history; returns that balance."""
    assert lot.id is not None
    after = before.after(kind, quantity)
    session.add(
        StockMovement(
            lot_id=lot.id,
            item_code=lot.item_code,
            kind=kind,
            quantity=quantity,
            application_id=application_id,
            card_serial=card_serial,
            reason=reason,
            actor=actor,
            at=at,
            on_hand_after=after.on_hand,
            reserved_after=after.reserved,
            consumed_after=after.consumed,
            spoiled_after=after.spoiled,
        )
    )
    return after


def locked_lot(session: Session, lot_id: int) -> StockLot:
    """The lot, locked for the rest of the transaction (PostgreSQL) before a movement."""
    return session.exec(select(StockLot).where(StockLot.id == lot_id).with_for_update()).one()


def stock(*, session: Session, item_code: str | None = None) -> list[LotStock]:
    """Every lot (of ``item_code``, if given), oldest first, with its balance."""
    lots = session.exec(
        select(StockLot)
        .where(sa.true() if item_code is None else StockLot.item_code == item_code)
        .order_by(col(StockLot.received_at), col(StockLot.id))
    ).all()
    return [LotStock(lot, balance_of(session=session, lot_id=lot.id or 0)) for lot in lots]
