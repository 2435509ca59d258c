"""Per-step reconciliation: for each process and each of the centre's days, where every
card that came in went, from the stage event record alone.

The processes are the four line stages and delivery: ``print``, ``chip-encode``, ``qc``,
``dispatch``, ``delivery``. Only events that carry a card count (a hold before any card,
a manager's decision, have none); an event belongs to the centre's day (``line.today.
day_bounds``, the spec's time zone) in which it ended. Nothing here reads personal data
(or the card table, except to name a card by its serial), so a purge of personal data
does not change a figure.

Where a card is, after each of its events (its *position*): a start event puts it in
``print``; an OK outcome of a line stage moves it to the next process (``print`` ->
``chip-encode`` -> ``qc`` -> ``dispatch`` -> ``delivery``); an OK outcome of delivery
takes it off the books as delivered; a failure takes it off as spoiled (or returned).

Per process P and day D:

- **opening WIP**: cards whose position at the start of D is P;
- **received**: cards that came into P on D: for ``print`` a card body taken (start
  event), for the others an OK outcome of the process before (``chip-encode`` receives
  what ``print`` finished well, ``delivery`` what ``dispatch`` handed over);
- **good**: OK outcomes of P on D (for delivery: the station confirmed it);
- **spoiled**: failed outcomes of P on D, by reason code (for delivery: none, see returned);
- **samples**: cards taken out of P on D as QC samples or test cards. The line has no such
  cards (no stage or reason code of ``line.reasons`` takes one): always 0, kept as a
  column so that the invariant names them;
- **returned** (delivery only): cards that came back from the station on D (``cardline
  card return``) before the station confirmed them: they leave delivery's WIP. A card that
  comes back after its confirmation had left delivery as good on an earlier event: it is
  counted apart (**returned after delivery**), outside the invariant. Both are listed by
  reason;
- **closing WIP**: cards whose position at the end of D is P.

The invariant, for every process and day::

    opening WIP + received = good + spoiled + samples + returned + closing WIP

checked on the cards themselves, not only on the counts: every card of the left side is
on the right side once, and no card is on the right side that was not on the left. A break
names the process, the day, the figures, and the cards: *unaccounted* (came in and did not
go anywhere: a card whose outcome event is missing), *unexpected* (finished P without
having come into it) and *repeated* (counted twice on one side).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from line.models import Card, StageEvent
from line.today import day_bounds
from line.types import EventKind, Outcome, Stage

PROCESSES: tuple[Stage, ...] = (
    Stage.PRINT,
    Stage.ENCODE,
    Stage.QC,
    Stage.DISPATCH,
    Stage.DELIVERY,
)
"""The processes reconciled, in line order."""

NEXT: Mapping[Stage, Stage] = dict(zip(PROCESSES[:-1], PROCESSES[1:], strict=True))
"""Where an OK outcome of a process takes a card."""

DELIVERED = "delivered"
SPOILED = "spoiled"
"""Positions off the books: delivered (station confirmed), spoiled (failed or returned)."""

Position = Stage | str
"""A process (``Stage``) or one of ``DELIVERED`` / ``SPOILED``."""

MAX_DAYS = 366
"""The longest range reconciled at once."""

NAMED = 10
"""Cards named per kind of break; the rest are counted."""


@dataclass(frozen=True, slots=True)
class CardEvent:
    """What the reconciliation reads of a card's stage event."""

    card_id: int
    stage: Stage
    kind: EventKind
    outcome: Outcome
    reason: str | None
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class ProcessDay:
    """One process on one day: the figures of the invariant, and the cards that break it."""

    process: Stage
    day: date
    opening_wip: int
    received: int
    good: int
    spoiled_by_reason: Mapping[str, int]
    samples: int
    returned_by_reason: Mapping[str, int]
    returned_after_delivery: int
    closing_wip: int
    unaccounted: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    repeated: tuple[str, ...] = ()

    @property
    def spoiled(self) -> int:
        return sum(self.spoiled_by_reason.values())

    @property
    def returned(self) -> int:
        """Cards that came back on the day before the station confirmed them: they leave
        delivery's WIP (the invariant's term; ``returned_by_reason`` counts every return)."""
        return sum(self.returned_by_reason.values()) - self.returned_after_delivery

    @property
    def left_side(self) -> int:
        return self.opening_wip + self.received

    @property
    def right_side(self) -> int:
        return self.good + self.spoiled + self.samples + self.returned + self.closing_wip

    @property
    def reconciles(self) -> bool:
        return (
            self.left_side == self.right_side
            and not self.unaccounted
            and not self.unexpected
            and not self.repeated
        )

    def break_line(self) -> str:
        """The break as one line: process, day, figures, the cards (empty if it reconciles)."""
        if self.reconciles:
            return ""
        text = (
            f"{self.process.value} on {self.day:%Y-%m-%d} does not reconcile: opening "
            f"{self.opening_wip} + received {self.received} = {self.left_side}, but good "
            f"{self.good} + spoiled {self.spoiled} + samples {self.samples} + returned "
            f"{self.returned} + closing {self.closing_wip} = {self.right_side}"
        )
        for what, serials in (
            ("unaccounted", self.unaccounted),
            ("unexpected", self.unexpected),
            ("counted twice", self.repeated),
        ):
            if serials:
                more = f" and {len(serials) - NAMED} more" if len(serials) > NAMED else ""
                text += f"; {what}: {', '.join(serials[:NAMED])}{more}"
        return text


@dataclass
class _Tally:
    """One process's day while the events are replayed (card ids)."""

    opening: set[int]
    received: list[int] = field(default_factory=list)
    good: list[int] = field(default_factory=list)
    spoiled: list[tuple[int, str]] = field(default_factory=list)
    returned: list[tuple[int, str, bool]] = field(default_factory=list)  # True: after delivery


def days_between(first: date, last: date) -> list[date]:
    """The days from ``first`` to ``last`` inclusive; ValueError if backwards or too long."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    if first <= date.min or last >= date.max:  # a day's bounds in UTC would overflow
        raise ValueError(f"{first if first <= date.min else last} is outside the calendar")
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise ValueError(f"{count} days asked; at most {MAX_DAYS} are reconciled at once")
    return [first + timedelta(days=n) for n in range(count)]


def _events(session: Session, until: datetime) -> list[CardEvent]:
    """Every card's start and outcome events that ended before ``until``, in order."""
    session.flush()  # a Core query on the connection does not autoflush the session
    rows = (
        session.connection()
        .execute(
            sa.select(
                col(StageEvent.card_id),
                col(StageEvent.stage),
                col(StageEvent.kind),
                col(StageEvent.outcome),
                col(StageEvent.reason_code),
                col(StageEvent.ended_at),
            )
            .where(
                col(StageEvent.card_id).is_not(None),
                col(StageEvent.kind).in_([EventKind.START, EventKind.OUTCOME]),
                col(StageEvent.stage).in_(PROCESSES),
                col(StageEvent.ended_at) < until,
            )
            .order_by(col(StageEvent.ended_at), col(StageEvent.id))
        )
        .all()
    )
    return [
        CardEvent(card_id or 0, Stage(stage), EventKind(kind), Outcome(outcome), reason, ended)
        for card_id, stage, kind, outcome, reason, ended in rows
    ]


def position_after(event: CardEvent) -> Position:
    """Where ``event`` leaves its card."""
    if event.kind is EventKind.START:
        return Stage.PRINT
    if event.outcome is Outcome.FAIL:
        return SPOILED
    return NEXT.get(event.stage, DELIVERED)


def positions_at(*, session: Session, until: datetime) -> dict[int, Position]:
    """Every card's position (by card id) at ``until``, from its events before then."""
    positions: dict[int, Position] = {}
    for event in _events(session, until):
        positions[event.card_id] = position_after(event)
    return positions


def _book(tallies: Mapping[Stage, _Tally], event: CardEvent, before: Position | None) -> None:
    """Count ``event`` in the process it finishes and the one it feeds."""
    card = event.card_id
    if event.kind is EventKind.START:
        tallies[Stage.PRINT].received.append(card)
        return
    tally = tallies[event.stage]
    if event.outcome is Outcome.OK:
        tally.good.append(card)
        if event.stage in NEXT:
            tallies[NEXT[event.stage]].received.append(card)
    elif event.stage is Stage.DELIVERY:
        tally.returned.append((card, event.reason or "-", before == DELIVERED))
    else:
        tally.spoiled.append((card, event.reason or "-"))


def reconcile_days(*, session: Session, first: date, last: date, zone: tzinfo) -> list[ProcessDay]:
    """Every process on every day from ``first`` to ``last``, in day then line order."""
    days = days_between(first, last)
    events = _events(session, day_bounds(last, zone)[1])
    rows = replay(events, days, zone)
    broken = {int(c) for row in rows for c in (*row.unaccounted, *row.unexpected, *row.repeated)}
    names = _serials(session, broken)
    return [_named(row, names) for row in rows]


def replay(events: Sequence[CardEvent], days: Sequence[date], zone: tzinfo) -> list[ProcessDay]:
    """The pure core: ``events`` (in order) replayed over ``days`` (consecutive), every
    process's day, the cards that break it named by their card id (as text)."""
    wip = _Wip()
    index = 0
    out: list[ProcessDay] = []
    for day in days:
        start, end = day_bounds(day, zone)
        while index < len(events) and events[index].ended_at < start:
            wip.move(events[index])
            index += 1
        tallies = {p: _Tally(cards) for p, cards in wip.by_process().items()}
        while index < len(events) and events[index].ended_at < end:
            event = events[index]
            _book(tallies, event, wip.before(event.card_id))
            wip.move(event)
            index += 1
        closing = wip.by_process()
        out += [_day(p, day, tallies[p], closing[p]) for p in PROCESSES]
    return out


@dataclass
class _Wip:
    """Where the cards are while the events are replayed: the process of each card on the
    books, and the cards delivered (a later return of one is a return after delivery).
    Spoiled cards are dropped: nothing can follow a spoil."""

    at: dict[int, Stage] = field(default_factory=dict)
    delivered: set[int] = field(default_factory=set)

    def before(self, card_id: int) -> Position | None:
        return DELIVERED if card_id in self.delivered else self.at.get(card_id)

    def move(self, event: CardEvent) -> None:
        position = position_after(event)
        self.at.pop(event.card_id, None)
        self.delivered.discard(event.card_id)
        if isinstance(position, Stage):
            self.at[event.card_id] = position
        elif position == DELIVERED:
            self.delivered.add(event.card_id)

    def by_process(self) -> dict[Stage, set[int]]:
        """The cards in each process (one pass over the cards on the books)."""
        cards: dict[Stage, set[int]] = {process: set() for process in PROCESSES}
        for card_id, process in self.at.items():
            cards[process].add(card_id)
        return cards


def _day(process: Stage, day: date, tally: _Tally, closing: set[int]) -> ProcessDay:
    """The figures of one process's day, and the cards (ids) that break its invariant."""
    came = [*tally.opening, *tally.received]
    went = [*tally.good, *(c for c, _ in tally.spoiled), *closing]
    went += [c for c, _, after in tally.returned if not after]
    repeated = {c for c, n in Counter(came).items() if n > 1}
    repeated |= {c for c, n in Counter(went).items() if n > 1}
    return ProcessDay(
        process=process,
        day=day,
        opening_wip=len(tally.opening),
        received=len(tally.received),
        good=len(tally.good),
        spoiled_by_reason=dict(sorted(Counter(r for _, r in tally.spoiled).items())),
        samples=0,
        returned_by_reason=dict(sorted(Counter(r for _, r, _ in tally.returned).items())),
        returned_after_delivery=sum(1 for *_, after in tally.returned if after),
        closing_wip=len(closing),
        unaccounted=tuple(str(c) for c in sorted(set(came) - set(went))),
        unexpected=tuple(str(c) for c in sorted(set(went) - set(came))),
        repeated=tuple(str(c) for c in sorted(repeated)),
    )


def _named(row: ProcessDay, names: Mapping[int, str]) -> ProcessDay:
    """``row`` with its cards named by serial."""
    if row.reconciles:
        return row
    return replace(
        row,
        unaccounted=tuple(sorted(names[int(c)] for c in row.unaccounted)),
        unexpected=tuple(sorted(names[int(c)] for c in row.unexpected)),
        repeated=tuple(sorted(names[int(c)] for c in row.repeated)),
    )


def _serials(session: Session, card_ids: Iterable[int]) -> dict[int, str]:
    """The serials of those cards (a card missing from the table is named by its id)."""
    ids = sorted(card_ids)
    if not ids:
        return {}
    found = dict(session.exec(select(Card.id, Card.serial).where(col(Card.id).in_(ids))).all())
    return {card_id: str(found.get(card_id, f"card id {card_id}")) for card_id in ids}


def event_days(*, session: Session, zone: tzinfo) -> tuple[date, date] | None:
    """The first and last of the centre's days with a card's event (``None``: none yet)."""
    rows = session.exec(
        select(StageEvent.ended_at)
        .where(col(StageEvent.card_id).is_not(None))
        .order_by(col(StageEvent.ended_at))
        .limit(1)
    ).all()
    if not rows:
        return None
    last = session.exec(
        select(StageEvent.ended_at)
        .where(col(StageEvent.card_id).is_not(None))
        .order_by(col(StageEvent.ended_at).desc())
        .limit(1)
    ).one()
    return rows[0].astimezone(zone).date(), last.astimezone(zone).date()


def breaks(rows: Sequence[ProcessDay]) -> list[str]:
    """The break line of every process day that does not reconcile."""
    return [row.break_line() for row in rows if not row.reconciles]


def history_breaks(*, session: Session, zone: tzinfo) -> list[str]:
    """Every break of every day that has events, in chunks of ``MAX_DAYS`` (``cardline
    check``)."""
    span = event_days(session=session, zone=zone)
    if span is None:
        return []
    first, last = span
    found: list[str] = []
    while first <= last:
        chunk_end = min(last, first + timedelta(days=MAX_DAYS - 1))
        found += breaks(reconcile_days(session=session, first=first, last=chunk_end, zone=zone))
        first = chunk_end + timedelta(days=1)
    return found
