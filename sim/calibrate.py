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

The estimators are in ``sim.calibrate_fits``, the calibrated spec and its report in
``sim.calibrate_report``; what callers use is importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from line import reasons
from line.distributions import Exponential
from line.spec import LineSpec, StageSpec, parse_spec
from line.types import LINE_ORDER, Outcome, Stage
from sim.calibrate_fits import (
    DETERMINISTIC_CV,
    BreakdownFit,
    DefectFit,
    RecordedEvent,
    ServiceFit,
    failure_reason,
    fit_breakdowns,
    fit_defects,
    fit_service,
    read_events,
    repair_distribution,
    wilson,
)
from sim.calibrate_report import Calibration, StageCalibration

MIN_TIMED_CARDS = 30
"""Fewer timed cards than this at a stage: its service time is kept from the base spec."""
MIN_TIMED_GROUPS = 5
"""Fewer timed records (a batch record counts once) than this: the service time is kept."""
MIN_OUTCOMES = 30
"""Fewer outcomes than this at a stage: its failure rate is kept from the base spec."""
MIN_STOPPAGES = 5
"""Fewer stoppages than this at a stage: its breakdowns are kept from the base spec."""
MIN_STOPPAGE_SECONDS = 60.0
"""Default shortest gap with work waiting (shift seconds) counted as a stoppage."""
START_MARKER = reasons.STARTED  # the reason a start event (EventKind.START) carries
"""Reason code of the instant event the controller records when a card body is started."""


def _is_marker(event: RecordedEvent) -> bool:
    """Whether ``event`` marks a card body started (not an outcome of the stage)."""
    return event.outcome is Outcome.OK and event.reason == START_MARKER


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
    events = read_events(session, since, until)
    data = base.model_dump(mode="json", by_alias=True)
    report = [
        _calibrate_stage(
            session,
            base,
            stage,
            [e for e in events if e.stage.value == stage.value],
            data["stages"][stage.value],
            min_stoppage_seconds,
        )
        for stage in LINE_ORDER
    ]
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


@dataclass
class _Said:
    """What the report says of one stage, figure by figure, in the order it is found."""

    used: list[str] = field(default_factory=list)  # figures taken from the record
    kept: list[str] = field(default_factory=list)  # figures kept from the base, and why
    notes: list[str] = field(default_factory=list)


def _calibrate_stage(
    session: Session,
    base: LineSpec,
    stage: Stage,
    stage_events: Sequence[RecordedEvent],
    stage_data: dict[str, Any],
    min_stoppage_seconds: float,
) -> StageCalibration:
    """Fit one stage's figures and write those the record supports into ``stage_data``
    (the stage of the spec being calibrated, as data)."""
    outcomes = [e for e in stage_events if not _is_marker(e)]
    base_stage = base.stage(stage)
    said = _Said()
    service = fit_service(outcomes)
    _use_service(service, base_stage, stage_data, said)
    defects = fit_defects(outcomes)
    _use_defects(stage, defects, base_stage, stage_data, said)
    breakdowns = fit_breakdowns(session, outcomes, stage, base, min_stoppage_seconds)
    _use_breakdowns(stage, breakdowns, base_stage, stage_data, said)
    machines = (
        ()
        if stage is Stage.DISPATCH
        else tuple(sorted({e.machine for e in outcomes if e.machine is not None}))
    )
    if machines and len(machines) != base_stage.machines:
        said.notes.append(
            f"{len(machines)} machines seen, the spec keeps {base_stage.machines} "
            "(change it by hand if the line has changed)"
        )
    stage_data["source"] = (
        "calibrated: "
        + "; ".join(said.used)
        + (f"; kept from {base.name!r}: " if said.kept else "")
        + ", ".join(k.split(" (", 1)[0].split(":", 1)[0] for k in said.kept)
        if said.used
        else f"{base_stage.source} (not calibrated: too little in the record)".strip()
    )
    return StageCalibration(
        stage=stage,
        events=len(stage_events),
        service=service,
        defects=defects,
        breakdowns=breakdowns,
        machines_seen=machines,
        machines_in_spec=base_stage.machines,
        kept=tuple(said.kept),
        notes=tuple(said.notes),
    )


def _use_service(
    service: ServiceFit, base_stage: StageSpec, stage_data: dict[str, Any], said: _Said
) -> None:
    """The fitted service time into the spec, if enough cards and records were timed."""
    if service.distribution is None or (
        service.cards < MIN_TIMED_CARDS or service.groups < MIN_TIMED_GROUPS
    ):
        why = (
            "the record holds no durations here (instant events only)"
            if service.cards == 0 and service.untimed
            else f"only {service.cards} timed cards in {service.groups} records "
            f"(need {MIN_TIMED_CARDS} in {MIN_TIMED_GROUPS})"
        )
        said.kept.append(f"service time ({_describe(base_stage.service_time)}): {why}")
    else:
        stage_data["service_time"] = service.distribution
        said.used.append(f"service time from {service.cards} cards")
        if service.batch_records:
            said.notes.append(
                f"{service.batch_records} batch records (one span for several cards): "
                "per-card time = span / cards"
            )
    if service.untimed and service.cards:
        said.notes.append(f"{service.untimed} events of zero length left out of the times")


def _use_defects(
    stage: Stage,
    defects: DefectFit,
    base_stage: StageSpec,
    stage_data: dict[str, Any],
    said: _Said,
) -> None:
    """The failure rate into the spec, if enough outcomes were seen, and the commonest
    recorded code the catalogue allows as the stage's failure reason, as recorded."""
    if defects.rate is None or defects.outcomes < MIN_OUTCOMES:
        said.kept.append(
            f"failure rate ({base_stage.failure_rate:g}): only {defects.outcomes} outcomes "
            f"(need {MIN_OUTCOMES})"
        )
        return
    stage_data["failure_rate"] = defects.rate
    said.used.append(f"failure rate from {defects.outcomes} outcomes")
    code = failure_reason(stage, defects.reasons)
    if code is not None:
        stage_data["failure_reason"] = code
    elif defects.reasons:
        said.notes.append(
            f"no recorded failure code is a spoiling code of {stage.value} in the "
            f"catalogue: failure reason {base_stage.failure_reason} kept"
        )
    unlisted = sorted(c for c in defects.reasons if reasons.find(c) is None)
    if unlisted:
        said.notes.append(f"codes not in the catalogue: {', '.join(unlisted)}")


def _use_breakdowns(
    stage: Stage,
    breakdowns: BreakdownFit,
    base_stage: StageSpec,
    stage_data: dict[str, Any],
    said: _Said,
) -> None:
    """Breakdowns from the stoppages into the spec (in place of an availability), if
    enough were seen; never at dispatch, whose record holds hand-overs, not machine work."""
    base_breaks = (
        f"breakdowns (between failures {base_stage.breakdowns.time_between_failures.mean:g} "
        f"s, repair {base_stage.breakdowns.time_to_repair.mean:g} s)"
        if base_stage.breakdowns is not None
        else f"no breakdowns, availability {base_stage.availability:g}"
    )
    if stage is Stage.DISPATCH:
        said.kept.append(
            f"{base_breaks}: dispatch records hand-overs (batch codes), not machine work"
        )
    elif breakdowns.stoppages < MIN_STOPPAGES or breakdowns.repair_mean is None:
        said.kept.append(
            f"{base_breaks}: only {breakdowns.stoppages} stoppages with work waiting in "
            f"{breakdowns.machine_hours:.1f} machine shift hours (need {MIN_STOPPAGES})"
        )
    elif not breakdowns.between_failures_mean:
        said.kept.append(f"{base_breaks}: the stoppages leave no up time to count")
    else:
        stage_data["breakdowns"] = {
            "time_between_failures": Exponential(mean_=breakdowns.between_failures_mean).model_dump(
                mode="json", by_alias=True
            ),
            "time_to_repair": repair_distribution(breakdowns).model_dump(
                mode="json", by_alias=True
            ),
        }
        stage_data.pop("availability", None)  # the breakdowns give it
        said.used.append(f"breakdowns from {breakdowns.stoppages} stoppages")


def _describe(dist: Any) -> str:
    return f"{dist.kind}, mean {dist.mean:g} s"


def calibrate_command(
    engine: Any,
    base: LineSpec,
    since: datetime | None,
    until: datetime | None,
    out: Any,
) -> str:
    """``cardline calibrate --spec-out FILE [--since] [--until]``: calibrate from the
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
    "DETERMINISTIC_CV",
    "MIN_OUTCOMES",
    "MIN_STOPPAGES",
    "MIN_STOPPAGE_SECONDS",
    "MIN_TIMED_CARDS",
    "MIN_TIMED_GROUPS",
    "START_MARKER",
    "BreakdownFit",
    "Calibration",
    "DefectFit",
    "ServiceFit",
    "StageCalibration",
    "calibrate",
    "calibrate_command",
    "failure_reason",
    "fit_defects",
    "fit_service",
    "wilson",
]
