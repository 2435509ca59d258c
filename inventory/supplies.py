"""Consumables (ribbon, overlay film) in the books: how far each goes, and mounting rolls.

A consumable is tracked from its first delivery on, and counted in the cards it can still
print; see :class:`SupplyUse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from inventory.books import CHIP, balance_of, record_movement
from inventory.models import MovementKind, StockItem, StockLot, StockMovement
from line.logsetup import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SupplyUse:
    """How far a consumable (ribbon, overlay film) goes, from the ledger.

    A roll is taken from the store (a consumption of one unit) when it is mounted, and the
    printer then prints ``cards_per_unit`` cards on it: a mounted roll with panels left is
    stock in use, not stock gone. A consumable is tracked from its first delivery on: the
    cards taken before it are none of its business.
    """

    item: str
    unit: str
    cards_per_unit: int
    in_store: int  # units available in its lots (not mounted, not reserved)
    mounted: int  # units taken from the store since its first delivery (in use or used up)
    cards_taken: int  # card bodies taken since its first delivery

    @property
    def needed(self) -> int:
        """Units the cards taken need: the rolls that should have been mounted."""
        return -(-self.cards_taken // self.cards_per_unit)  # ceiling

    @property
    def left_on_mounted(self) -> int:
        """Cards the mounted rolls can still print (negative: printed past them)."""
        return self.mounted * self.cards_per_unit - self.cards_taken

    @property
    def in_use(self) -> int:
        """Mounted units with panels left (a partly used roll is one)."""
        return -(-max(0, self.left_on_mounted) // self.cards_per_unit)

    @property
    def cards_left(self) -> int:
        """Cards that can still be printed: on the mounted rolls, then on those in store."""
        return max(0, self.left_on_mounted) + self.in_store * self.cards_per_unit


def _bodies_taken(session: Session, *, before: int | None = None) -> int:
    """Card bodies taken from every chip lot (good and spoiled), from each lot's balance after
    its last movement (before movement id ``before``, if given): no scan of the history."""
    total = 0
    for lot in session.exec(select(StockLot).where(StockLot.item_code == CHIP)):
        query = select(StockMovement).where(StockMovement.lot_id == lot.id)
        if before is not None:
            query = query.where(col(StockMovement.id) < before)
        last = session.exec(query.order_by(col(StockMovement.id).desc()).limit(1)).first()
        if last is not None:
            total += last.consumed_after + last.spoiled_after
    return total


def supplies(*, session: Session, lock: bool = False) -> dict[str, SupplyUse]:
    """Every consumable with at least one delivery (a tracked one), by item code. ``lock``:
    its lots are locked for the rest of the transaction (PostgreSQL), so that two workers
    do not both start cards on the same panels."""
    result: dict[str, SupplyUse] = {}
    taken_now: int | None = None
    for item in session.exec(
        select(StockItem).where(StockItem.code != CHIP).order_by(col(StockItem.code))
    ):
        query = (
            select(StockLot)
            .where(StockLot.item_code == item.code)
            .order_by(col(StockLot.received_at), col(StockLot.id))
        )
        lots = session.exec(query.with_for_update() if lock else query).all()
        if not lots:
            continue
        first = session.exec(
            select(sa.func.min(StockMovement.id)).where(StockMovement.item_code == item.code)
        ).one()
        if taken_now is None:
            taken_now = _bodies_taken(session)
        before = 0 if first is None else _bodies_taken(session, before=int(first))
        balances = [balance_of(session=session, lot_id=lot.id or 0) for lot in lots]
        result[item.code] = SupplyUse(
            item=item.code,
            unit=item.unit,
            cards_per_unit=item.cards_per_unit,
            in_store=sum(b.available for b in balances),
            mounted=sum(b.consumed + b.spoiled for b in balances),
            cards_taken=taken_now - before,
        )
    return result


def use_consumables(*, session: Session, at: datetime, actor: str) -> dict[str, int]:
    """Mount the rolls the cards started so far need: a tracked consumable (one delivered at
    least once) is used one unit per ``cards_per_unit`` card bodies taken since its first
    delivery. Units come from the oldest lots; returns, per item, the units that were needed
    but not in stock (the line starts no card it has no panels for, see
    ``LedgerChipStock.supplies_left``, so this is a shortfall the line did not prevent)."""
    missing: dict[str, int] = {}
    for code, use in supplies(session=session, lock=True).items():
        short = use.needed - use.mounted
        if short <= 0:
            continue
        lots = session.exec(
            select(StockLot)
            .where(StockLot.item_code == code)
            .order_by(col(StockLot.received_at), col(StockLot.id))
        ).all()
        for lot in lots:
            balance = balance_of(session=session, lot_id=lot.id or 0)
            take = min(short, balance.available)
            if take <= 0:
                continue
            reason = f"mounted for the cards up to {use.cards_taken}"
            balance = record_movement(
                session, lot, balance, MovementKind.RESERVATION, take,
                actor=actor, at=at, reason=reason,
            )  # fmt: skip
            record_movement(
                session, lot, balance, MovementKind.CONSUMPTION, take,
                actor=actor, at=at, reason=reason,
            )  # fmt: skip
            log.info("stock.roll_mounted", item=code, units=take, lot=lot.lot_number)
            short -= take
            if short == 0:
                break
        if short:
            missing[code] = short
            log.warning("stock.consumable_out", item=code, missing=short)
    session.flush()
    return missing
