"""Reconciliation: does the ledger add up, and does every card account for its chip?

Per lot: every balance carried by the movements equals the balance recomputed from the
movements alone, and received (+ adjustments) = available + reserved + consumed good +
spoiled. Per card: its chip UID is used once (the schema enforces it too), lies in the UID
range of the lot the card records, and every card with a chip records its lot.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from inventory.ledger import Balance
from inventory.models import StockLot, StockMovement
from line.models import Card


def reconcile(*, session: Session) -> list[str]:
    """Every mismatch found, one line each (empty: everything adds up)."""
    problems: list[str] = []
    lots = {lot.id: lot for lot in session.exec(select(StockLot).order_by(col(StockLot.id)))}
    running: dict[int, Balance] = {}
    adjustments: dict[int, int] = {}
    for movement in session.exec(select(StockMovement).order_by(col(StockMovement.id))):
        before = running.get(movement.lot_id, Balance())
        try:
            after = before.after(movement.kind, movement.quantity)
        except ValueError:
            problems.append(
                f"movement {movement.id}: {movement.kind} of lot {movement.lot_id} goes below zero"
            )
            continue
        carried = Balance(
            movement.on_hand_after,
            movement.reserved_after,
            movement.consumed_after,
            movement.spoiled_after,
        )
        if carried != after:
            problems.append(
                f"movement {movement.id}: carries {carried}, the movements before it make {after}"
            )
        running[movement.lot_id] = after
        if movement.kind.value == "adjustment":
            adjustments[movement.lot_id] = adjustments.get(movement.lot_id, 0) + movement.quantity
    for lot_id, stock_lot in lots.items():
        assert lot_id is not None
        balance = running.get(lot_id, Balance())
        total = balance.available + balance.reserved + balance.consumed + balance.spoiled
        expected = stock_lot.quantity + adjustments.get(lot_id, 0)
        if total != expected:
            problems.append(
                f"lot {stock_lot.lot_number}: received {stock_lot.quantity}"
                f"{adjustments.get(lot_id, 0):+d} "
                f"but available {balance.available} + reserved {balance.reserved} "
                f"+ consumed {balance.consumed} + spoiled {balance.spoiled} = {total}"
            )
    chip_lots = {each.lot_number: each for each in lots.values() if each.item_code == "chip"}
    seen: dict[str, str] = {}
    unknown = 0
    for card in session.exec(
        select(Card).where(col(Card.chip_uid).is_not(None)).order_by(col(Card.id))
    ):
        assert card.chip_uid is not None
        if card.chip_uid in seen:
            problems.append(f"chip {card.chip_uid} used by {seen[card.chip_uid]} and {card.serial}")
        seen[card.chip_uid] = card.serial
        chip_lot = chip_lots.get(card.chip_lot or "")
        if chip_lot is None:
            unknown += 1
            if unknown <= 10:
                problems.append(
                    f"card {card.serial}: its chip {card.chip_uid} comes from no known lot"
                )
            continue
        assert chip_lot.first_uid is not None and chip_lot.last_uid is not None
        low, high = int(chip_lot.first_uid, 16), int(chip_lot.last_uid, 16)
        if not low <= int(card.chip_uid, 16) <= high:
            problems.append(
                f"card {card.serial}: chip {card.chip_uid} is outside lot "
                f"{chip_lot.lot_number}'s UIDs"
            )
    if unknown > 10:
        problems.append(f"... and {unknown - 10} more cards whose chip comes from no known lot")
    return problems
