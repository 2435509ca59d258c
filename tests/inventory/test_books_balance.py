"""The books balance: every card state change that affects stock books it, on one path, and
``reconcile`` holds the cards of each chip lot against the ledger, on SQLite and PostgreSQL.

The line runs with the real ledger (``LedgerChipStock``) and scripted devices; the encoder
writes the chip the ledger issued to each card body, as the virtual card bodies do.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from inventory.ledger import (
    LedgerChipStock,
    consume_chip,
    reserve_chips,
    spoil_card,
)
from inventory.models import MovementKind, StockMovement
from line.db import session_scope
from line.dispatch import deliver, dispatch, ready_for_dispatch, return_card
from line.errors import IllegalTransition, UnknownReason
from line.models import Application, Card, StageEvent
from line.reasons import RETURN_REASONS
from line.routing import Action
from line.types import ApplicationState, CardState
from tests.conftest import StepClock
from tests.inventory.helpers import applications, at, books, line, problems, receive_chips
from tests.line.helpers import ScriptedPrinter


def delivered(engine: Engine, clock: StepClock, count: int) -> list[str]:
    """``count`` applications through the line, dispatched and delivered: their serials."""
    receive_chips(engine, "L1", 10, "04A0000000000001")
    applications(engine, count)
    summary = line(engine, clock).run()
    assert summary.passed == count
    with session_scope(engine) as session:
        for destination, cards in ready_for_dispatch(session=session).items():
            batch = dispatch(
                session=session, destination=destination, cards=cards,
                code=f"D{destination}", actor="d", at=at(60), rework_limit=2,
            )  # fmt: skip
            deliver(session=session, code=batch.code, actor="station", at=at(120))
        return sorted(c.serial for c in session.exec(select(Card)))


def test_a_returned_delivered_card_books_its_chip_as_spoiled_and_the_books_balance(
    engine: Engine, clock: StepClock
) -> None:
    serials = delivered(engine, clock, 3)
    assert books(engine) == (3, 0, 7) and problems(engine) == []
    with session_scope(engine) as session:
        action = return_card(
            session=session, serial=serials[0], reason="delivery.damaged", actor="station",
            at=at(200), rework_limit=2, stock=LedgerChipStock(actor="cli"),
        )  # fmt: skip
        assert action is Action.REWORK
        movement = session.exec(
            select(StockMovement).where(
                StockMovement.card_serial == serials[0],
                StockMovement.kind == MovementKind.SPOILAGE,
            )
        ).one()
        assert (movement.reason, movement.actor, movement.quantity) == (
            "delivery.damaged",
            "cli",
            1,
        )
        card = session.exec(select(Card).where(Card.serial == serials[0])).one()
        assert (card.state, card.spoiled_at_stage, card.spoil_reason) == (
            CardState.SPOILED,
            "delivery",
            "delivery.damaged",
        )
        application = session.get(Application, card.application_id)
        assert application is not None and application.state is ApplicationState.APPROVED
    assert books(engine) == (2, 1, 7)
    assert problems(engine) == []
    # The line makes the application a new card, on a new chip of the lot.
    again = line(engine, clock).run()
    assert (again.started, again.passed) == (1, 1)
    assert books(engine) == (3, 1, 6)
    assert problems(engine) == []


def test_a_card_spoiled_without_its_spoilage_booked_is_named_by_check(
    engine: Engine, clock: StepClock
) -> None:
    serials = delivered(engine, clock, 3)
    # What `card return` did before: the card spoiled, the ledger told nothing.
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE card SET state = 'spoiled', spoil_reason = 'delivery.damaged'"
                " WHERE serial = :s"
            ),
            {"s": serials[1]},
        )
    assert problems(engine) == [
        "lot L1: the ledger books 3 chips consumed by good cards, but 2 good cards come from "
        "it (2 finished, 0 on the line)",
        "lot L1: the ledger books 0 chips spoiled, but 1 spoiled cards come from it",
        f"card {serials[1]} is spoiled (delivery.damaged), but the ledger books 0 spoilage of "
        "its chip",
    ]


def test_spoiling_a_card_whose_chip_came_from_stock_needs_the_stock_and_changes_nothing(
    engine: Engine, clock: StepClock
) -> None:
    serials = delivered(engine, clock, 1)
    with session_scope(engine) as session:
        events = len(session.exec(select(StageEvent)).all())
        with pytest.raises(ValueError, match="needs the chip stock"):
            return_card(
                session=session, serial=serials[0], reason="delivery.refused", actor="station",
                at=at(200), rework_limit=2,
            )  # fmt: skip
        card = session.exec(select(Card).where(Card.serial == serials[0])).one()
        assert card.state is CardState.DELIVERED
        assert len(session.exec(select(StageEvent)).all()) == events
    assert books(engine) == (1, 0, 9) and problems(engine) == []


def test_an_unknown_return_reason_is_refused_with_the_list_and_nothing_is_written(
    engine: Engine, clock: StepClock
) -> None:
    serials = delivered(engine, clock, 1)
    with session_scope(engine) as session:
        with pytest.raises(UnknownReason) as caught:
            return_card(
                session=session, serial=serials[0], reason="foo", actor="station", at=at(200),
                rework_limit=2, stock=LedgerChipStock(actor="cli"),
            )  # fmt: skip
        assert caught.value.field == "reason" and caught.value.allowed == RETURN_REASONS
        assert str(caught.value) == (
            "reason: unknown return reason 'foo' (allowed at delivery: "
            + ", ".join(RETURN_REASONS)
            + ")"
        )
        # A code of the catalogue that is not a return reason is refused too.
        with pytest.raises(UnknownReason, match="print.jam is a reason code of print"):
            return_card(
                session=session, serial=serials[0], reason="print.jam", actor="station",
                at=at(200), rework_limit=2, stock=LedgerChipStock(actor="cli"),
            )  # fmt: skip
        card = session.exec(select(Card).where(Card.serial == serials[0])).one()
        assert card.state is CardState.DELIVERED
    assert books(engine) == (1, 0, 9) and problems(engine) == []


def test_only_a_dispatched_or_delivered_card_can_come_back(
    engine: Engine, clock: StepClock
) -> None:
    receive_chips(engine, "L1", 10, "04A0000000000001")
    applications(engine, 1)
    line(engine, clock).run()
    with session_scope(engine) as session:
        card = session.exec(select(Card)).one()
        assert card.state is CardState.QC_PASSED
        with pytest.raises(IllegalTransition, match="qc_passed -> returned"):
            return_card(
                session=session, serial=card.serial, reason="delivery.damaged", actor="station",
                at=at(200), rework_limit=2, stock=LedgerChipStock(actor="cli"),
            )  # fmt: skip


def test_cards_spoiled_on_the_line_book_their_chips_through_the_stage_operation(
    engine: Engine, clock: StepClock
) -> None:
    receive_chips(engine, "L1", 10, "04A0000000000001")
    applications(engine, 3)
    jam, defective = "C0000000001-1", "C0000000002-1"
    summary = line(engine, clock, printer=ScriptedPrinter(jam={jam}), defective={defective}).run()
    assert (summary.started, summary.passed) == (5, 3)
    with session_scope(engine) as session:
        spoiled = {
            m.card_serial: m.reason
            for m in session.exec(
                select(StockMovement).where(StockMovement.kind == MovementKind.SPOILAGE)
            )
        }
    assert spoiled == {jam: "print.jam", defective: "encode.memory_failure"}
    assert books(engine) == (3, 2, 5)
    assert problems(engine) == []


def test_check_counts_cards_on_the_line_as_good_and_names_one_booked_as_spoiled(
    engine: Engine, clock: StepClock
) -> None:
    receive_chips(engine, "L1", 10, "04A0000000000001")
    applications(engine, 2)
    # The printer stays offline: both cards stay at print, their chips taken.
    line(engine, clock, printer=ScriptedPrinter(offline=100)).run()
    assert books(engine) == (2, 0, 8) and problems(engine) == []
    with session_scope(engine) as session:
        spoil_card(session=session, card_serial="C0000000001-1", reason="x", at=at(9), actor="t")
    assert problems(engine) == [
        "lot L1: the ledger books 1 chips consumed by good cards, but 2 good cards come from "
        "it (0 finished, 2 on the line)",
        "lot L1: the ledger books 1 chips spoiled, but 0 spoiled cards come from it",
        "card C0000000001-1 is printing, but the ledger books its chip as spoiled",
    ]


def test_check_names_a_body_taken_for_no_card_in_its_own_lot_among_several(
    engine: Engine, clock: StepClock
) -> None:
    receive_chips(engine, "L1", 2, "04A0000000000001")
    receive_chips(engine, "L2", 5, "04B0000000000001", minute=1)
    applications(engine, 3)
    assert line(engine, clock).run().passed == 3  # 2 from L1, 1 from L2
    assert problems(engine) == []
    ghost = applications(engine, 1, first_seed=50)[0]
    with session_scope(engine) as session:
        reserve_chips(session=session, application_ids=[ghost], at=at(5), actor="t")
        consume_chip(
            session=session, application_id=ghost, card_serial="C-ghost", at=at(5), actor="t"
        )
    assert problems(engine) == [
        "lot L2: the ledger books 2 chips consumed by good cards, but 1 good cards come from "
        "it (1 finished, 0 on the line)",
        "lot L2: the ledger books a card body taken for C-ghost, which no card of that lot records",
    ]


def test_a_card_returned_before_its_delivery_is_confirmed_books_its_chip_too(
    engine: Engine, clock: StepClock
) -> None:
    receive_chips(engine, "L1", 10, "04A0000000000001")
    applications(engine, 2)
    line(engine, clock).run()
    with session_scope(engine) as session:
        for destination, cards in ready_for_dispatch(session=session).items():
            dispatch(
                session=session, destination=destination, cards=cards,
                code=f"D{destination}", actor="d", at=at(60), rework_limit=0,
            )  # fmt: skip
        card = session.exec(select(Card).order_by(Card.id)).first()
        assert card is not None and card.state is CardState.DISPATCHED
        action = return_card(
            session=session, serial=card.serial, reason="delivery.lost", actor="station",
            at=at(90), rework_limit=0, stock=LedgerChipStock(actor="cli"),
        )  # fmt: skip
        assert action is Action.HOLD  # rework limit 0: a manager decides
        application = session.get(Application, card.application_id)
        assert application is not None and application.state is ApplicationState.HELD
    assert books(engine) == (1, 1, 8)
    assert problems(engine) == []
