"""Days of cover and the shortage state of each item, from the ledger and the backlog.

The consumption rate is trailing: card bodies taken (consumption movements, spoiled cards
included, since a spoiled card took a body too) over the last ``window_days``. Days of
cover = available / rate. The state says what a manager must know:

- ``out``: nothing available;
- ``short``: less available than the approved work waiting for it (the backlog);
- ``low``: at or below the reorder point (``lead_days`` of consumption: what is used up
  while a new order is on its way);
- ``ok``.

A consumable (ribbon, overlay film) is counted in cards it can still print: a mounted roll
with panels left is stock in use, not stock gone (``inventory.supplies.SupplyUse``). It is
``out`` only when nothing is left to print with, ``short`` when the cards left do not cover
the backlog, and its rate is the card bodies taken, in units (``cards_per_unit`` cards a
unit), so a roll mounted now and then does not make the rate jump.

The projected stock-out date walks the days ahead: each day takes the trailing rate (no
more than the backlog still needs) and adds the open purchase orders due that day; the
first day that cannot be served is the stock-out. None: not within the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from inventory.books import CHIP, stock
from inventory.models import MovementKind, PurchaseOrder, StockItem, StockMovement
from inventory.orders import expected
from inventory.supplies import SupplyUse, supplies
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
    in_use: int = 0  # consumables: mounted units with panels left
    cards_left: int | None = None  # cards it can still make (None: never delivered)

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
            "in_use": self.in_use,
            "cards_left": self.cards_left,
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
    window = _Window(
        now=now,
        since=now - timedelta(days=window_days),
        days=window_days,
        lead_days=lead_days,
        horizon_days=horizon_days,
        backlog=backlog,
    )
    tracked = supplies(session=session)
    result = []
    for item in session.exec(select(StockItem).order_by(col(StockItem.code))):
        lots = stock(session=session, item_code=item.code)
        held = _Held(
            on_hand=sum(s.balance.on_hand for s in lots),
            reserved=sum(s.balance.reserved for s in lots),
            orders=expected(session=session, item_code=item.code),
        )
        if item.code == CHIP:
            result.append(_chip_cover(session, window, held))
        else:
            result.append(_supply_cover(session, window, held, item, tracked.get(item.code)))
    return result


@dataclass(frozen=True, slots=True)
class _Window:
    now: datetime
    since: datetime  # start of the trailing window of consumption
    days: int
    lead_days: float
    horizon_days: int
    backlog: int


@dataclass(frozen=True, slots=True)
class _Held:
    on_hand: int
    reserved: int
    orders: list[PurchaseOrder]

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def expected(self) -> int:
        return sum(order.quantity for order in self.orders)

    def note(self) -> str:
        if not self.orders:
            return ""
        return f"; {self.expected} expected, next on {self.orders[0].expected_on}"


def _chips_taken(session: Session, since: datetime) -> int:
    """Card bodies taken since ``since`` (consumption movements of chips)."""
    used = session.exec(
        select(sa.func.coalesce(sa.func.sum(StockMovement.quantity), 0)).where(
            StockMovement.item_code == CHIP,
            StockMovement.kind == MovementKind.CONSUMPTION,
            col(StockMovement.at) >= since,
        )
    ).one()
    return int(used)


def _chip_cover(session: Session, window: _Window, held: _Held) -> ItemCover:
    available, need = held.available, window.backlog
    rate = _chips_taken(session, window.since) / window.days
    days = available / rate if rate > 0 else None
    reorder_point = round(rate * window.lead_days)
    if available <= 0:
        state, reason = "out", f"nothing available ({held.reserved} reserved)"
    elif need > available:
        state, reason = "short", f"{available} available for {need} approved applications"
    elif rate > 0 and available <= reorder_point:
        state = "low"
        reason = (
            f"{days:.1f} days of cover at {rate:.0f} a day, at or below the reorder point "
            f"({reorder_point}: {window.lead_days:g} days)"
        )
    else:
        state = "ok"
        reason = "no consumption lately" if days is None else f"{days:.1f} days of cover"
    return ItemCover(
        CHIP,
        held.on_hand,
        held.reserved,
        available,
        rate,
        days,
        state,
        reason + held.note(),
        expected=held.expected,
        reorder_point=reorder_point,
        projected_stockout=_stockout(
            window.now.date(), available, rate, need, held.orders, window.horizon_days
        ),
        cards_left=available,
    )


def _supply_cover(
    session: Session, window: _Window, held: _Held, item: StockItem, use: SupplyUse | None
) -> ItemCover:
    """A consumable's cover, in units (rolls), counted from the cards it can still print."""
    per_unit = item.cards_per_unit
    rate = _chips_taken(session, window.since) / per_unit / window.days  # units a day
    reorder_point = round(rate * window.lead_days)
    if use is None:  # never delivered
        return ItemCover(
            item.code,
            held.on_hand,
            held.reserved,
            held.available,
            rate,
            None,
            "out",
            f"none received ({item.name} is tracked from its first delivery on)" + held.note(),
            expected=held.expected,
            reorder_point=reorder_point,
        )
    units_left = use.cards_left / per_unit
    days = units_left / rate if rate > 0 else None
    state, reason = _supply_state(window, item, use, rate, days, reorder_point)
    return ItemCover(
        item.code,
        held.on_hand,
        held.reserved,
        held.available,
        rate,
        days,
        state,
        reason + held.note(),
        expected=held.expected,
        reorder_point=reorder_point,
        projected_stockout=_stockout(
            window.now.date(),
            units_left,
            rate,
            window.backlog / per_unit,
            held.orders,
            window.horizon_days,
        ),
        in_use=use.in_use,
        cards_left=use.cards_left,
    )


def _supply_state(
    window: _Window,
    item: StockItem,
    use: SupplyUse,
    rate: float,
    days: float | None,
    reorder_point: int,
) -> tuple[str, str]:
    """A delivered consumable's state and the reason a manager reads, from the cards it
    can still print (``rate`` and ``reorder_point`` in units, ``days`` of cover)."""
    units_left = use.cards_left / item.cards_per_unit
    mounted = (
        f"{use.in_use} {item.unit} in use ({use.left_on_mounted} cards left on it), "
        if use.in_use
        else ""
    )
    holding = f"{mounted}{use.in_store} in store: {use.cards_left} cards left"
    if use.cards_left <= 0:
        return "out", (
            f"nothing left to print with ({use.mounted} {item.unit}(s) used up, none in store)"
        )
    if window.backlog > use.cards_left:
        return "short", f"{holding} for {window.backlog} approved applications"
    if rate > 0 and units_left <= reorder_point:
        return "low", (
            f"{holding}, {days:.1f} days of cover, at or below the reorder point "
            f"({reorder_point} {item.unit}s: {window.lead_days:g} days)"
        )
    return "ok", holding + ("" if days is None else f", {days:.1f} days of cover")


def _stockout(
    today: date,
    available: float,
    rate: float,
    need: float,
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
