"""The estimators of calibration (``sim.calibrate`` says what each estimates and why): the
stage events read from the record, and from them service times, failure rates with their
reason codes, and breakdowns from stoppages with work waiting.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from line import reasons
from line.distributions import Deterministic, Distribution, LogNormal
from line.models import Application, Card, StageEvent
from line.spec import LineSpec
from line.types import LINE_ORDER, Outcome, Stage
from sim.clock import WorkClock, working_intervals

DETERMINISTIC_CV = 0.01
"""A service time whose sd / mean is below this is fitted as deterministic."""
Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class ServiceFit:
    """What the record shows of one stage's per-card service time."""

    cards: int  # cards whose time was measured
    groups: int  # timed records (a batch record is one)
    batch_records: int  # groups of more than one card (same machine, start and end)
    untimed: int  # events of zero length, left out
    mean: float | None
    sd: float | None
    distribution: dict[str, Any] | None  # the fitted distribution as spec data, or None


@dataclass(frozen=True, slots=True)
class DefectFit:
    """One stage's failures: the rate, its interval and the codes recorded, as recorded."""

    outcomes: int
    failures: int
    rate: float | None
    low: float | None  # 95 % Wilson interval
    high: float | None
    reasons: dict[str, int]


@dataclass(frozen=True, slots=True)
class BreakdownFit:
    """One stage's stoppages with work waiting, and the breakdowns they imply."""

    machine_hours: float  # shift hours from each machine's first to last span, summed
    stoppages: int
    repair_mean: float | None
    repair_sd: float | None
    between_failures_mean: float | None
    availability: float | None


# --- reading the record -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One stage event of the record, as calibration reads it (aware times)."""

    card_id: int | None
    application_id: int
    stage: Stage
    machine: str | None
    outcome: Outcome
    reason: str | None
    started: datetime
    ended: datetime


def read_events(
    session: Session, since: datetime | None, until: datetime | None
) -> list[RecordedEvent]:
    """The line stages' events that start at or after ``since`` and end by ``until``, in
    the order they were recorded."""
    line_stages = [Stage(s.value) for s in LINE_ORDER]
    statement = sa.select(
        *(
            col(column)
            for column in (
                StageEvent.card_id,
                StageEvent.application_id,
                StageEvent.stage,
                StageEvent.machine,
                StageEvent.outcome,
                StageEvent.reason_code,
                StageEvent.started_at,
                StageEvent.ended_at,
            )
        )
    ).where(col(StageEvent.stage).in_(line_stages))
    if since is not None:
        statement = statement.where(col(StageEvent.started_at) >= since)
    if until is not None:
        statement = statement.where(col(StageEvent.ended_at) <= until)
    rows = session.connection().execute(statement.order_by(col(StageEvent.id))).all()
    return [
        RecordedEvent(
            row[0],
            row[1],
            Stage(row[2]),
            row[3],
            Outcome(row[4]),
            row[5],
            aware(row[6]),
            aware(row[7]),
        )
        for row in rows
    ]


def aware(value: datetime) -> datetime:
    """``value`` as an aware datetime (SQLite gives naive UTC back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --- service times ----------------------------------------------------------------------------


def fit_service(events: Sequence[RecordedEvent]) -> ServiceFit:
    """Per-card service time of one stage's outcome events (see the module docstring)."""
    groups: dict[tuple[str | None, datetime, datetime], int] = Counter(
        (e.machine, e.started, e.ended) for e in events
    )
    timed = [
        ((end - start).total_seconds(), n) for (_, start, end), n in groups.items() if end > start
    ]
    untimed = sum(n for (_, start, end), n in groups.items() if end <= start)
    cards = sum(n for _, n in timed)
    batch_records = sum(1 for _, n in timed if n > 1)
    if cards == 0:
        return ServiceFit(0, 0, 0, untimed, None, None, None)
    mean = sum(span for span, _ in timed) / cards
    if len(timed) > 1:
        var = sum(n * (span / n - mean) ** 2 for span, n in timed) / (len(timed) - 1)
    else:
        var = 0.0
    sd = math.sqrt(var)
    dist: dict[str, Any]
    if sd / mean < DETERMINISTIC_CV:
        dist = Deterministic(value=mean).model_dump(mode="json", by_alias=True)
    else:
        dist = LogNormal(mean_=mean, sd=sd).model_dump(mode="json", by_alias=True)
    return ServiceFit(cards, len(timed), batch_records, untimed, mean, sd, dist)


# --- defects ----------------------------------------------------------------------------------


def wilson(failures: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion."""
    p = failures / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def fit_defects(events: Sequence[RecordedEvent]) -> DefectFit:
    """Failure rate of one stage's outcome events, and the reason codes recorded, as they
    are (a failure recorded without a code counts as a failure, under no code)."""
    failed = [e for e in events if e.outcome is Outcome.FAIL]
    codes = Counter(e.reason for e in failed if e.reason)
    n, failures = len(events), len(failed)
    if n == 0:
        return DefectFit(0, 0, None, None, None, {})
    low, high = wilson(failures, n)
    return DefectFit(n, failures, failures / n, low, high, dict(codes))


def failure_reason(stage: Stage, recorded: Mapping[str, int]) -> str | None:
    """The most common recorded code that the catalogue (``line.reasons``) allows as
    ``stage``'s ``failure_reason`` (a code of the stage that spoils a card), as recorded;
    None when no recorded code is one (the base spec's then stays)."""
    usable = [code for code in sorted(recorded) if _spoils_at(stage, code)]
    return max(usable, key=lambda code: recorded[code]) if usable else None


def _spoils_at(stage: Stage, code: str) -> bool:
    reason = reasons.find(code)
    return reason is not None and reason.stage.value == stage.value and reason.spoils


# --- breakdowns -------------------------------------------------------------------------------


class _ShiftTime:
    """Aware datetimes -> shift seconds of the calendar, over the days the record covers."""

    def __init__(self, spec: LineSpec, first: datetime, last: datetime) -> None:
        self.zone = ZoneInfo(spec.calendar.timezone)
        self.start: date = first.astimezone(self.zone).date() - timedelta(days=1)
        days = (last.astimezone(self.zone).date() - self.start).days + 2
        self.origin = datetime.combine(self.start, datetime.min.time(), tzinfo=self.zone)
        calendar = spec.calendar
        self.clock = WorkClock(working_intervals(lambda _: calendar, self.start, days))

    def _seconds(self, t: datetime) -> float:
        local = t.astimezone(self.zone).replace(tzinfo=None)
        return (local - self.origin.replace(tzinfo=None)).total_seconds()

    def __call__(self, t: datetime) -> float:
        return self.clock.work_at(self._seconds(t))

    def same_shift(self, a: datetime, b: datetime) -> bool:
        """Whether ``a`` and ``b`` lie in one shift (its ends included)."""
        sa_, sb = self._seconds(a), self._seconds(b)
        i = bisect_right(self.clock.starts, sa_) - 1
        return i >= 0 and sb <= self.clock.ends[i]


def _ready_times(
    session: Session, events: Sequence[RecordedEvent], stage: Stage
) -> dict[int, datetime]:
    """When each card of ``stage``'s events was ready for the stage (card id -> time)."""
    ready: dict[int, datetime] = {}
    card_ids = {e.card_id for e in events if e.card_id is not None}
    if stage is Stage.PRINT:
        # a first card is ready when its application came in; a replacement when the card
        # before it was spoiled
        rows = session.exec(
            select(Card.id, Card.application_id, Card.attempt, Application.received_at)
            .join(Application, col(Application.id) == Card.application_id)
            .where(col(Card.id).in_(card_ids))
        ).all()
        applications = {app for _, app, _, _ in rows}
        family = select(Card.id).where(col(Card.application_id).in_(applications))
        attempts = {
            (app, attempt): cid
            for cid, app, attempt in session.exec(
                select(Card.id, Card.application_id, Card.attempt).where(
                    col(Card.application_id).in_(applications)
                )
            ).all()
        }
        spoiled_at = {
            cid: ended
            for cid, ended in session.exec(
                select(StageEvent.card_id, StageEvent.ended_at).where(
                    StageEvent.outcome == Outcome.FAIL, col(StageEvent.card_id).in_(family)
                )
            ).all()
        }
        for card, app, attempt, received in rows:
            assert card is not None
            before = attempts.get((app, attempt - 1))
            failed = spoiled_at.get(before) if before is not None else None
            ready[card] = failed if failed is not None else received
        return ready
    upstream = Stage(LINE_ORDER[LINE_ORDER.index(stage) - 1].value)
    for card_id, ended in session.exec(
        select(StageEvent.card_id, StageEvent.ended_at).where(
            StageEvent.stage == upstream,
            StageEvent.outcome == Outcome.OK,
            col(StageEvent.reason_code).is_(None),
            col(StageEvent.card_id).in_(card_ids),
        )
    ).all():
        if card_id is not None:
            ready[card_id] = ended
    return ready


def fit_breakdowns(
    session: Session,
    events: Sequence[RecordedEvent],
    stage: Stage,
    spec: LineSpec,
    min_stoppage_seconds: float,
) -> BreakdownFit:
    """Stoppages with work waiting, per machine, in the calendar's shift time."""
    by_machine: dict[str, dict[tuple[datetime, datetime], list[int]]] = {}
    for e in events:
        if e.machine is None or e.card_id is None:
            continue
        by_machine.setdefault(e.machine, {}).setdefault((e.started, e.ended), []).append(e.card_id)
    if not by_machine:
        return BreakdownFit(0.0, 0, None, None, None, None)
    first = min(e.started for e in events)
    last = max(e.ended for e in events)
    shift = _ShiftTime(spec, first, last)
    ready = _ready_times(session, events, stage)
    observed = 0.0
    repairs: list[float] = []
    for spans in by_machine.values():
        ordered = sorted(spans.items())
        observed += shift(ordered[-1][0][1]) - shift(ordered[0][0][0])
        busy_until = ordered[0][0][1]
        for (start, end), cards in ordered[1:]:
            if start > busy_until:
                gap = shift(start) - shift(busy_until)
                waiting = any(c in ready and ready[c] <= busy_until for c in cards)
                inside = shift.same_shift(busy_until, start)
                if waiting and inside and gap >= min_stoppage_seconds:
                    repairs.append(gap)
            busy_until = max(busy_until, end)
    hours = observed / 3600.0
    if not repairs:
        return BreakdownFit(hours, 0, None, None, None, None)
    repair_mean = sum(repairs) / len(repairs)
    repair_sd = (
        math.sqrt(sum((r - repair_mean) ** 2 for r in repairs) / (len(repairs) - 1))
        if len(repairs) > 1
        else 0.0
    )
    up = max(observed - sum(repairs), 0.0)
    between = up / len(repairs)
    availability = between / (between + repair_mean) if between > 0 else None
    return BreakdownFit(hours, len(repairs), repair_mean, repair_sd, between, availability)


def repair_distribution(fit: BreakdownFit) -> Distribution:
    assert fit.repair_mean is not None
    if fit.repair_sd and fit.repair_sd / fit.repair_mean >= DETERMINISTIC_CV:
        return LogNormal(mean_=fit.repair_mean, sd=fit.repair_sd)
    return Deterministic(value=fit.repair_mean)


__all__ = [
    "DETERMINISTIC_CV",
    "BreakdownFit",
    "DefectFit",
    "RecordedEvent",
    "ServiceFit",
    "aware",
    "failure_reason",
    "fit_breakdowns",
    "fit_defects",
    "fit_service",
    "read_events",
    "repair_distribution",
    "wilson",
]
