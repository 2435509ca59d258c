"""The stock ledger: receipts, reservations, consumption, spoilage, releases, adjustments.

Every function takes a keyword-only ``session`` and commits nothing; the caller owns the
transaction. Lots are used first in, first out. Reservation locks the lots it draws from
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions are serialised by
``BEGIN IMMEDIATE``), so workers racing for the same lot never reserve more than it holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from inventory.models import ChipReservation, MovementKind, StockItem, StockLot, StockMovement
from line.errors import CardlineError
from line.logsetup import get_logger
from line.spec import ConsumableSpec

log = get_logger(__name__)

CHIP = "chip"
_HEX = re.compile(r"[0-9A-F]{2,32}")


class StockError(CardlineError):
    """Stock input or state that cannot be accepted; ``field`` names the culprit."""

    def __init__(self, message: str, *, field: str, reason_code: str) -> None:
        super().__init__(f"{field}: {message}", field=field, reason_code=reason_code)
        self.field = field
        self.reason_code = reason_code


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
    last = session.exec(
        select(StockMovement)
        .where(StockMovement.lot_id == lot_id)
        .order_by(col(StockMovement.id).desc())
        .limit(1)
    ).first()
    if last is None:
        return Balance()
    return Balance(last.on_hand_after, last.reserved_after, last.consumed_after, last.spoiled_after)


def _move(
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


def uid_range(first_uid: str, quantity: int) -> tuple[int, int]:
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
    item = session.get(StockItem, item_code)
    if item is None:
        known = ", ".join(session.exec(select(StockItem.code)).all())
        raise StockError(
            f"unknown item {item_code!r} (known: {known})", field="item", reason_code="stock.item"
        )
    if not isinstance(quantity, int) or quantity <= 0:
        raise StockError(
            f"must be a positive whole number, got {quantity}",
            field="quantity",
            reason_code="stock.quantity",
        )
    lot_number = lot_number.strip()
    if not lot_number:
        raise StockError("is required", field="lot", reason_code="stock.lot")
    if not supplier.strip():
        raise StockError("is required", field="supplier", reason_code="stock.supplier")
    existing = session.exec(
        select(StockLot).where(StockLot.item_code == item_code, StockLot.lot_number == lot_number)
    ).first()
    if existing is not None:
        raise StockError(
            f"{lot_number} was received already on {existing.received_at:%Y-%m-%d}",
            field="lot",
            reason_code="stock.lot_exists",
        )
    last_uid = None
    if item_code == CHIP:
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
        last_uid = f"{high:0{len(first_uid)}X}"
        if defect_rate is not None and not 0 <= defect_rate <= 1:
            raise StockError(
                f"must be within [0, 1], got {defect_rate}",
                field="defect-rate",
                reason_code="stock.defect_rate",
            )
    elif first_uid is not None:
        raise StockError(
            f"only chips have UIDs, not {item_code}", field="first-uid", reason_code="stock.uid"
        )
    purchase_order_id = None
    if order is not None:
        from inventory.orders import fulfil

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
    _move(session, lot, Balance(), MovementKind.RECEIPT, quantity, actor=actor, at=at)
    session.flush()
    log.info("stock.received", item=item_code, lot=lot_number, quantity=quantity, actor=actor)
    return lot


def _chip_lots(session: Session) -> list[StockLot]:
    """Chip lots, oldest first, locked for the rest of the transaction (PostgreSQL)."""
    return list(
        session.exec(
            select(StockLot)
            .where(StockLot.item_code == CHIP)
            .order_by(col(StockLot.received_at), col(StockLot.id))
            .with_for_update()
        )
    )


def reserve_chips(
    *, session: Session, application_ids: Sequence[int], at: datetime, actor: str
) -> dict[int, StockLot]:
    """Reserve one chip for each application, in the order given (the allocation policy's),
    from the oldest lot that has one. Applications that already hold a reservation keep it;
    those left when stock runs out get none. Returns application id -> lot."""
    lots = _chip_lots(session)
    held = {
        r.application_id: r.lot_id
        for r in session.exec(
            select(ChipReservation).where(
                col(ChipReservation.application_id).in_(application_ids),
                ChipReservation.state == "reserved",
            )
        )
    }
    by_id = {lot.id: lot for lot in lots}
    result: dict[int, StockLot] = {app: by_id[lot_id] for app, lot_id in held.items()}
    balances = {lot.id: balance_of(session=session, lot_id=lot.id or 0) for lot in lots}
    open_lots = [lot for lot in lots if balances[lot.id].available > 0]
    for application_id in application_ids:
        if application_id in result:
            continue
        while open_lots and balances[open_lots[0].id].available == 0:
            open_lots.pop(0)
        if not open_lots:
            break
        lot = open_lots[0]
        balances[lot.id] = _move(
            session, lot, balances[lot.id], MovementKind.RESERVATION, 1,
            actor=actor, at=at, application_id=application_id,
        )  # fmt: skip
        session.add(
            ChipReservation(
                application_id=application_id, lot_id=lot.id or 0, state="reserved", reserved_at=at
            )
        )
        result[application_id] = lot
    session.flush()
    return result


def _open_reservation(session: Session, application_id: int) -> ChipReservation:
    reservation = session.exec(
        select(ChipReservation).where(
            ChipReservation.application_id == application_id, ChipReservation.state == "reserved"
        )
    ).first()
    if reservation is None:
        raise StockError(
            f"application {application_id} holds no chip reservation",
            field="application",
            reason_code="stock.not_reserved",
        )
    return reservation


def _locked_lot(session: Session, lot_id: int) -> StockLot:
    lot = session.exec(select(StockLot).where(StockLot.id == lot_id).with_for_update()).one()
    return lot


def consume_chip(
    *, session: Session, application_id: int, card_serial: str, at: datetime, actor: str
) -> StockLot:
    """The reserved chip's card body is taken for ``card_serial`` (printing starts)."""
    reservation = _open_reservation(session, application_id)
    lot = _locked_lot(session, reservation.lot_id)
    _move(
        session, lot, balance_of(session=session, lot_id=reservation.lot_id),
        MovementKind.CONSUMPTION, 1, actor=actor, at=at,
        application_id=application_id, card_serial=card_serial,
    )  # fmt: skip
    reservation.state = "consumed"
    reservation.card_serial = card_serial
    session.add(reservation)
    session.flush()
    return lot


def spoil_chip(
    *, session: Session, lot_id: int, card_serial: str, reason: str, at: datetime, actor: str
) -> None:
    """A card taken from ``lot_id`` was spoiled: its chip is lost."""
    lot = _locked_lot(session, lot_id)
    _move(
        session, lot, balance_of(session=session, lot_id=lot_id), MovementKind.SPOILAGE, 1,
        actor=actor, at=at, card_serial=card_serial, reason=reason,
    )  # fmt: skip
    session.flush()


def release_chip(
    *, session: Session, application_id: int, reason: str, at: datetime, actor: str
) -> None:
    """Give an application's reserved chip back to the lot (cancelled, held...)."""
    reservation = _open_reservation(session, application_id)
    lot = _locked_lot(session, reservation.lot_id)
    _move(
        session, lot, balance_of(session=session, lot_id=lot.id or 0), MovementKind.RELEASE, 1,
        actor=actor, at=at, application_id=application_id, reason=reason,
    )  # fmt: skip
    reservation.state = "released"
    session.add(reservation)
    session.flush()


def adjust(
    *, session: Session, lot_id: int, quantity: int, reason: str, at: datetime, actor: str
) -> Balance:
    """Correct a lot's count after a stock take (a reason is required)."""
    if not reason.strip():
        raise StockError("an adjustment needs a reason", field="reason", reason_code="stock.reason")
    if quantity == 0:
        raise StockError("must not be zero", field="quantity", reason_code="stock.quantity")
    lot = _locked_lot(session, lot_id)
    before = balance_of(session=session, lot_id=lot_id)
    try:
        after = _move(
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


def stock(*, session: Session, item_code: str | None = None) -> list[LotStock]:
    lots = session.exec(
        select(StockLot)
        .where(sa.true() if item_code is None else StockLot.item_code == item_code)
        .order_by(col(StockLot.received_at), col(StockLot.id))
    ).all()
    return [LotStock(lot, balance_of(session=session, lot_id=lot.id or 0)) for lot in lots]


def chip_uid_of(lot: StockLot, taken: int) -> str:
    """The UID of the ``taken``-th card body taken from a chip lot (1 for the first)."""
    assert lot.first_uid is not None
    uid = int(lot.first_uid, 16) + taken - 1
    if lot.last_uid is not None and uid > int(lot.last_uid, 16):
        raise StockError(
            f"lot {lot.lot_number} has given out more card bodies than its UID range holds",
            field="lot",
            reason_code="stock.uid_range",
        )
    return f"{uid:0{len(lot.first_uid)}X}"


def spoil_card(
    *, session: Session, card_serial: str, reason: str, at: datetime, actor: str
) -> None:
    """The card body taken for ``card_serial`` was spoiled (found by its consumption)."""
    taken = session.exec(
        select(StockMovement).where(
            StockMovement.card_serial == card_serial,
            StockMovement.kind == MovementKind.CONSUMPTION,
        )
    ).first()
    if taken is None:
        raise StockError(
            f"card {card_serial} took no card body from stock",
            field="card",
            reason_code="stock.not_consumed",
        )
    spoil_chip(
        session=session,
        lot_id=taken.lot_id,
        card_serial=card_serial,
        reason=reason,
        at=at,
        actor=actor,
    )


class LedgerChipStock:
    """``line.devices.ChipStock`` over the ledger: what the controller uses. Before a batch
    starts, ``supplies_left`` says how many cards the ribbon and film can still print (the
    line starts no more); after it starts, ``use_supplies`` mounts the rolls its cards need."""

    def __init__(self, *, actor: str) -> None:
        self.actor = actor

    def supplies_left(self, *, session: Session) -> dict[str, int]:
        """Cards each tracked consumable can still print (mounted rolls, then those in
        store); its lots stay locked to the end of the transaction."""
        return {code: use.cards_left for code, use in supplies(session=session, lock=True).items()}

    def use_supplies(self, *, session: Session, at: datetime) -> dict[str, int]:
        return use_consumables(session=session, at=at, actor=self.actor)

    def reserve(
        self, *, session: Session, application_ids: Sequence[int], at: datetime
    ) -> set[int]:
        return set(
            reserve_chips(session=session, application_ids=application_ids, at=at, actor=self.actor)
        )

    def consume(
        self, *, session: Session, application_id: int, card_serial: str, at: datetime
    ) -> tuple[str, str]:
        lot = consume_chip(
            session=session,
            application_id=application_id,
            card_serial=card_serial,
            at=at,
            actor=self.actor,
        )
        after = balance_of(session=session, lot_id=lot.id or 0)
        return lot.lot_number, chip_uid_of(lot, after.consumed + after.spoiled)

    def spoil(self, *, session: Session, card_serial: str, reason: str, at: datetime) -> None:
        spoil_card(session=session, card_serial=card_serial, reason=reason, at=at, actor=self.actor)


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
            balance = _move(
                session, lot, balance, MovementKind.RESERVATION, take,
                actor=actor, at=at, reason=reason,
            )  # fmt: skip
            _move(
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
