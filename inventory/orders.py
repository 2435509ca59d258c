"""Expected deliveries: purchase orders that can be delayed or split, and fulfilled by a lot.

An expected delivery date (``stock expect --date``, ``stock delay --to``, ``stock split
--date``) lies between today and :data:`EXPECTED_AHEAD` (about two years) after it: a date in
the past is not an expectation (a delivery that came is received, one that did not is
delayed to a new date), and one further ahead is a typo or a guess no projection should
rest on. ``today`` is the centre's date (its calendar's time zone), given by the caller.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from inventory.errors import StockError
from inventory.models import PurchaseOrder, StockItem

EXPECTED_AHEAD = timedelta(days=731)
"""How far ahead an expected delivery date may lie (about two years)."""


def check_expected_date(on: date, *, today: date, field: str = "date") -> None:
    """Refuse an expected delivery date in the past or more than ``EXPECTED_AHEAD`` ahead."""
    if on < today:
        raise StockError(
            f"expected delivery date {on} is in the past (today is {today})",
            field=field,
            reason_code="stock.date",
        )
    if on > today + EXPECTED_AHEAD:
        raise StockError(
            f"expected delivery date {on} is more than {EXPECTED_AHEAD.days} days (about two "
            f"years) after today ({today})",
            field=field,
            reason_code="stock.date",
        )


def _order(session: Session, number: str) -> PurchaseOrder:
    order = session.exec(
        select(PurchaseOrder).where(PurchaseOrder.number == number).with_for_update()
    ).first()
    if order is None:
        raise StockError(f"no purchase order {number!r}", field="order", reason_code="stock.order")
    return order


def _open(session: Session, number: str) -> PurchaseOrder:
    order = _order(session, number)
    if order.status != "open":
        raise StockError(
            f"purchase order {number} is {order.status}", field="order", reason_code="stock.order"
        )
    return order


def expect(
    *,
    session: Session,
    number: str,
    item_code: str,
    supplier: str,
    quantity: int,
    expected_on: date,
    at: datetime,
    today: date,
) -> PurchaseOrder:
    """Record a delivery the centre expects; refused with the field named if anything is off."""
    if session.get(StockItem, item_code) is None:
        raise StockError(f"unknown item {item_code!r}", field="item", reason_code="stock.item")
    if not number.strip():
        raise StockError("is required", field="order", reason_code="stock.order")
    if session.exec(select(PurchaseOrder).where(PurchaseOrder.number == number)).first():
        raise StockError(f"{number} exists already", field="order", reason_code="stock.order")
    if quantity <= 0:
        raise StockError(
            f"must be a positive whole number, got {quantity}",
            field="quantity",
            reason_code="stock.quantity",
        )
    if not supplier.strip():
        raise StockError("is required", field="supplier", reason_code="stock.supplier")
    check_expected_date(expected_on, today=today)
    order = PurchaseOrder(
        number=number.strip(),
        item_code=item_code,
        supplier=supplier.strip(),
        quantity=quantity,
        expected_on=expected_on,
        status="open",
        created_at=at,
    )
    session.add(order)
    session.flush()
    return order


def delay(*, session: Session, number: str, to: date, reason: str, today: date) -> PurchaseOrder:
    """The delivery slips to ``to``; the reason is kept in the order's note."""
    if not reason.strip():
        raise StockError("a delay needs a reason", field="reason", reason_code="stock.reason")
    order = _open(session, number)
    if to <= order.expected_on:
        raise StockError(
            f"{to} is not after the expected {order.expected_on}",
            field="date",
            reason_code="stock.date",
        )
    check_expected_date(to, today=today)
    order.note = f"{order.note}\ndelayed {order.expected_on} -> {to}: {reason}".strip()[:2000]
    order.expected_on = to
    session.add(order)
    session.flush()
    return order


def split(
    *, session: Session, number: str, quantity: int, expected_on: date, at: datetime, today: date
) -> PurchaseOrder:
    """Part of an order (``quantity``) will come separately on ``expected_on``: a new order
    ``<number>/<n>`` for that part; the original keeps the rest."""
    order = _open(session, number)
    if not 0 < quantity < order.quantity:
        raise StockError(
            f"must be between 1 and {order.quantity - 1} to split order {number}",
            field="quantity",
            reason_code="stock.quantity",
        )
    check_expected_date(expected_on, today=today)
    parts = session.exec(select(PurchaseOrder).where(PurchaseOrder.split_from_id == order.id)).all()
    part = PurchaseOrder(
        number=f"{order.number}/{len(parts) + 2}",
        item_code=order.item_code,
        supplier=order.supplier,
        quantity=quantity,
        expected_on=expected_on,
        status="open",
        split_from_id=order.id,
        created_at=at,
        note=f"split from {order.number}",
    )
    order.quantity -= quantity
    order.note = f"{order.note}\nsplit {quantity} into {part.number}".strip()[:2000]
    session.add_all([order, part])
    session.flush()
    return part


def fulfil(*, session: Session, number: str, item_code: str) -> PurchaseOrder:
    """The order a delivery fulfils: it must exist, be open and be for the same item."""
    order = _open(session, number)
    if order.item_code != item_code:
        raise StockError(
            f"order {number} is for {order.item_code}, not {item_code}",
            field="order",
            reason_code="stock.order",
        )
    order.status = "received"
    session.add(order)
    return order


def expected(*, session: Session, item_code: str) -> list[PurchaseOrder]:
    """Open orders of an item, soonest first."""
    return list(
        session.exec(
            select(PurchaseOrder)
            .where(PurchaseOrder.item_code == item_code, PurchaseOrder.status == "open")
            .order_by(col(PurchaseOrder.expected_on), col(PurchaseOrder.id))
        )
    )
