"""A chip's way through the books: reserved for an application, consumed by its card body,
spoiled with the card or released back to its lot.

Lots are used first in, first out. Reservation locks the lots it draws from (``SELECT ...
FOR UPDATE`` on PostgreSQL; SQLite transactions are serialised by ``BEGIN IMMEDIATE``), so
workers racing for the same lot never reserve more than it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from inventory.books import CHIP, Balance, balance_of, locked_lot, record_movement
from inventory.errors import StockError
from inventory.models import ChipReservation, MovementKind, StockLot, StockMovement


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
        balances[lot.id] = record_movement(
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
    """The application's open reservation; refused if it holds none."""
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


def consume_chip(
    *, session: Session, application_id: int, card_serial: str, at: datetime, actor: str
) -> StockLot:
    """The reserved chip's card body is taken for ``card_serial`` (printing starts)."""
    reservation = _open_reservation(session, application_id)
    lot = locked_lot(session, reservation.lot_id)
    record_movement(
        session, lot, balance_of(session=session, lot_id=reservation.lot_id),
        MovementKind.CONSUMPTION, 1, actor=actor, at=at,
        application_id=application_id, card_serial=card_serial,
    )  # fmt: skip
    reservation.state = "consumed"
    reservation.card_serial = card_serial
    session.add(reservation)
    session.flush()
    return lot


def _open_reservations(
    session: Session, application_ids: Sequence[int]
) -> dict[int, ChipReservation]:
    """Each application's open reservation (the first by id, as ``_open_reservation``
    finds), in one read; applications holding none are left out."""
    found: dict[int, ChipReservation] = {}
    for reservation in session.exec(
        select(ChipReservation)
        .where(
            col(ChipReservation.application_id).in_(set(application_ids)),
            ChipReservation.state == "reserved",
        )
        .order_by(col(ChipReservation.id))
    ):
        found.setdefault(reservation.application_id, reservation)
    return found


def _lots_with_balances(
    session: Session, lot_ids: set[int]
) -> tuple[dict[int, StockLot], dict[int, Balance]]:
    """The lots, locked in id order for the rest of the transaction (PostgreSQL), and each
    one's balance from its last movement: two reads for all of them."""
    lots = {
        lot.id or 0: lot
        for lot in session.exec(
            select(StockLot)
            .where(col(StockLot.id).in_(lot_ids))
            .order_by(col(StockLot.id))
            .with_for_update()
        )
    }
    last_ids = (
        select(sa.func.max(StockMovement.id))
        .where(col(StockMovement.lot_id).in_(lot_ids))
        .group_by(col(StockMovement.lot_id))
    )
    balances = dict.fromkeys(lot_ids, Balance())
    for last in session.exec(select(StockMovement).where(col(StockMovement.id).in_(last_ids))):
        balances[last.lot_id] = Balance(
            last.on_hand_after, last.reserved_after, last.consumed_after, last.spoiled_after
        )
    return lots, balances


def consume_chips(
    *, session: Session, takes: Sequence[tuple[int, str]], at: datetime, actor: str
) -> list[tuple[StockLot, Balance]]:
    """``consume_chip`` for each (application id, card serial) of a batch, in order, in one
    pass: one read of the reservations, one of the lots (locked) and their balances, the
    movements added in order (each lot's balance carried from one to the next) and one
    flush. Books row for row what ``consume_chip`` card by card books; refused the same
    way (the first application in order holding no open reservation). Returns each card's
    lot and that lot's balance just after its movement."""
    open_ = _open_reservations(session, [application_id for application_id, _ in takes])
    taken: set[int] = set()
    for application_id, _ in takes:  # a second card of one application finds none open
        if application_id in taken or application_id not in open_:
            raise StockError(
                f"application {application_id} holds no chip reservation",
                field="application",
                reason_code="stock.not_reserved",
            )
        taken.add(application_id)
    if not takes:
        return []
    lots, balances = _lots_with_balances(session, {r.lot_id for r in open_.values()})
    result: list[tuple[StockLot, Balance]] = []
    for application_id, card_serial in takes:
        reservation = open_[application_id]
        lot = lots[reservation.lot_id]
        balances[reservation.lot_id] = record_movement(
            session, lot, balances[reservation.lot_id], MovementKind.CONSUMPTION, 1,
            actor=actor, at=at, application_id=application_id, card_serial=card_serial,
        )  # fmt: skip
        reservation.state = "consumed"
        reservation.card_serial = card_serial
        session.add(reservation)
        result.append((lot, balances[reservation.lot_id]))
    session.flush()
    return result


def spoil_chip(
    *, session: Session, lot_id: int, card_serial: str, reason: str, at: datetime, actor: str
) -> None:
    """A card taken from ``lot_id`` was spoiled: its chip is lost."""
    lot = locked_lot(session, lot_id)
    record_movement(
        session, lot, balance_of(session=session, lot_id=lot_id), MovementKind.SPOILAGE, 1,
        actor=actor, at=at, card_serial=card_serial, reason=reason,
    )  # fmt: skip
    session.flush()


def release_chip(
    *, session: Session, application_id: int, reason: str, at: datetime, actor: str
) -> None:
    """Give an application's reserved chip back to the lot (cancelled, held...)."""
    reservation = _open_reservation(session, application_id)
    lot = locked_lot(session, reservation.lot_id)
    record_movement(
        session, lot, balance_of(session=session, lot_id=lot.id or 0), MovementKind.RELEASE, 1,
        actor=actor, at=at, application_id=application_id, reason=reason,
    )  # fmt: skip
    reservation.state = "released"
    session.add(reservation)
    session.flush()


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
