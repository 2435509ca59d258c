"""A batch's chips consumed in one pass (``consume_chips``, ``LedgerChipStock.consume_all``)
book exactly what card-by-card consumption books: two databases of each kind, one history,
the batch taken each way, the ledgers compared row for row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from inventory.ledger import (
    Balance,
    LedgerChipStock,
    StockError,
    consume_chip,
    consume_chips,
    reserve_chips,
    spoil_card,
)
from inventory.ledger import stock as stock_of
from inventory.models import ChipReservation, StockMovement
from line.db import make_engine, session_scope
from schema import upgrade
from tests.conftest import _pg_engine
from tests.inventory.helpers import applications, at, receive_chips


@pytest.fixture
def twin(engine: Engine, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A second database of the same kind as ``engine``, with the schema."""
    if engine.dialect.name == "sqlite":
        other = make_engine(f"sqlite:///{tmp_path / 'twin.db'}")
        upgrade(other)
        yield other
        other.dispose()
        return
    made = _pg_engine(request.getfixturevalue("pg_admin"))
    other = next(made)
    upgrade(other)
    yield other
    next(made, None)


def history(engine: Engine) -> list[int]:
    """Two lots, eight applications holding a chip each (three from LOT-A, five from
    LOT-B), one card already taken from LOT-A and spoiled: returns the applications."""
    receive_chips(engine, "LOT-A", 4, "04A0000000000001", minute=0)
    receive_chips(engine, "LOT-B", 6, "04B0000000000001", minute=5)
    apps = applications(engine, 9)
    with session_scope(engine) as session:
        reserve_chips(session=session, application_ids=apps, at=at(10), actor="line")
    with session_scope(engine) as session:
        consume_chip(session=session, application_id=apps[0], card_serial="C-0", at=at(11),
                     actor="line")  # fmt: skip
    with session_scope(engine) as session:
        spoil_card(session=session, card_serial="C-0", reason="print.jam", at=at(12), actor="line")
    return apps[1:]


def ledger(engine: Engine) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """Every movement (each column, hashes included) and every reservation, in id order."""
    with session_scope(engine) as session:
        movements = [
            m.model_dump()
            for m in session.exec(select(StockMovement).order_by(col(StockMovement.id)))
        ]
        reservations = [
            (r.id, r.application_id, r.lot_id, r.state, r.card_serial)
            for r in session.exec(select(ChipReservation).order_by(col(ChipReservation.id)))
        ]
    return movements, reservations


def batch_order(apps: list[int]) -> list[tuple[int, str]]:
    """The batch's cards, lots interleaved (LOT-B's applications first and between)."""
    order = [apps[4], apps[0], apps[5], apps[1], apps[6], apps[7], apps[2], apps[3]]
    return [(app, f"C-{n + 1}") for n, app in enumerate(order)]


def test_a_batch_books_exactly_what_card_by_card_consumption_books(
    engine: Engine, twin: Engine
) -> None:
    stock = LedgerChipStock(actor="line")
    apps = history(engine)
    assert history(twin) == apps
    takes = batch_order(apps)
    with session_scope(engine) as session:
        batch = stock.consume_all(session=session, takes=takes, at=at(20))
    with session_scope(twin) as session:
        one_by_one = [
            stock.consume(session=session, application_id=app, card_serial=serial, at=at(20))
            for app, serial in takes
        ]
    assert batch == one_by_one
    # LOT-A's fifth card body (one spoiled before) and LOT-B's first come first.
    assert batch[:2] == [("LOT-B", "04B0000000000001"), ("LOT-A", "04A0000000000002")]
    movements, reservations = ledger(engine)
    assert (movements, reservations) == ledger(twin)
    assert [m["card_serial"] for m in movements[-8:]] == [serial for _, serial in takes]
    assert [r[3] for r in reservations] == ["consumed"] * 9
    with session_scope(engine) as session:
        assert [(s.lot.lot_number, s.balance) for s in stock_of(session=session)] == [
            ("LOT-A", Balance(on_hand=0, reserved=0, consumed=3, spoiled=1)),
            ("LOT-B", Balance(on_hand=1, reserved=0, consumed=5, spoiled=0)),
        ]


def refusal(engine: Engine, take: Callable[[Session], object]) -> tuple[str, str | None]:
    """The error ``take`` raises, and the database shows nothing of it afterwards."""
    before = ledger(engine)
    with pytest.raises(StockError) as caught, session_scope(engine) as session:
        take(session)
    assert ledger(engine) == before
    return str(caught.value), caught.value.reason_code


def test_a_batch_is_refused_as_card_by_card_for_an_application_without_a_reservation(
    engine: Engine, twin: Engine
) -> None:
    apps = history(engine)
    history(twin)
    unreserved = applications(engine, 1, first_seed=50)[0]
    assert applications(twin, 1, first_seed=50) == [unreserved]
    takes = [(apps[0], "C-1"), (unreserved, "C-2"), (apps[1], "C-3")]

    def batch(session: Session) -> object:
        return consume_chips(session=session, takes=takes, at=at(20), actor="line")

    def card_by_card(session: Session) -> object:
        for app, serial in takes:
            consume_chip(session=session, application_id=app, card_serial=serial, at=at(20),
                         actor="line")  # fmt: skip
        return None

    refused = refusal(engine, batch)
    assert refused == refusal(twin, card_by_card)
    assert refused == (
        f"application: application {unreserved} holds no chip reservation",
        "stock.not_reserved",
    )


def test_a_second_card_of_one_application_in_a_batch_finds_its_chip_taken(engine: Engine) -> None:
    apps = history(engine)
    takes = [(apps[0], "C-1"), (apps[0], "C-2")]
    refused = refusal(
        engine, lambda session: consume_chips(session=session, takes=takes, at=at(20), actor="l")
    )
    assert refused == (
        f"application: application {apps[0]} holds no chip reservation",
        "stock.not_reserved",
    )


def test_an_empty_batch_books_nothing(engine: Engine) -> None:
    history(engine)
    before = ledger(engine)
    with session_scope(engine) as session:
        assert LedgerChipStock(actor="line").consume_all(session=session, takes=[], at=at(20)) == []
    assert ledger(engine) == before
