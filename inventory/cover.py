"""Days of cover and the shortage state of each item, from the ledger and the backlog.

The consumption rate is trailing: card bodies taken (consumption movements, spoiled cards
included, since a spoiled card took a body too) over the last ``window_days``. Days of
cover = available / rate. The state says what a manager must know:

- ``out``: nothing available;
- ``short``: less available than the approved work waiting for it (the backlog);
- ``low``: at or below the reorder point (``lead_days`` of consumption: what is used up
  while a new order is on its way);
- ``ok``.

The projected stock-out date walks the days ahead: each day takes the trailing rate (no
more than the backlog still needs) and adds the open purchase orders due that day; the
first day that cannot be served is the stock-out. None: not within the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from inventory.ledger import stock
from inventory.models import MovementKind, PurchaseOrder, StockItem, StockMovement
from inventory.orders import expected
from line.models import Application
from line.types import ApplicationState


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
    expected: int = 0  # on open purchase orders
    reorder_point: int = 0
    projected_stockout: date | None = None

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
            "expected": self.expected,
            "reorder_point": self.reorder_point,
            "projected_stockout": None
            if self.projected_stockout is None
            else self.projected_stockout.isoformat(),
        }


def cover(
    *,
    session: Session,
    now: datetime,
    backlog: int | None = None,
    window_days: int = 7,
    lead_days: float = 21.0,
    horizon_days: int = 365,
) -> list[ItemCover]:
    """One entry per stock item. ``backlog``: approved applications waiting for a chip
    (counted here when not given)."""
    if backlog is None:
        backlog = session.exec(
            select(sa.func.count())
            .select_from(Application)
            .where(Application.state == ApplicationState.APPROVED)
        ).one()
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
        orders = expected(session=session, item_code=item.code)
        reorder_point = round(rate * lead_days)
        stockout = _stockout(now.date(), available, rate, need, orders, horizon_days)
        if available <= 0:
            state, reason = "out", f"nothing available ({reserved} reserved)"
        elif need > available:
            state, reason = "short", f"{available} available for {need} approved applications"
        elif rate > 0 and available <= reorder_point:
            state = "low"
            reason = (
                f"{days:.1f} days of cover at {rate:.0f} a day, at or below the reorder point "
                f"({reorder_point}: {lead_days:g} days)"
            )
        else:
            state = "ok"
            reason = "no consumption lately" if days is None else f"{days:.1f} days of cover"
        if orders:
            reason += (
                f"; {sum(o.quantity for o in orders)} expected, next on {orders[0].expected_on}"
            )
        result.append(
            ItemCover(
                item.code,
                on_hand,
                reserved,
                available,
                rate,
                days,
                state,
                reason,
                expected=sum(o.quantity for o in orders),
                reorder_point=reorder_point,
                projected_stockout=stockout,
            )
        )
    return result


def _stockout(
    today: date,
    available: int,
    rate: float,
    need: int,
    orders: list[PurchaseOrder],
    horizon_days: int,
) -> date | None:
    if rate <= 0:
        return None if available > 0 or need == 0 else today
    stock, to_serve = float(available), float(need) if need else float("inf")
    pending = sorted(orders, key=lambda o: o.expected_on)
    for offset in range(horizon_days + 1):
        day = today + timedelta(days=offset)
        while pending and pending[0].expected_on <= day:
            stock += pending.pop(0).quantity
        todays = min(rate, to_serve)
        if todays <= 0:
            return None
        if stock < todays:
            return day
        stock -= todays
        to_serve -= todays
    return None
