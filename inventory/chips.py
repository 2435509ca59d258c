"""A chip's way through the books: reserved for an application, consumed by its card body,
spoiled with the card or released back to its lot.

Lots are used first in, first out. Reservation locks the lots it draws from (``SELECT ...
FOR UPDATE`` on PostgreSQL; SQLite transactions are serialised by ``BEGIN IMMEDIATE``), so
workers racing for the same lot never reserve more than it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from inventory.books import CHIP, balance_of, locked_lot, record_movement
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
