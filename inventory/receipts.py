"""What comes into the books: deliveries, the line's consumables as items, stock-take fixes.

A delivery is refused before anything is written, naming the field that is off: each check
below raises for one field, in the order a clerk reads the delivery note (item, quantity,
lot, supplier, then a chip lot's UIDs and defect rate, then the purchase order it fulfils).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from inventory.books import CHIP, Balance, balance_of, locked_lot, record_movement
from inventory.errors import StockError
from inventory.models import MovementKind, StockItem, StockLot
from inventory.orders import fulfil
from line.logsetup import get_logger
from line.spec import ConsumableSpec

log = get_logger(__name__)

_HEX = re.compile(r"[0-9A-F]{2,32}")


def uid_range(first_uid: str, quantity: int) -> tuple[int, int]:
    """The first and last UID, as numbers, of ``quantity`` chips from ``first_uid``."""
    return int(first_uid, 16), int(first_uid, 16) + quantity - 1


def receive(
    *,
    session: Session,
    item_code: str,
    lot_number: str,
    supplier: str,
    quantity: int,
    at: datetime,
    actor: str,
    first_uid: str | None = None,
    defect_rate: float | None = None,
    order: str | None = None,
) -> StockLot:
    """Record a delivery; refuse it (naming the field, writing nothing) if anything is off.
    ``order``: the purchase order it fulfils (it must exist and be open)."""
    _check_item(session, item_code)
    _check_quantity(quantity)
    lot_number = lot_number.strip()
    if not lot_number:
        raise StockError("is required", field="lot", reason_code="stock.lot")
    if not supplier.strip():
        raise StockError("is required", field="supplier", reason_code="stock.supplier")
    _check_new_lot(session, item_code, lot_number)
    last_uid = None
    if item_code == CHIP:
        first_uid, last_uid = _chip_uids(session, first_uid, quantity)
        _check_defect_rate(defect_rate)
    elif first_uid is not None:
        raise StockError(
            f"only chips have UIDs, not {item_code}", field="first-uid", reason_code="stock.uid"
        )
    purchase_order_id = None
    if order is not None:
        purchase_order_id = fulfil(session=session, number=order, item_code=item_code).id
    lot = StockLot(
        purchase_order_id=purchase_order_id,
        item_code=item_code,
        lot_number=lot_number,
        supplier=supplier.strip(),
        quantity=quantity,
        received_at=at,
        first_uid=first_uid,
        last_uid=last_uid,
        defect_rate=defect_rate,
    )
    session.add(lot)
    session.flush()
    record_movement(session, lot, Balance(), MovementKind.RECEIPT, quantity, actor=actor, at=at)
    session.flush()
    log.info("stock.received", item=item_code, lot=lot_number, quantity=quantity, actor=actor)
    return lot


def _check_item(session: Session, item_code: str) -> None:
    """The item must be a known stock item; the refusal lists the known ones."""
    if session.get(StockItem, item_code) is None:
        known = ", ".join(session.exec(select(StockItem.code)).all())
        raise StockError(
            f"unknown item {item_code!r} (known: {known})", field="item", reason_code="stock.item"
        )


def _check_quantity(quantity: int) -> None:
    """A delivery is a positive whole number of units (a float from a form is refused)."""
    if not isinstance(quantity, int) or quantity <= 0:
        raise StockError(
            f"must be a positive whole number, got {quantity}",
            field="quantity",
            reason_code="stock.quantity",
        )


def _check_new_lot(session: Session, item_code: str, lot_number: str) -> None:
    """A lot is received once per item (a second receipt is a typo or a note booked
    twice, and would double the stock)."""
    existing = session.exec(
        select(StockLot).where(StockLot.item_code == item_code, StockLot.lot_number == lot_number)
    ).first()
    if existing is not None:
        raise StockError(
            f"{lot_number} was received already on {existing.received_at:%Y-%m-%d}",
            field="lot",
            reason_code="stock.lot_exists",
        )


def _chip_uids(session: Session, first_uid: str | None, quantity: int) -> tuple[str, str]:
    """A chip lot's first and last UID (upper-case hex): whole bytes, no overflow of the
    UID's width, and no overlap with a lot received before (a UID is one chip's)."""
    if first_uid is None:
        raise StockError(
            "is required for chips (hex UID of the lot's first chip)",
            field="first-uid",
            reason_code="stock.uid",
        )
    first_uid = first_uid.strip().upper()
    if not _HEX.fullmatch(first_uid) or len(first_uid) % 2:
        raise StockError(
            f"{first_uid!r} is not a hex UID of whole bytes",
            field="first-uid",
            reason_code="stock.uid",
        )
    low, high = uid_range(first_uid, quantity)
    if high >= 16 ** len(first_uid):
        raise StockError(
            f"{quantity} chips from {first_uid} overflow {len(first_uid) // 2}-byte UIDs",
            field="first-uid",
            reason_code="stock.uid",
        )
    for other in session.exec(select(StockLot).where(StockLot.item_code == CHIP)):
        assert other.first_uid is not None and other.last_uid is not None
        if low <= int(other.last_uid, 16) and int(other.first_uid, 16) <= high:
            raise StockError(
                f"{first_uid}-{high:0{len(first_uid)}X} overlaps lot {other.lot_number} "
                f"({other.first_uid}-{other.last_uid})",
                field="first-uid",
                reason_code="stock.uid_overlap",
            )
    return first_uid, f"{high:0{len(first_uid)}X}"


def _check_defect_rate(defect_rate: float | None) -> None:
    """A chip lot's defect rate, if the supplier gives one, is a fraction."""
    if defect_rate is not None and not 0 <= defect_rate <= 1:
        raise StockError(
            f"must be within [0, 1], got {defect_rate}",
            field="defect-rate",
            reason_code="stock.defect_rate",
        )


def adjust(
    *, session: Session, lot_id: int, quantity: int, reason: str, at: datetime, actor: str
) -> Balance:
    """Correct a lot's count after a stock take (a reason is required)."""
    if not reason.strip():
        raise StockError("an adjustment needs a reason", field="reason", reason_code="stock.reason")
    if quantity == 0:
        raise StockError("must not be zero", field="quantity", reason_code="stock.quantity")
    lot = locked_lot(session, lot_id)
    before = balance_of(session=session, lot_id=lot_id)
    try:
        after = record_movement(
            session,
            lot,
            before,
            MovementKind.ADJUSTMENT,
            quantity,
            actor=actor,
            at=at,
            reason=reason,
        )
    except ValueError as exc:
        raise StockError(
            f"{quantity:+d} would leave {before.available + quantity} available",
            field="quantity",
            reason_code="stock.quantity",
        ) from exc
    session.flush()
    return after


def register_consumables(*, session: Session, consumables: Mapping[str, ConsumableSpec]) -> None:
    """Make sure each consumable of the line spec (``LineSpec.consumables``) is a stock item."""
    for code, supply in consumables.items():
        if session.get(StockItem, code) is not None:
            continue
        item = StockItem(
            code=code, name=supply.name, unit=supply.unit, cards_per_unit=supply.cards_per_unit
        )
        try:  # two workers starting at once may both find it new: one insert wins
            with session.begin_nested():
                session.add(item)
        except IntegrityError:
            pass
