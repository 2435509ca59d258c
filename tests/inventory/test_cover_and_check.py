"""Days of cover, shortage states and the reconciliation, from the ledger's own record."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from inventory.check import reconcile
from inventory.cover import cover
from inventory.ledger import consume_chip, reserve_chips, spoil_chip
from inventory.models import StockLot
from line.db import session_scope
from line.models import Card
from tests.inventory.helpers import applications, at, receive_chips


def states(engine: Engine, backlog: int) -> list[tuple[str, int, int, str]]:
    with session_scope(engine) as session:
        return [
            (c.state, c.available, c.reserved, c.reason)
            for c in cover(session=session, now=at(60 * 24), backlog=backlog)
        ]


def test_states_from_ok_to_out(sqlite_engine: Engine) -> None:
    receive_chips(sqlite_engine, "LOT-A", 30, "04A0000000000001")
    apps = applications(sqlite_engine, 30)
    assert states(sqlite_engine, backlog=10) == [("ok", 30, 0, "no consumption lately")]
    assert states(sqlite_engine, backlog=40)[0][:2] == ("short", 30)
    with session_scope(sqlite_engine) as session:
        reserve_chips(session=session, application_ids=apps[:21], at=at(1), actor="line")
        for n, app in enumerate(apps[:21]):
            consume_chip(
                session=session, application_id=app, card_serial=f"C{n}-1", at=at(2), actor="line"
            )
    # 21 taken in the last 7 days: 3 a day; 9 available -> 3 days of cover.
    state, available, _, reason = states(sqlite_engine, backlog=0)[0]
    assert (state, available) == ("low", 9) and reason.startswith("3.0 days of cover at 3 a day")
    with session_scope(sqlite_engine) as session:
        reserve_chips(session=session, application_ids=apps[21:], at=at(3), actor="line")
    assert states(sqlite_engine, backlog=5)[0][:3] == ("out", 0, 9)


def test_check_finds_nothing_wrong_in_a_consistent_ledger(sqlite_engine: Engine) -> None:
    receive_chips(sqlite_engine, "LOT-A", 5, "04A0000000000001")
    apps = applications(sqlite_engine, 2)
    with session_scope(sqlite_engine) as session:
        reserve_chips(session=session, application_ids=apps, at=at(1), actor="line")
        lot = consume_chip(
            session=session, application_id=apps[0], card_serial="C1-1", at=at(2), actor="line"
        )
        spoil_chip(
            session=session,
            lot_id=lot.id or 0,
            card_serial="C1-1",
            reason="qc.reject",
            at=at(3),
            actor="line",
        )
        assert reconcile(session=session) == []


def test_check_names_a_card_whose_chip_is_outside_its_lot_or_from_no_lot(
    sqlite_engine: Engine,
) -> None:
    receive_chips(sqlite_engine, "LOT-A", 5, "04A0000000000001")
    apps = applications(sqlite_engine, 2)
    with sqlite_engine.begin() as connection:
        for n, (uid, lot) in enumerate(
            [("04A0000000000002", "LOT-A"), ("04A0000000000099", "LOT-A")]
        ):
            connection.execute(
                sa.text(
                    "INSERT INTO card (serial, application_id, attempt, state, chip_uid, chip_lot, created_at, updated_at)"
                    " VALUES (:s, :a, 1, 'encoded', :u, :l, '2026-11-02 06:00:00', '2026-11-02 06:00:00')"
                ),
                {"s": f"C{n}-1", "a": apps[n], "u": uid, "l": lot},
            )
    with session_scope(sqlite_engine) as session:
        assert reconcile(session=session) == [
            "card C1-1: chip 04A0000000000099 is outside lot LOT-A's UIDs"
        ]
        card = session.exec(select(Card).where(Card.serial == "C0-1")).one()
        card.chip_lot = None
        session.add(card)
        session.flush()
        assert "card C0-1: its chip 04A0000000000002 comes from no known lot" in reconcile(
            session=session
        )
        assert session.exec(select(StockLot)).one().lot_number == "LOT-A"


def test_check_holds_each_card_to_its_own_lot_among_several(sqlite_engine: Engine) -> None:
    receive_chips(sqlite_engine, "LOT-A", 2, "04A0000000000001")
    receive_chips(sqlite_engine, "LOT-B", 2, "04B0000000000001", minute=1)
    apps = applications(sqlite_engine, 2)
    with sqlite_engine.begin() as connection:
        for n, (uid, lot) in enumerate(
            [("04A0000000000001", "LOT-A"), ("04B0000000000002", "LOT-B")]
        ):
            connection.execute(
                sa.text(
                    "INSERT INTO card (serial, application_id, attempt, state, chip_uid, chip_lot, created_at, updated_at)"
                    " VALUES (:s, :a, 1, 'encoded', :u, :l, '2026-11-02 06:00:00', '2026-11-02 06:00:00')"
                ),
                {"s": f"C{n}-1", "a": apps[n], "u": uid, "l": lot},
            )
    with session_scope(sqlite_engine) as session:
        assert reconcile(session=session) == []
