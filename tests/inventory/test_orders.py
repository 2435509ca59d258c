"""Expected deliveries: purchase orders, delays, splits, fulfilment, and the projection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from inventory.cover import cover
from inventory.ledger import StockError, consume_chip, receive, reserve_chips
from inventory.orders import delay, expect, expected, split
from line.db import session_scope
from tests.inventory.helpers import applications, at, receive_chips

TODAY = date(2026, 11, 2)  # the centre's date at at(0)


def order(
    engine: Engine, number: str = "PO-1", quantity: int = 1000, on: date = date(2026, 11, 20)
) -> None:
    with session_scope(engine) as session:
        expect(
            session=session,
            number=number,
            item_code="chip",
            supplier="Chip Co",
            quantity=quantity,
            expected_on=on,
            at=at(0),
            today=TODAY,
        )


def test_orders_are_delayed_split_and_fulfilled(sqlite_engine: Engine) -> None:
    order(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        delay(
            session=session,
            number="PO-1",
            to=date(2026, 12, 11),
            reason="Covid-19: port closed",
            today=TODAY,
        )
        part = split(
            session=session,
            number="PO-1",
            quantity=300,
            expected_on=date(2026, 11, 27),
            at=at(1),
            today=TODAY,
        )
        assert (part.number, part.quantity) == ("PO-1/2", 300)
        assert [
            (o.number, o.quantity, o.expected_on)
            for o in expected(session=session, item_code="chip")
        ] == [
            ("PO-1/2", 300, date(2026, 11, 27)),
            ("PO-1", 700, date(2026, 12, 11)),
        ]
        lot = receive(
            session=session,
            item_code="chip",
            lot_number="L-1",
            supplier="Chip Co",
            quantity=300,
            first_uid="04A0000000000001",
            order="PO-1/2",
            at=at(2),
            actor="s",
        )
        assert lot.purchase_order_id == part.id
        assert [o.number for o in expected(session=session, item_code="chip")] == ["PO-1"]


@pytest.mark.parametrize(
    ("call", "field", "words"),
    [
        (
            lambda s: receive(
                session=s,
                item_code="chip",
                lot_number="L",
                supplier="X",
                quantity=5,
                first_uid="04A0000000000001",
                order="PO-404",
                at=at(1),
                actor="s",
            ),
            "order",
            "no purchase order 'PO-404'",
        ),
        (
            lambda s: delay(
                session=s, number="PO-1", to=date(2026, 11, 1), reason="x", today=TODAY
            ),
            "date",
            "is not after the expected",
        ),
        (
            lambda s: delay(
                session=s, number="PO-1", to=date(2026, 12, 1), reason=" ", today=TODAY
            ),
            "reason",
            "needs a reason",
        ),
        (
            lambda s: split(
                session=s,
                number="PO-1",
                quantity=1000,
                expected_on=date(2026, 12, 1),
                at=at(1),
                today=TODAY,
            ),
            "quantity",
            "between 1 and 999",
        ),
        (
            lambda s: expect(
                session=s,
                number="PO-1",
                item_code="chip",
                supplier="X",
                quantity=5,
                expected_on=date(2026, 12, 1),
                at=at(1),
                today=TODAY,
            ),
            "order",
            "exists already",
        ),
        (
            lambda s: expect(
                session=s,
                number="PO-2",
                item_code="chip",
                supplier="X",
                quantity=0,
                expected_on=date(2026, 12, 1),
                at=at(1),
                today=TODAY,
            ),
            "quantity",
            "positive",
        ),
    ],
)
def test_bad_order_input_is_refused_and_nothing_changes(
    sqlite_engine: Engine, call: object, field: str, words: str
) -> None:
    order(sqlite_engine)
    with pytest.raises(StockError) as caught, session_scope(sqlite_engine) as session:
        call(session)  # type: ignore[operator]
    assert caught.value.field == field and words in str(caught.value)
    with session_scope(sqlite_engine) as session:
        (only,) = expected(session=session, item_code="chip")
        assert (only.number, only.quantity, only.expected_on, only.status) == (
            "PO-1",
            1000,
            date(2026, 11, 20),
            "open",
        )


def test_projected_stockout_moves_with_the_expected_delivery(sqlite_engine: Engine) -> None:
    receive_chips(sqlite_engine, "LOT-A", 70, "04A0000000000001")
    apps = applications(sqlite_engine, 70)
    with session_scope(sqlite_engine) as session:
        reserve_chips(session=session, application_ids=apps[:35], at=at(1), actor="line")
        for n, app in enumerate(apps[:35]):
            consume_chip(
                session=session, application_id=app, card_serial=f"C{n}-1", at=at(2), actor="line"
            )
    # 35 used in the window of 7 days: 5 a day; 35 available; backlog of 100 to serve.
    now = at(60 * 24)  # 2026-11-03 06:00
    with session_scope(sqlite_engine) as session:
        (chip,) = cover(session=session, now=now, backlog=100)
        assert chip.projected_stockout == date(2026, 11, 10)  # days 0-6 served, day 7 is not
        assert chip.reorder_point == 105
    order(sqlite_engine, quantity=50, on=date(2026, 11, 8))
    with session_scope(sqlite_engine) as session:
        (chip,) = cover(session=session, now=now, backlog=100)
        assert chip.expected == 50 and chip.projected_stockout == date(2026, 11, 20)
        delay(
            session=session,
            number="PO-1",
            to=date(2026, 11, 24),
            reason="slips three weeks",
            today=TODAY,
        )
        (chip,) = cover(session=session, now=now, backlog=100)
        assert chip.projected_stockout == date(2026, 11, 10)


def _expect_on(on: date) -> Callable[[Session], object]:
    return lambda s: expect(
        session=s,
        number="PO-2",
        item_code="chip",
        supplier="X",
        quantity=5,
        expected_on=on,
        at=at(1),
        today=TODAY,
    )


def _delay_to(to: date) -> Callable[[Session], object]:
    return lambda s: delay(session=s, number="PO-1", to=to, reason="slips", today=TODAY)


def _split_on(on: date) -> Callable[[Session], object]:
    return lambda s: split(
        session=s,
        number="PO-1",
        quantity=10,
        expected_on=on,
        at=at(1),
        today=TODAY,
    )


WINDOW = [
    ("expect yesterday", _expect_on(date(2026, 11, 1)), "is in the past (today is 2026-11-02)"),
    ("expect a decade ahead", _expect_on(date(2036, 11, 20)), "more than 731 days"),
    ("expect 2 years and 2 days ahead", _expect_on(date(2028, 11, 4)), "more than 731 days"),
    ("delay to 20 years ahead", _delay_to(date(2046, 11, 20)), "more than 731 days"),
    ("split into the past", _split_on(date(2026, 10, 30)), "is in the past"),
    ("split a decade ahead", _split_on(date(2036, 1, 1)), "more than 731 days"),
]


@pytest.mark.parametrize(
    ("call", "words"), [(c, w) for _, c, w in WINDOW], ids=[n for n, _, _ in WINDOW]
)
def test_expected_delivery_dates_outside_the_window_are_refused(
    sqlite_engine: Engine, call: Callable[[Session], object], words: str
) -> None:
    order(sqlite_engine)
    with pytest.raises(StockError) as caught, session_scope(sqlite_engine) as session:
        call(session)
    assert (caught.value.field, caught.value.reason_code) == ("date", "stock.date")
    assert words in str(caught.value)
    with session_scope(sqlite_engine) as session:
        (only,) = expected(session=session, item_code="chip")
        assert (only.number, only.quantity, only.expected_on) == ("PO-1", 1000, date(2026, 11, 20))


def test_the_window_s_edges_are_taken(sqlite_engine: Engine) -> None:
    order(sqlite_engine, "PO-TODAY", on=TODAY)  # today itself
    order(sqlite_engine, "PO-FAR", on=date(2028, 11, 2))  # 731 days ahead
    with session_scope(sqlite_engine) as session:
        assert [o.number for o in expected(session=session, item_code="chip")] == [
            "PO-TODAY",
            "PO-FAR",
        ]
