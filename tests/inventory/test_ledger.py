"""The stock ledger on SQLite and PostgreSQL: receipts, reservations, consumption, spoilage."""

from __future__ import annotations

import multiprocessing
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from inventory.ledger import (
    CHIP,
    Balance,
    StockError,
    adjust,
    balance_of,
    consume_chip,
    receive,
    release_chip,
    reserve_chips,
    spoil_chip,
    stock,
)
from inventory.models import MovementKind, StockLot, StockMovement
from line.db import make_engine, session_scope
from schema import upgrade
from tests.conftest import PG_URL
from tests.inventory.helpers import applications, at, receive_chips


def test_reservations_come_from_the_oldest_lot_first_and_stop_when_stock_runs_out(
    engine: Engine,
) -> None:
    receive_chips(engine, "LOT-A", 2, "04A0000000000001", minute=0)
    receive_chips(engine, "LOT-B", 1, "04B0000000000001", minute=5)
    apps = applications(engine, 4)
    with session_scope(engine) as session:
        got = reserve_chips(session=session, application_ids=apps, at=at(10), actor="line")
        assert [(app, lot.lot_number) for app, lot in got.items()] == [
            (apps[0], "LOT-A"),
            (apps[1], "LOT-A"),
            (apps[2], "LOT-B"),
        ]
    with session_scope(engine) as session:
        assert [(s.lot.lot_number, s.balance) for s in stock(session=session)] == [
            ("LOT-A", Balance(on_hand=2, reserved=2)),
            ("LOT-B", Balance(on_hand=1, reserved=1)),
        ]
        # Asking again changes nothing for those who hold a chip, and finds none for the last.
        again = reserve_chips(session=session, application_ids=apps, at=at(11), actor="line")
        assert sorted(again) == sorted(apps[:3])


def test_a_chip_is_reserved_then_consumed_then_spoiled_or_released(engine: Engine) -> None:
    receive_chips(engine, "LOT-A", 3, "04A0000000000001")
    apps = applications(engine, 3)
    with session_scope(engine) as session:
        reserve_chips(session=session, application_ids=apps, at=at(1), actor="line")
        lot = consume_chip(
            session=session, application_id=apps[0], card_serial="C1-1", at=at(2), actor="line"
        )
        consume_chip(
            session=session, application_id=apps[1], card_serial="C2-1", at=at(2), actor="line"
        )
        spoil_chip(
            session=session,
            lot_id=lot.id or 0,
            card_serial="C2-1",
            reason="qc.reject",
            at=at(3),
            actor="line",
        )
        release_chip(
            session=session,
            application_id=apps[2],
            reason="manager.cancel",
            at=at(4),
            actor="manager",
        )
    with session_scope(engine) as session:
        movements = session.exec(select(StockMovement).order_by(StockMovement.id)).all()
        assert [
            (
                m.kind.value,
                m.card_serial,
                m.on_hand_after,
                m.reserved_after,
                m.consumed_after,
                m.spoiled_after,
            )
            for m in movements
        ] == [
            ("receipt", None, 3, 0, 0, 0),
            ("reservation", None, 3, 1, 0, 0),
            ("reservation", None, 3, 2, 0, 0),
            ("reservation", None, 3, 3, 0, 0),
            ("consumption", "C1-1", 2, 2, 1, 0),
            ("consumption", "C2-1", 1, 1, 2, 0),
            ("spoilage", "C2-1", 1, 1, 1, 1),
            ("release", None, 1, 0, 1, 1),
        ]
        final = balance_of(session=session, lot_id=lot.id or 0)
        # received = available + reserved + consumed good + spoiled
        assert final.available + final.reserved + final.consumed + final.spoiled == 3
        with pytest.raises(StockError, match="holds no chip reservation"):
            consume_chip(
                session=session, application_id=apps[2], card_serial="C3-1", at=at(5), actor="line"
            )


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"quantity": 0}, "quantity", "positive whole number"),
        ({"quantity": -5}, "quantity", "positive whole number"),
        ({"item_code": "toner"}, "item", "unknown item 'toner'"),
        ({"lot_number": "LOT-A"}, "lot", "LOT-A was received already"),
        ({"first_uid": "04A0000000000005"}, "first-uid", "overlaps lot LOT-A"),
        ({"first_uid": "xyz"}, "first-uid", "not a hex UID"),
        ({"first_uid": None}, "first-uid", "is required for chips"),
        ({"supplier": "  "}, "supplier", "is required"),
        ({"first_uid": "FFFFFFFFFFFFFFFF", "quantity": 2}, "first-uid", "overflow"),
    ],
)
def test_bad_receipts_are_refused_and_nothing_is_written(
    engine: Engine, changes: dict[str, object], field: str, words: str
) -> None:
    receive_chips(engine, "LOT-A", 10, "04A0000000000001")
    values: dict[str, object] = {
        "item_code": CHIP,
        "lot_number": "LOT-NEW",
        "supplier": "Chip Co",
        "quantity": 5,
        "first_uid": "04C0000000000001",
    }
    values.update(changes)
    with pytest.raises(StockError) as caught, session_scope(engine) as session:
        receive(session=session, at=at(1), actor="storekeeper", **values)  # type: ignore[arg-type]
    assert caught.value.field == field and words in str(caught.value)
    assert str(caught.value).startswith(f"{field}: ")
    with session_scope(engine) as session:
        assert [lot.lot_number for lot in session.exec(select(StockLot))] == ["LOT-A"]
        assert len(session.exec(select(StockMovement)).all()) == 1


def test_adjustments_need_a_reason_and_cannot_go_below_zero(engine: Engine) -> None:
    receive_chips(engine, "LOT-A", 10, "04A0000000000001")
    with session_scope(engine) as session:
        lot_id = session.exec(select(StockLot.id)).one() or 0
        with pytest.raises(StockError, match="needs a reason"):
            adjust(
                session=session,
                lot_id=lot_id,
                quantity=-1,
                reason=" ",
                at=at(1),
                actor="storekeeper",
            )
        with pytest.raises(StockError, match="would leave -1 available"):
            adjust(
                session=session,
                lot_id=lot_id,
                quantity=-11,
                reason="count",
                at=at(1),
                actor="storekeeper",
            )
        after = adjust(
            session=session,
            lot_id=lot_id,
            quantity=-2,
            reason="2 bodies cracked in the box",
            at=at(1),
            actor="storekeeper",
        )
        assert after == Balance(on_hand=8)


def test_the_ledger_is_append_only(engine: Engine) -> None:
    receive_chips(engine, "LOT-A", 10, "04A0000000000001")
    for statement in ("UPDATE stock_movement SET quantity = 99", "DELETE FROM stock_movement"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as connection:
            connection.execute(sa.text(statement))


def _race(schema: str, application_ids: list[int], results: multiprocessing.Queue[int]) -> None:
    engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    got = 0
    for start in range(0, len(application_ids), 25):
        with session_scope(engine) as session:
            got += len(
                reserve_chips(
                    session=session,
                    application_ids=application_ids[start : start + 25],
                    at=at(1),
                    actor="worker",
                )
            )
    results.put(got)
    engine.dispose()


@pytest.mark.postgres
def test_four_workers_racing_for_a_lot_of_1000_reserve_exactly_1000(pg_admin: Engine) -> None:
    """Four processes on PostgreSQL, 400 applications each, one lot of 1,000 chips."""
    schema = f"cardline_race_{uuid.uuid4().hex[:10]}"
    with pg_admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        upgrade(engine)
        receive_chips(engine, "LOT-RACE", 1000, "04E0000000000001")
        apps = applications(engine, 1600)
        context = multiprocessing.get_context("spawn")
        results: multiprocessing.Queue[int] = context.Queue()
        workers = [
            context.Process(target=_race, args=(schema, apps[n::4], results)) for n in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
            assert worker.exitcode == 0
        reserved = sum(results.get(timeout=5) for _ in workers)
        assert reserved == 1000
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT count(*), count(DISTINCT application_id) FROM chip_reservation")
            ).one()
            assert tuple(rows) == (1000, 1000)
            last = connection.execute(
                sa.text(
                    "SELECT on_hand_after, reserved_after FROM stock_movement ORDER BY id DESC LIMIT 1"
                )
            ).one()
            assert tuple(last) == (1000, 1000)
            kinds = connection.execute(
                sa.text("SELECT kind, count(*) FROM stock_movement GROUP BY kind ORDER BY kind")
            ).all()
            assert [tuple(k) for k in kinds] == [
                (MovementKind.RECEIPT.value, 1),
                (MovementKind.RESERVATION.value, 1000),
            ]
    finally:
        engine.dispose()
        with pg_admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_ribbon_rolls_are_mounted_as_the_cards_they_print_start(sqlite_engine: Engine) -> None:
    from inventory.ledger import register_consumables, use_consumables
    from line.spec import ConsumableSpec

    receive_chips(sqlite_engine, "LOT-A", 10, "04A0000000000001")
    apps = applications(sqlite_engine, 7)
    with session_scope(sqlite_engine) as session:
        register_consumables(
            session=session,
            consumables={"ribbon": ConsumableSpec(name="ribbon", unit="roll", cards_per_unit=2)},
        )
        receive(
            session=session,
            item_code="ribbon",
            lot_number="R-1",
            supplier="Supplies Co",
            quantity=3,
            at=at(0),
            actor="s",
        )
        reserve_chips(session=session, application_ids=apps, at=at(1), actor="line")
        mounted = []
        for n, app in enumerate(apps, start=1):
            consume_chip(
                session=session, application_id=app, card_serial=f"C{n}-1", at=at(2), actor="line"
            )
            missing = use_consumables(session=session, at=at(2), actor="line")
            ribbon = stock(session=session, item_code="ribbon")[0].balance
            mounted.append((n, 3 - ribbon.on_hand, missing))
    # A roll prints 2 cards: cards 1, 3, 5 each start a new roll; card 7 finds none left.
    assert mounted == [
        (1, 1, {}), (2, 1, {}), (3, 2, {}), (4, 2, {}), (5, 3, {}), (6, 3, {}), (7, 3, {"ribbon": 1}),
    ]  # fmt: skip
