"""Days of cover and the shortage state of each item, from the ledger and the backlog.

The consumption rate is trailing: card bodies taken (consumption movements, spoiled cards
included, since a spoiled card took a body too) over the last ``window_days``. Days of
cover = available / rate. The state says what a manager must know:

- ``out``: nothing available;
- ``short``: less available than the approved work waiting for it (the backlog);
- ``low``: fewer days of cover than ``low_days`` (time to reorder);
- ``ok``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from inventory.ledger import stock
from inventory.models import MovementKind, StockItem, StockMovement


@dataclass(frozen=True, slots=True)
class ItemCover:
    item: str
    on_hand: int
    reserved: int
    available: int
    rate_per_day: float
    days_of_cover: float | None  # None: nothing consumed lately, cover unbounded
    state: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "item": self.item,
            "on_hand": self.on_hand,
            "reserved": self.reserved,
            "available": self.available,
            "rate_per_day": round(self.rate_per_day, 2),
            "days_of_cover": None if self.days_of_cover is None else round(self.days_of_cover, 1),
            "state": self.state,
            "reason": self.reason,
        }


def cover(
    *,
    session: Session,
    now: datetime,
    backlog: int,
    window_days: int = 7,
    low_days: float = 14.0,
) -> list[ItemCover]:
    """One entry per stock item. ``backlog``: approved applications waiting for a chip."""
    since = now - timedelta(days=window_days)
    result = []
    for item in session.exec(select(StockItem).order_by(col(StockItem.code))):
        lots = stock(session=session, item_code=item.code)
        on_hand = sum(s.balance.on_hand for s in lots)
        reserved = sum(s.balance.reserved for s in lots)
        available = on_hand - reserved
        used = session.exec(
            select(sa.func.coalesce(sa.func.sum(StockMovement.quantity), 0)).where(
                StockMovement.item_code == item.code,
                StockMovement.kind == MovementKind.CONSUMPTION,
                col(StockMovement.at) >= since,
            )
        ).one()
        rate = float(used) / window_days
        days = available / rate if rate > 0 else None
        need = backlog if item.code == "chip" else 0
        if available <= 0:
            state, reason = "out", f"nothing available ({reserved} reserved)"
        elif need > available:
            state, reason = "short", f"{available} available for {need} approved applications"
        elif days is not None and days < low_days:
            state, reason = "low", f"{days:.1f} days of cover at {rate:.0f} a day (< {low_days:g})"
        else:
            state = "ok"
            reason = "no consumption lately" if days is None else f"{days:.1f} days of cover"
        result.append(ItemCover(item.code, on_hand, reserved, available, rate, days, state, reason))
    return result
