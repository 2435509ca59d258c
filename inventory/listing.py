"""Read-only queries of the stock books that the command line shows: lots and movements.

They return models and change nothing; the caller decides what a missing lot means
(``cardline stock adjust`` and ``stock ledger`` each say it in their own words).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from inventory.models import StockLot, StockMovement


def find_lot(*, session: Session, lot_number: str, item_code: str | None = None) -> StockLot | None:
    """The lot of that number (of that item, when given; lot numbers are unique per item),
    or None."""
    query = select(StockLot).where(StockLot.lot_number == lot_number)
    if item_code is not None:
        query = query.where(StockLot.item_code == item_code)
    return session.exec(query.order_by(col(StockLot.id))).first()


def newest_movements(
    *, session: Session, limit: int, lot_number: str | None = None
) -> list[tuple[StockMovement, StockLot]]:
    """The ``limit`` newest movements of the ledger (of one lot number, when given) with
    their lots, oldest first: the order a reader follows the books in."""
    query = select(StockMovement, StockLot).join(StockLot, col(StockLot.id) == StockMovement.lot_id)
    if lot_number is not None:
        query = query.where(StockLot.lot_number == lot_number)
    rows = session.exec(query.order_by(col(StockMovement.id).desc()).limit(limit)).all()
    return list(reversed(rows))
