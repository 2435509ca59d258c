"""Calibration: the line spec's numbers estimated from the stage events the controller recorded.

    from sim.calibrate import calibrate
    with session_scope(engine) as session:
        fitted = calibrate(session=session, base=spec_in_use(None), since=..., until=...)
    print(fitted.summary())
    Path("calibrated.yaml").write_text(fitted.to_yaml(), encoding="utf-8")

What is estimated, per stage, and how (every figure the record cannot support is kept from the
``base`` spec, and the report says so and why; nothing is invented):

- **service time**: the seconds one machine spends on one card. An event's span is
  ``ended_at - started_at``. A *batch record* is detected when several events of a stage share
  the machine, ``started_at`` and ``ended_at`` (the controller records a print job that way:
  one span for the whole job); such a group is one observation of ``span / cards`` with weight
  ``cards``. Mean = total span / total cards. Per-card variance: a batch mean of ``n`` cards
  has variance ``sd**2 / n``, so ``sd**2 = sum(n_i * (m_i - mean)**2) / (groups - 1)`` (for
  groups of one card this is the ordinary sample variance). Zero-length spans (instant events,
  such as dispatch, which records a hand-over, not work) carry no duration and are left out.
  The fit: ``deterministic`` when ``sd / mean < DETERMINISTIC_CV``, else ``lognormal`` with
  that mean and sd (moment matching: simple, positive and robust to a long right tail). At
  least ``MIN_TIMED_CARDS`` timed cards and ``MIN_TIMED_GROUPS`` groups are needed.
- **failure rate**: fail outcomes / outcomes at that stage (the print "started" markers,
  reason ``print.started``, are not outcomes), with a 95 % Wilson interval; at least
  ``MIN_OUTCOMES`` outcomes are needed. The spec's ``failure_reason`` becomes the most common
  recorded code that the catalogue (``line.reasons``) allows there (a code of the stage that
  spoils a card), exactly as recorded: calibration renames no code. Every code seen is
  reported, and one that is not in the catalogue is said.
- **breakdowns**: from *stoppages* in the record. Per machine, its work spans (batch records
  merged) are put in shift time with the base spec's calendar (``sim.clock``: nights, days off
  and breaks take no shift time). A gap between two consecutive spans is a stoppage when work
  was waiting through it (a card of the next span was ready before the gap began: at print,
  its application was received, or its previous card spoiled; downstream, it passed the stage
  before), it lies within one shift (a gap that runs into a shift's end cannot be told from
  the end of the day's work) and it lasts at least ``min_stoppage_seconds`` of shift time.
  Idle time without work waiting is not a breakdown. Time to repair = the stoppages' lengths
  (lognormal by mean and sd; deterministic if they do not vary); time between failures = the
  machines' observed shift time less the stoppages, per stoppage (exponential).
  Device faults are not in the stage event record (the controller logs them and retries the
  batch), so stoppages are the evidence. At least ``MIN_STOPPAGES`` stoppages per stage are
  needed (pooled over its machines, which the spec treats as identical); with fewer the base
  breakdowns and availability are kept, and the report gives the observed machine hours.
- **machines**: the distinct machine names seen are reported; the count is kept from the base
  (the record says which machines worked, not how many are installed). At dispatch the
  ``machine`` field holds batch codes, so no machines are reported there.

Limitations, said plainly: a stoppage caused by something other than the machine (no chips
while applications waited, an operator away) is counted as a breakdown; a fault inside a batch
record lengthens that batch's span (a longer service time) instead of showing as a stoppage;
repairs shorter than ``min_stoppage_seconds``, or running into a shift's end, are not seen
(the time between failures then comes out longer). The calendar of ``base`` must be the one the
line worked to in the period.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import yaml
from sqlmodel import Session, col, select

from line import reasons
from line.distributions import Deterministic, Distribution, Exponential, LogNormal
from line.models import Application, Card, StageEvent
from line.spec import LineSpec, parse_spec
from line.types import LINE_ORDER, EventStage, Outcome, Stage
from sim.clock import WorkClock, working_intervals

MIN_TIMED_CARDS = 30
"""Fewer timed cards than this at a stage: its service time is kept from the base spec."""
MIN_TIMED_GROUPS = 5
"""Fewer timed records (a batch record counts once) than this: the service time is kept."""
MIN_OUTCOMES = 30
"""Fewer outcomes than this at a stage: its failure rate is kept from the base spec."""
MIN_STOPPAGES = 5
"""Fewer stoppages than this at a stage: its breakdowns are kept from the base spec."""
DETERMINISTIC_CV = 0.01
"""A service time whose sd / mean is below this is fitted as deterministic."""
MIN_STOPPAGE_SECONDS = 60.0
"""Default shortest gap with work waiting (shift seconds) counted as a stoppage."""
START_MARKER = "print.started"
"""Reason code of the instant event the controller records when a card body is started."""
Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class ServiceFit:
    cards: int  # cards whose time was measured
    groups: int  # timed records (a batch record is one)
    batch_records: int  # groups of more than one card (same machine, start and end)
    untimed: int  # events of zero length, left out
    mean: float | None
    sd: float | None
    distribution: dict[str, Any] | None  # the fitted distribution as spec data, or None


@dataclass(frozen=True, slots=True)
class DefectFit:
    outcomes: int
    failures: int
    rate: float | None
    low: float | None  # 95 % Wilson interval
    high: float | None
    reasons: dict[str, int]


@dataclass(frozen=True, slots=True)
class BreakdownFit:
    machine_hours: float  # shift hours from each machine's first to last span, summed
    stoppages: int
    repair_mean: float | None
    repair_sd: float | None
    between_failures_mean: float | None
    availability: float | None


@dataclass(frozen=True, slots=True)
class StageCalibration:
    """What the record showed at one stage, what went into the spec, what was kept and why."""

    stage: Stage
    events: int  # events of the stage in the period (start markers included)
    service: ServiceFit
    defects: DefectFit
    breakdowns: BreakdownFit
    machines_seen: tuple[str, ...]
    machines_in_spec: int
    kept: tuple[str, ...]  # one sentence per figure kept from the base spec
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage.value,
            "events": self.events,
            "service": _plain(self.service),
            "defects": _plain(self.defects),
            "breakdowns": _plain(self.breakdowns),
            "machines_seen": list(self.machines_seen),
            "machines_in_spec": self.machines_in_spec,
            "kept": list(self.kept),
            "notes": list(self.notes),
        }


def _plain(record: ServiceFit | DefectFit | BreakdownFit) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


@dataclass(frozen=True)
class Calibration:
    """A calibrated spec (validated through ``parse_spec``) and the report behind it."""

    spec: LineSpec
    base: LineSpec
    report: list[StageCalibration]
    since: datetime | None
    until: datetime | None
    first_event: datetime | None
    last_event: datetime | None
    data: dict[str, Any] = field(repr=False, default_factory=dict)

    def stage(self, stage: Stage) -> StageCalibration:
        return next(r for r in self.report if r.stage is stage)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
            "first_event": _iso(self.first_event),
            "last_event": _iso(self.last_event),
            "base": self.base.name,
            "stages": [r.as_dict() for r in self.report],
        }

    def to_yaml(self) -> str:
        """The calibrated spec as a full line spec file (loads back with ``load_spec``)."""
        header = (
            f"# Calibrated by cardline from the stage event record "
            f"({_iso(self.first_event) or '-'} .. {_iso(self.last_event) or '-'}),\n"
            f"# over the base spec {self.base.name!r}. Figures the record could not support\n"
            "# are the base spec's; each stage's `source` says which.\n"
        )
        body = yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True, width=100)
        return header + body

    def summary(self) -> str:
        """A human summary, one block per stage."""
        span = f"{_iso(self.first_event) or '-'} .. {_iso(self.last_event) or '-'}"
        lines = [f"calibrated from stage events {span} over base spec {self.base.name!r}"]
        for r in self.report:
            lines.append(f"{r.stage.value}: {r.events} events")
            s = r.service
            if s.mean is not None and s.sd is not None:
                batch = f", {s.batch_records} batch records" if s.batch_records else ""
                lines.append(
                    f"  service time: mean {s.mean:.3f} s, sd {s.sd:.3f} s over {s.cards} "
                    f"cards ({s.groups} records{batch})"
                )
            d = r.defects
            if d.rate is not None and d.low is not None and d.high is not None:
                reasons = ", ".join(f"{k} {v}" for k, v in sorted(d.reasons.items())) or "none"
                lines.append(
                    f"  failure rate: {d.rate:.4f} ({d.failures}/{d.outcomes}; 95 % "
                    f"{d.low:.4f}-{d.high:.4f}); reasons: {reasons}"
                )
            b = r.breakdowns
            if b.repair_mean is not None and b.between_failures_mean is not None:
                lines.append(
                    f"  breakdowns: {b.stoppages} stoppages in {b.machine_hours:.1f} machine "
                    f"shift hours; repair mean {b.repair_mean:.0f} s, between failures "
                    f"{b.between_failures_mean:.0f} s, availability {b.availability:.3f}"
                )
            if r.machines_seen:
                lines.append(
                    f"  machines seen: {len(r.machines_seen)} ({', '.join(r.machines_seen)}); "
                    f"spec keeps {r.machines_in_spec}"
                )
            lines.extend(f"  kept from base: {k}" for k in r.kept)
            lines.extend(f"  note: {n}" for n in r.notes)
        return "\n".join(lines)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# --- reading the record -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Event:
    card_id: int | None
    application_id: int
    stage: EventStage
    machine: str | None
    outcome: Outcome
    reason: str | None
    started: datetime
    ended: datetime


def _events(session: Session, since: datetime | None, until: datetime | None) -> list[_Event]:
    line_stages = [EventStage(s.value) for s in LINE_ORDER]
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
        _Event(
            row[0],
            row[1],
            EventStage(row[2]),
            row[3],
            Outcome(row[4]),
            row[5],
            _aware(row[6]),
            _aware(row[7]),
        )
        for row in rows
    ]


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _is_marker(event: _Event) -> bool:
    return event.outcome is Outcome.OK and event.reason == START_MARKER


# --- service times ----------------------------------------------------------------------------


def fit_service(events: Sequence[_Event]) -> ServiceFit:
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


def fit_defects(events: Sequence[_Event]) -> DefectFit:
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


def _ready_times(session: Session, events: Sequence[_Event], stage: Stage) -> dict[int, datetime]:
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
    upstream = EventStage(LINE_ORDER[LINE_ORDER.index(stage) - 1].value)
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
    events: Sequence[_Event],
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


def _repair_distribution(fit: BreakdownFit) -> Distribution:
    assert fit.repair_mean is not None
    if fit.repair_sd and fit.repair_sd / fit.repair_mean >= DETERMINISTIC_CV:
        return LogNormal(mean_=fit.repair_mean, sd=fit.repair_sd)
    return Deterministic(value=fit.repair_mean)


# --- the whole spec ---------------------------------------------------------------------------


def calibrate(
    *,
    session: Session,
    base: LineSpec,
    since: datetime | None = None,
    until: datetime | None = None,
    min_stoppage_seconds: float = MIN_STOPPAGE_SECONDS,
) -> Calibration:
    """Estimate ``base``'s stage figures from the stage events of ``[since, until]``
    (an event counts when it starts at or after ``since`` and ends by ``until``)."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must be an aware datetime")
    events = _events(session, since, until)
    data = base.model_dump(mode="json", by_alias=True)
    report: list[StageCalibration] = []
    for stage in LINE_ORDER:
        stage_events = [e for e in events if e.stage.value == stage.value]
        outcomes = [e for e in stage_events if not _is_marker(e)]
        base_stage = base.stage(stage)
        stage_data: dict[str, Any] = data["stages"][stage.value]
        kept: list[str] = []
        notes: list[str] = []
        used: list[str] = []

        service = fit_service(outcomes)
        if service.distribution is None or (
            service.cards < MIN_TIMED_CARDS or service.groups < MIN_TIMED_GROUPS
        ):
            why = (
                "the record holds no durations here (instant events only)"
                if service.cards == 0 and service.untimed
                else f"only {service.cards} timed cards in {service.groups} records "
                f"(need {MIN_TIMED_CARDS} in {MIN_TIMED_GROUPS})"
            )
            kept.append(f"service time ({_describe(base_stage.service_time)}): {why}")
        else:
            stage_data["service_time"] = service.distribution
            used.append(f"service time from {service.cards} cards")
            if service.batch_records:
                notes.append(
                    f"{service.batch_records} batch records (one span for several cards): "
                    "per-card time = span / cards"
                )
        if service.untimed and service.cards:
            notes.append(f"{service.untimed} events of zero length left out of the times")

        defects = fit_defects(outcomes)
        if defects.rate is None or defects.outcomes < MIN_OUTCOMES:
            kept.append(
                f"failure rate ({base_stage.failure_rate:g}): only {defects.outcomes} outcomes "
                f"(need {MIN_OUTCOMES})"
            )
        else:
            stage_data["failure_rate"] = defects.rate
            used.append(f"failure rate from {defects.outcomes} outcomes")
            code = failure_reason(stage, defects.reasons)
            if code is not None:
                stage_data["failure_reason"] = code
            elif defects.reasons:
                notes.append(
                    f"no recorded failure code is a spoiling code of {stage.value} in the "
                    f"catalogue: failure reason {base_stage.failure_reason} kept"
                )
            unlisted = sorted(c for c in defects.reasons if reasons.find(c) is None)
            if unlisted:
                notes.append(f"codes not in the catalogue: {', '.join(unlisted)}")

        breakdowns = fit_breakdowns(session, outcomes, stage, base, min_stoppage_seconds)
        base_breaks = (
            f"breakdowns (between failures {base_stage.breakdowns.time_between_failures.mean:g} "
            f"s, repair {base_stage.breakdowns.time_to_repair.mean:g} s)"
            if base_stage.breakdowns is not None
            else f"no breakdowns, availability {base_stage.availability:g}"
        )
        if stage is Stage.DISPATCH:
            kept.append(
                f"{base_breaks}: dispatch records hand-overs (batch codes), not machine work"
            )
        elif breakdowns.stoppages < MIN_STOPPAGES or breakdowns.repair_mean is None:
            kept.append(
                f"{base_breaks}: only {breakdowns.stoppages} stoppages with work waiting in "
                f"{breakdowns.machine_hours:.1f} machine shift hours (need {MIN_STOPPAGES})"
            )
        elif not breakdowns.between_failures_mean:
            kept.append(f"{base_breaks}: the stoppages leave no up time to count")
        else:
            stage_data["breakdowns"] = {
                "time_between_failures": Exponential(
                    mean_=breakdowns.between_failures_mean
                ).model_dump(mode="json", by_alias=True),
                "time_to_repair": _repair_distribution(breakdowns).model_dump(
                    mode="json", by_alias=True
                ),
            }
            stage_data.pop("availability", None)  # the breakdowns give it
            used.append(f"breakdowns from {breakdowns.stoppages} stoppages")

        machines = (
            ()
            if stage is Stage.DISPATCH
            else tuple(sorted({e.machine for e in outcomes if e.machine is not None}))
        )
        if machines and len(machines) != base_stage.machines:
            notes.append(
                f"{len(machines)} machines seen, the spec keeps {base_stage.machines} "
                "(change it by hand if the line has changed)"
            )
        stage_data["source"] = (
            "calibrated: "
            + "; ".join(used)
            + (f"; kept from {base.name!r}: " if kept else "")
            + ", ".join(k.split(" (", 1)[0].split(":", 1)[0] for k in kept)
            if used
            else f"{base_stage.source} (not calibrated: too little in the record)".strip()
        )
        report.append(
            StageCalibration(
                stage=stage,
                events=len(stage_events),
                service=service,
                defects=defects,
                breakdowns=breakdowns,
                machines_seen=machines,
                machines_in_spec=base_stage.machines,
                kept=tuple(kept),
                notes=tuple(notes),
            )
        )
    data["description"] = (f"{base.description} " if base.description else "") + (
        "Calibrated from the stage event record."
    )
    spec = parse_spec(data, source="(calibration)")
    return Calibration(
        spec=spec,
        base=base,
        report=report,
        since=since,
        until=until,
        first_event=min((e.started for e in events), default=None),
        last_event=max((e.ended for e in events), default=None),
        data=data,
    )


def _describe(dist: Any) -> str:
    return f"{dist.kind}, mean {dist.mean:g} s"


def calibrate_command(
    engine: Any,
    base: LineSpec,
    since: datetime | None,
    until: datetime | None,
    out: Any,
) -> str:
    """``cardline simulate --calibrate --out FILE [--since] [--until]``: calibrate from the
    record in ``engine``'s database, write the spec to ``out`` and return a human summary."""
    from pathlib import Path

    from line.db import session_scope
    from line.files import write_private

    with session_scope(engine) as session:
        fitted = calibrate(session=session, base=base, since=since, until=until)
    path = Path(out)
    write_private(path, fitted.to_yaml())  # like everything under the cardline home: 0600
    return f"{fitted.summary()}\nwrote {path}"


__all__ = [
    "BreakdownFit",
    "Calibration",
    "DefectFit",
    "ServiceFit",
    "StageCalibration",
    "calibrate",
    "calibrate_command",
    "fit_service",
    "wilson",
]
