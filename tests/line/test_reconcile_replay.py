"""Properties of the reconciliation's pure core (``line.reconcile.replay``), over random card
lives: any record the stage operations can write reconciles on every day, with the last
day's closing WIP equal to where the cards' lives stopped; and a record with one event of a
card's life missing breaks a day, naming that card. (The database path is tested on SQLite
and PostgreSQL in tests/inventory/test_reconcile.py.)"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from line.reconcile import PROCESSES, CardEvent, days_between, replay
from line.types import EventKind, Outcome, Stage

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 11, 1, 10, tzinfo=UTC)
FAIL_REASON = {
    Stage.PRINT: "print.jam",
    Stage.ENCODE: "encode.memory_failure",
    Stage.QC: "qc.reject",
    Stage.DISPATCH: "dispatch.damaged",
    Stage.DELIVERY: "delivery.damaged",
}

# A card's life: how far it got (0 = started only, 5 = delivered), how it ended there
# (still in the process, failed, or, once delivered, returned), and the gaps between events.
lives = st.tuples(
    st.integers(0, 5),
    st.sampled_from(["wip", "fail", "returned"]),
    st.lists(st.integers(0, 1_500), min_size=7, max_size=7),
    st.integers(0, 3 * 24 * 60),
)


def life_events(
    card: int, life: tuple[int, str, list[int], int]
) -> tuple[list[CardEvent], Stage | None]:
    """The events of one card's life and where it is after them (None: off the books)."""
    reached, end, gaps, offset = life
    at = T0 + timedelta(minutes=offset)
    events = [CardEvent(card, Stage.PRINT, EventKind.START, Outcome.OK, "print.started", at)]
    for n, stage in enumerate(PROCESSES[:reached]):
        at += timedelta(minutes=gaps[n])
        events.append(CardEvent(card, stage, EventKind.OUTCOME, Outcome.OK, None, at))
    where: Stage | None = PROCESSES[reached] if reached < len(PROCESSES) else None
    if end == "fail" and where is not None or end == "returned" and reached == 5:
        stage = Stage.DELIVERY if where is None else where
        at += timedelta(minutes=gaps[6])
        events.append(
            CardEvent(card, stage, EventKind.OUTCOME, Outcome.FAIL, FAIL_REASON[stage], at)
        )
        where = None
    return events, where


def record(cards: list[tuple[int, str, list[int], int]]) -> tuple[list[CardEvent], Counter[Stage]]:
    events: list[CardEvent] = []
    wip: Counter[Stage] = Counter()
    for card, life in enumerate(cards, start=1):
        found, where = life_events(card, life)
        events += found
        if where is not None:
            wip[where] += 1
    events.sort(key=lambda e: e.ended_at)  # stable: a card's own events keep their order
    return events, wip


def days_of(events: list[CardEvent]) -> list[date]:
    first = min(e.ended_at for e in events).astimezone(ZONE).date()
    last = max(e.ended_at for e in events).astimezone(ZONE).date()
    return days_between(first, last)


@settings(max_examples=150, deadline=None)
@given(st.lists(lives, min_size=1, max_size=25))
def test_every_record_the_line_can_write_reconciles_every_day(
    cards: list[tuple[int, str, list[int], int]],
) -> None:
    events, wip = record(cards)
    days = days_of(events)
    rows = replay(events, days, ZONE)
    assert [row for row in rows if not row.reconciles] == []
    assert sum(row.received for row in rows if row.process is Stage.PRINT) == len(cards)
    last = {row.process: row.closing_wip for row in rows if row.day == days[-1]}
    assert last == {process: wip[process] for process in PROCESSES}
    failures = sum(1 for e in events if e.outcome is Outcome.FAIL)
    spoiled_or_returned = sum(
        row.spoiled + row.returned + row.returned_after_delivery for row in rows
    )
    assert spoiled_or_returned == failures


@settings(max_examples=150, deadline=None)
@given(st.lists(lives, min_size=1, max_size=25), st.data())
def test_a_missing_event_of_a_cards_life_breaks_a_day_naming_the_card(
    cards: list[tuple[int, str, list[int], int]], data: st.DataObject
) -> None:
    events, _ = record(cards)
    # An event followed by another of its card's: without it the record is broken (the
    # last event missing only looks like a card still in process). A missing confirmation
    # before a return makes a return before delivery, which reconciles: not that one.
    candidates = [
        index
        for index, event in enumerate(events)
        if any(later.card_id == event.card_id for later in events[index + 1 :])
        and event.stage is not Stage.DELIVERY
    ]
    if not candidates:
        return
    index = data.draw(st.sampled_from(candidates))
    card = str(events[index].card_id)
    broken = events[:index] + events[index + 1 :]
    rows = replay(broken, days_of(events), ZONE)
    named = {c for row in rows if not row.reconciles for c in (*row.unaccounted, *row.unexpected)}
    assert card in named
