"""Backtest: the simulator replays a recorded period, and its throughput is held against the record.

    from sim.backtest import backtest, backtest_summary
    with session_scope(engine) as session:
        result = backtest(session=session, spec=calibrated, start=t0, end=t1)
    print(json.dumps(backtest_summary(result), indent=2))

What the scenario is made of (everything from the record, nothing from the scenario files):

- **period**: whole days of the spec's time zone, from the local day of ``start`` to the day
  before the local day of ``end`` (``end`` at midnight: that day is excluded; later in the day:
  included). The scenario runs those days.
- **opening backlog**: applications received before the period whose last event before it
  left them approved (waiting for print, first card or replacement) *or on the line* (a card
  at print, encode or QC). The simulator has no opening work in progress, so cards mid-line
  at the start are replayed from print: a little more work than the line really had left.
  Held and cancelled applications and finished cards are not counted.
- **arrivals**: applications received during the period. The simulator draws arrivals
  (Poisson around a daily mean with a weekly and an hourly profile), so the record becomes
  ``per_day`` = mean a day, ``weekly_profile`` = the mean of each weekday over ``per_day``, and
  ``hourly_profile`` = the hours of day they came in; the expected total equals the recorded
  total, the exact daily counts are not replayed (a core hook for given daily counts would).
- **groups and destinations**: the shares of priority groups (none: ``general``) and of
  provinces (the first three characters of the destination) among those applications.
- **chips**: if the stock ledger holds chip lots, the opening stock is the chips on hand
  (available and reserved) at ``start``, and each chip lot received during the period is a
  delivery on its day (at 00:00, no random delay); adjustments within the period are not
  replayed. Without chip lots: unlimited chips.
- **the line**: ``spec`` as given (machines, times, spoilage, breakdowns, calendar, policy).

What is compared: cards that passed QC per local day in the record against the simulator's
cards completed per day (dispatched, which it does right after QC), over ``replications``
replications: the mean, its 95 % t-interval, and a 95 % *prediction* interval for one run
(``mean +- t * sd * sqrt(1 + 1/n)``): the record is one realisation, so it is that interval a
good model should cover. ``agrees`` is true when the recorded total is inside the prediction
interval or within ``tolerance`` (relative) of the mean.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from line.models import Application, StageEvent
from line.spec import LineSpec
from line.types import ApplicationState, Outcome, Stage
from sim.results import RunResult, summarise
from sim.run import Mode, replicate
from sim.scenario import Scenario, parse_scenario
from sim.stats import Interval, t_quantile

ON_THE_LINE = frozenset(
    {
        ApplicationState.APPROVED,
        ApplicationState.PRINTING,
        ApplicationState.PRINTED,
        ApplicationState.ENCODED,
    }
)
"""Application states that still need a good card from the line (the opening backlog)."""

DEFAULT_TOLERANCE = 0.05


@dataclass(frozen=True, slots=True)
class DayComparison:
    date: date
    recorded: int
    simulated: Interval

    @property
    def relative_error(self) -> float | None:
        return None if self.recorded == 0 else (self.simulated.mean - self.recorded) / self.recorded


@dataclass(frozen=True)
class Backtest:
    scenario: Scenario
    backlog_waiting: int  # approved, waiting for print at the start
    backlog_on_line: int  # with a card at print, encode or QC at the start
    arrivals: int
    chips: str  # "unlimited" or "ledger"
    recorded_total: int
    simulated_total: Interval  # mean and 95 % t-interval of the mean
    prediction: tuple[float, float]  # 95 % prediction interval of one run
    days: tuple[DayComparison, ...]
    runs: tuple[RunResult, ...]
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def relative_error(self) -> float | None:
        """(simulated mean - recorded) / recorded, for the total."""
        if self.recorded_total == 0:
            return None
        return (self.simulated_total.mean - self.recorded_total) / self.recorded_total

    @property
    def within_prediction(self) -> bool:
        return self.prediction[0] <= self.recorded_total <= self.prediction[1]

    @property
    def agrees(self) -> bool:
        error = self.relative_error
        return self.within_prediction or (error is not None and abs(error) <= self.tolerance)


def _period(spec: LineSpec, start: datetime, end: datetime) -> tuple[date, int, datetime, datetime]:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    zone = ZoneInfo(spec.calendar.timezone)
    first = start.astimezone(zone).date()
    local_end = end.astimezone(zone)
    last = local_end.date() if local_end.time() == time(0) else local_end.date() + timedelta(1)
    days = (last - first).days
    if days < 1:
        raise ValueError("the period must cover at least one day")
    t0 = datetime.combine(first, time(0), tzinfo=zone)
    return first, days, t0, t0 + timedelta(days=days)


def _backlog(session: Session, t0: datetime) -> tuple[int, int]:
    """(waiting for print, on the line) at ``t0``, from each application's last event."""
    last = (
        select(StageEvent.application_id, sa.func.max(StageEvent.id).label("last"))
        .where(col(StageEvent.ended_at) < t0)
        .group_by(col(StageEvent.application_id))
        .subquery()
    )
    states = Counter(
        ApplicationState(state)
        for (state,) in session.connection().execute(
            sa.select(col(StageEvent.application_state)).join(
                last, col(StageEvent.id) == last.c.last
            )
        )
    )
    without_events = session.exec(
        select(sa.func.count())
        .select_from(Application)
        .where(
            col(Application.received_at) < t0,
            ~sa.exists().where(
                col(StageEvent.application_id) == Application.id, col(StageEvent.ended_at) < t0
            ),
        )
    ).one()
    waiting = int(without_events) + states[ApplicationState.APPROVED]
    on_line = (
        sum(n for s, n in states.items() if s in ON_THE_LINE) - states[ApplicationState.APPROVED]
    )
    return waiting, on_line


def _demand(
    session: Session, t0: datetime, t1: datetime, first: date, days: int, zone: ZoneInfo
) -> tuple[dict[str, Any], int]:
    rows = session.exec(
        select(Application.received_at, Application.priority_group, Application.destination).where(
            col(Application.received_at) >= t0, col(Application.received_at) < t1
        )
    ).all()
    backlog_rows = session.exec(
        select(Application.priority_group, Application.destination).where(
            col(Application.received_at) < t1
        )
    ).all()
    groups = Counter(g or "general" for g, _ in backlog_rows) or Counter({"general": 1})
    provinces = Counter(d[:3] for _, d in backlog_rows) or Counter({"000": 1})
    demand: dict[str, Any] = {
        "groups": {g: {"share": n} for g, n in groups.items()},
        "destinations": dict(provinces),
        "per_day": len(rows) / days,
    }
    if rows:
        by_day = Counter(at.astimezone(zone).date() for at, _, _ in rows)
        weekday_totals: Counter[int] = Counter()
        weekday_days: Counter[int] = Counter()
        for offset in range(days):
            day = first + timedelta(days=offset)
            weekday_totals[day.weekday()] += by_day.get(day, 0)
            weekday_days[day.weekday()] += 1
        names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        mean = len(rows) / days
        demand["weekly_profile"] = {
            names[w]: weekday_totals[w] / weekday_days[w] / mean for w in weekday_days
        }
        hours = Counter(at.astimezone(zone).hour for at, _, _ in rows)
        demand["hourly_profile"] = [hours.get(h, 0) for h in range(24)]
    return demand, len(rows)


def _chips(
    session: Session, t0: datetime, t1: datetime, zone: ZoneInfo
) -> tuple[dict[str, Any], str]:
    try:
        from inventory.models import MovementKind, StockLot, StockMovement
    except ImportError:  # pragma: no cover - inventory is part of the distribution
        return {"unlimited": True}, "unlimited"
    lots = session.exec(select(StockLot).where(StockLot.item_code == "chip")).all()
    if not lots:
        return {"unlimited": True}, "unlimited"
    opening = 0
    deliveries: dict[str, Any] = {}
    for lot in lots:
        assert lot.id is not None
        before = session.exec(
            select(StockMovement)
            .where(StockMovement.lot_id == lot.id, col(StockMovement.at) < t0)
            .order_by(col(StockMovement.id).desc())
        ).first()
        if before is not None:
            opening += before.on_hand_after
            continue
        receipt = session.exec(
            select(StockMovement).where(
                StockMovement.lot_id == lot.id,
                StockMovement.kind == MovementKind.RECEIPT,
                col(StockMovement.at) >= t0,
                col(StockMovement.at) < t1,
            )
        ).first()
        if receipt is not None:
            deliveries[f"lot-{lot.id}"] = {
                "date": receipt.at.astimezone(zone).date().isoformat(),
                "quantity": receipt.quantity,
            }
    return {"opening_stock": opening, "deliveries": deliveries}, "ledger"


def _recorded(session: Session, t0: datetime, t1: datetime, zone: ZoneInfo) -> Counter[date]:
    ends = session.exec(
        select(StageEvent.ended_at).where(
            StageEvent.stage == Stage.QC,
            StageEvent.outcome == Outcome.OK,
            col(StageEvent.ended_at) >= t0,
            col(StageEvent.ended_at) < t1,
        )
    ).all()
    return Counter(at.astimezone(zone).date() for at in ends)


def backtest(
    *,
    session: Session,
    spec: LineSpec,
    start: datetime,
    end: datetime,
    replications: int = 5,
    seed: int = 1,
    mode: Mode = "auto",
    workers: int | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Backtest:
    """Simulate the recorded period ``[start, end)`` with ``spec`` and compare (module docs)."""
    if replications < 2:
        raise ValueError("a backtest needs at least 2 replications (for its intervals)")
    zone = ZoneInfo(spec.calendar.timezone)
    first, days, t0, t1 = _period(spec, start, end)
    waiting, on_line = _backlog(session, t0)
    demand, arrivals = _demand(session, t0, t1, first, days, zone)
    chips, chip_source = _chips(session, t0, t1, zone)
    line = spec.model_dump(mode="json", by_alias=True)
    scenario = parse_scenario(
        {
            "name": f"backtest-{first.isoformat()}",
            "description": f"the record of {first} .. {first + timedelta(days=days - 1)}",
            "line": line,
            "start": first.isoformat(),
            "days": days,
            "demand": {**demand, "backlog": waiting + on_line},
            "chips": chips,
        },
        source="(backtest)",
    )
    runs = replicate(scenario, replications, seed=seed, mode=mode, workers=workers)
    summary = summarise(runs)
    recorded = _recorded(session, t0, t1, zone)
    totals = [float(r.totals.completed) for r in runs]
    spread = statistics.stdev(totals)
    half = t_quantile(0.975, len(totals) - 1) * spread * math.sqrt(1 + 1 / len(totals))
    mean = statistics.fmean(totals)
    comparisons = tuple(
        DayComparison(first + timedelta(days=i), recorded.get(first + timedelta(days=i), 0), day)
        for i, day in enumerate(summary.completed_per_day)
    )
    return Backtest(
        scenario=scenario,
        backlog_waiting=waiting,
        backlog_on_line=on_line,
        arrivals=arrivals,
        chips=chip_source,
        recorded_total=sum(recorded.values()),
        simulated_total=summary.completed,
        prediction=(mean - half, mean + half),
        days=comparisons,
        runs=tuple(runs),
        tolerance=tolerance,
    )


def backtest_summary(result: Backtest) -> dict[str, Any]:
    """JSON-ready: the scenario's inputs, the totals and each day, recorded against simulated."""
    return {
        "period": {
            "start": result.scenario.start.isoformat(),
            "days": result.scenario.days,
            "timezone": result.scenario.spec.calendar.timezone,
        },
        "spec": result.scenario.spec.name,
        "inputs": {
            "backlog_waiting": result.backlog_waiting,
            "backlog_on_line": result.backlog_on_line,
            "arrivals": result.arrivals,
            "chips": result.chips,
        },
        "replications": len(result.runs),
        "mode": result.runs[0].mode,
        "total": {
            "recorded": result.recorded_total,
            "simulated": result.simulated_total.as_dict(),
            "prediction": {"low": result.prediction[0], "high": result.prediction[1]},
            "relative_error": result.relative_error,
            "within_prediction": result.within_prediction,
            "tolerance": result.tolerance,
            "agrees": result.agrees,
        },
        "daily": [
            {
                "date": d.date.isoformat(),
                "recorded": d.recorded,
                "simulated": d.simulated.as_dict(),
                "relative_error": d.relative_error,
                "within_interval": d.simulated.contains(d.recorded),
            }
            for d in result.days
        ],
    }


def backtest_command(
    engine: Any,
    spec: LineSpec,
    start: datetime,
    end: datetime,
    *,
    replications: int = 5,
    seed: int = 1,
) -> dict[str, Any]:
    """``cardline calibrate --backtest``: run a backtest on ``engine``'s record, JSON-ready."""
    from line.db import session_scope

    with session_scope(engine) as session:
        result = backtest(
            session=session, spec=spec, start=start, end=end, replications=replications, seed=seed
        )
    return backtest_summary(result)
