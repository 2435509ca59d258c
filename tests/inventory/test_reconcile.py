"""Per-step reconciliation on SQLite and PostgreSQL: a real line run over three days
(scripted devices on the real ledger; spoils, rework, dispatch, delivery, returns) reconciles
every process on every day and every chip lot, with figures equal to counts made
independently from the card table and the ledger; a day whose events are broken (written
straight into the database) fails its invariant, naming the process, the day and the card."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from inventory.ledger import balance_of
from inventory.models import StockLot
from inventory.reconcile import reconcile_lots
from line.db import session_scope
from line.models import Card, DispatchBatch
from line.reconcile import ProcessDay, breaks, history_breaks, reconcile_days
from line.today import day_bounds
from line.types import CardState, EventKind, Outcome, Stage
from tests.inventory.helpers import receive_chips
from tests.inventory.reconcile_run import (
    DAYS,
    THROUGH_QC,
    ZONE,
    add_card,
    add_events,
    broken_day,
    line_run,
)

CLOSING_STATE = {
    Stage.PRINT: CardState.PRINTING,
    Stage.ENCODE: CardState.PRINTED,
    Stage.QC: CardState.ENCODED,
    Stage.DISPATCH: CardState.QC_PASSED,
    Stage.DELIVERY: CardState.DISPATCHED,
}


def rows_of(engine: Engine) -> list[ProcessDay]:
    with session_scope(engine) as session:
        return reconcile_days(session=session, first=DAYS[0], last=DAYS[-1], zone=ZONE)


def test_a_line_run_reconciles_every_day_and_lot_and_agrees_with_the_cards(
    engine: Engine,
) -> None:
    run = line_run(engine)
    rows = rows_of(engine)
    assert len(rows) == 15 and breaks(rows) == []
    assert all(row.reconciles and row.samples == 0 for row in rows)
    by = {(row.process, row.day): row for row in rows}
    with session_scope(engine) as session:
        cards = session.exec(select(Card)).all()
        for day in DAYS:  # print receives the card bodies taken that day
            start, end = day_bounds(day, ZONE)
            made = sum(1 for c in cards if start <= c.created_at < end)
            assert by[Stage.PRINT, day].received == made
        for process, state in CLOSING_STATE.items():  # the last day's closing WIP: the cards
            assert by[process, DAYS[-1]].closing_wip == sum(1 for c in cards if c.state is state)
        spoiled = Counter(
            (c.spoiled_at_stage, c.spoil_reason) for c in cards if c.state is CardState.SPOILED
        )
        reported: Counter[tuple[str | None, str | None]] = Counter()
        for row in rows:
            for reason, n in {**row.spoiled_by_reason, **row.returned_by_reason}.items():
                reported[row.process.value, reason] += n
        assert reported == spoiled
        assert ("delivery", "delivery.damaged") in spoiled and ("print", "print.jam") in spoiled
        delivered_batches = session.exec(
            select(DispatchBatch.id).where(col(DispatchBatch.delivered_at).is_not(None))
        ).all()
        confirmed = sum(1 for c in cards if c.dispatch_batch_id in delivered_batches)
        assert sum(by[Stage.DELIVERY, day].good for day in DAYS) == confirmed == 6
        handed = sum(1 for c in cards if c.dispatch_batch_id is not None)
        assert sum(by[Stage.DISPATCH, day].good for day in DAYS) == handed
        lots = reconcile_lots(session=session, until=day_bounds(DAYS[-1], ZONE)[1])
        (lot,) = lots
        lot_row = session.exec(select(StockLot)).one()
        balance = balance_of(session=session, lot_id=lot_row.id or 0)
        of_lot = [c for c in cards if c.chip_lot == "L1"]
        assert lot.reconciles and lot.break_line() == ""
        assert (lot.received, lot.on_hand) == (lot_row.quantity, balance.on_hand)
        assert lot.spoiled == sum(1 for c in of_lot if c.state is CardState.SPOILED)
        on_line = {CardState.PRINTING, CardState.PRINTED, CardState.ENCODED}
        assert lot.in_process == sum(1 for c in of_lot if c.state in on_line) == 4
        assert lot.good == len(of_lot) - lot.spoiled - lot.in_process
    last = by[Stage.DELIVERY, DAYS[-1]]
    assert (last.returned, last.returned_after_delivery) == (1, 1)
    assert last.returned_by_reason == {"delivery.damaged": 1, "delivery.refused": 1}
    assert by[Stage.DISPATCH, DAYS[1]].opening_wip == 6, "day 1's passed cards carried over"
    assert by[Stage.PRINT, DAYS[-1]].closing_wip == len(run.stuck) + 2


def test_the_reconciliation_reads_no_personal_data(engine: Engine) -> None:
    """A purge blanks the applicants' data: the figures stay the same."""
    line_run(engine)
    before = rows_of(engine)
    with session_scope(engine) as session:
        session.connection().execute(
            sa.text("UPDATE application SET full_name = '', place_of_residence = '', "
                    "place_of_origin = '', photo_path = '', purged_at = :at"),
            {"at": datetime(2026, 12, 1, tzinfo=UTC)},
        )  # fmt: skip
    assert rows_of(engine) == before


def test_a_card_whose_outcome_event_is_missing_breaks_the_day_naming_it(engine: Engine) -> None:
    serial = broken_day(engine)  # its chip-encode outcome is missing
    rows = {(r.process, r.day): r for r in rows_of(engine)}
    encode, qc = rows[Stage.ENCODE, DAYS[0]], rows[Stage.QC, DAYS[0]]
    assert not encode.reconciles and encode.unaccounted == (serial,)
    assert (encode.received, encode.good, encode.closing_wip) == (2, 1, 0)
    assert not qc.reconciles and qc.unexpected == (serial,)
    assert rows[Stage.PRINT, DAYS[0]].reconciles and rows[Stage.DISPATCH, DAYS[0]].reconciles
    assert all(r.reconciles for (_, day), r in rows.items() if day != DAYS[0])
    with session_scope(engine) as session:
        found = history_breaks(session=session, zone=ZONE)
    assert found == [encode.break_line(), qc.break_line()]
    assert found[0] == (
        "chip-encode on 2026-11-02 does not reconcile: opening 0 + received 2 = 2, but good 1 "
        f"+ spoiled 0 + samples 0 + returned 0 + closing 0 = 1; unaccounted: {serial}"
    )


def test_a_spoiled_card_the_ledger_does_not_book_breaks_its_lot(engine: Engine) -> None:
    receive_chips(engine, "L9", 5, "04B0000000000001")
    with session_scope(engine) as session:
        card = add_card(session, 3, lot="L9")
        add_events(session, card, [THROUGH_QC[0], (Stage.PRINT, EventKind.OUTCOME, Outcome.FAIL)])
        (lot,) = reconcile_lots(session=session, until=day_bounds(DAYS[0], ZONE)[1])
    assert not lot.reconciles
    assert (lot.received, lot.on_hand, lot.spoiled, lot.ledger_spoiled) == (5, 5, 1, 0)
    assert lot.break_line().startswith(
        "lot L9 does not reconcile: received 5+0 but on hand 5 + good 0 + in process 0 + "
        "spoiled 1 = 6"
    )
    assert f"card {card.serial} is spoiled by its events but the ledger" in lot.break_line()
