"""The counters both simulation modes fill, and their reduction to a ``RunResult``.

One accumulator for both modes means one definition of every figure: a stall day, a wait,
utilisation mean the same thing whichever mode produced them.
"""

from __future__ import annotations

from array import array
from datetime import timedelta

import numpy as np

from line.types import LINE_ORDER
from sim.clock import DAY, HOUR
from sim.inputs import Inputs
from sim.results import STALL_FRACTION, DayResult, RunResult, StageResult, Totals


class Tally:
    """Counters of one run. Per day: arrays indexed by day; per stage: lists indexed by the
    stage's position in ``LINE_ORDER``. Stage statistics count from ``warmup`` seconds on."""

    def __init__(self, inputs: Inputs, warmup: float) -> None:
        days, classes = inputs.scenario.days, len(inputs.classes)
        self.inputs = inputs
        self.warmup = warmup
        self.completed = np.zeros((days, classes), dtype=np.int64)
        self.started = np.zeros(days, dtype=np.int64)
        self.spoiled = np.zeros(days, dtype=np.int64)
        self.held = np.zeros(days, dtype=np.int64)
        self.received = np.zeros(days, dtype=np.int64)
        self.wip_end = np.zeros(days, dtype=np.int64)
        self.waiting_end = np.zeros(days, dtype=np.int64)
        self.stock_end = np.zeros(days, dtype=np.int64)
        self.starved = np.zeros(days)  # shift seconds print was starved of chips
        n = len(LINE_ORDER)
        self.processed = [0] * n
        self.spoiled_at = [0] * n
        self.busy = [0.0] * n  # machine work seconds, after warm-up
        self.entries = [0] * n  # joined the queue after warm-up
        self.wait_sum = [0.0] * n  # waits of those entries that have started
        self.waited = [0] * n
        self.queue_area = [0.0] * n  # integral of the queue length, after warm-up
        self.wip_area = 0.0  # integral of the cards in the line, whole run
        self.sojourns: array[float] | None = None  # card mode: arrival to dispatch, seconds

    def add_starved(self, begin: float, end: float) -> None:
        """Print was starved of chips from ``begin`` to ``end``: add its shift time per day."""
        clock = self.inputs.clock
        day = int(begin // DAY)
        while begin < end and day < len(self.starved):
            cut = min(end, (day + 1) * DAY)
            self.starved[day] += clock.work_at(cut) - clock.work_at(begin)
            begin, day = cut, day + 1


def _machine_seconds(inputs: Inputs, position: int, warmup: float) -> float:
    """Shift time of the stage's machines after warm-up (machines x shift seconds)."""
    steps = inputs.machines[LINE_ORDER[position]]
    clock, horizon = inputs.clock, inputs.horizon
    total = 0.0
    for i, (begin, count) in enumerate(steps):
        end = steps[i + 1][0] if i + 1 < len(steps) else horizon
        begin, end = max(begin, warmup), min(end, horizon)
        if end > begin:
            total += count * (clock.work_at(end) - clock.work_at(begin))
    return total


def finish(tally: Tally, mode: str) -> RunResult:
    """The ``RunResult`` of a filled tally: the days, the stages and the totals of the run."""
    inputs = tally.inputs
    scenario, clock = inputs.scenario, inputs.clock
    days = scenario.days
    edges = np.arange(days + 1) * DAY
    shift = np.diff(clock.work_at_many(edges))
    stalled = (shift > 0) & (tally.starved >= STALL_FRACTION * shift - 1e-6)
    completed = tally.completed.sum(axis=1)
    cumulative = np.cumsum(completed)
    target = scenario.target
    return RunResult(
        scenario=scenario.name,
        mode=mode,
        seed=inputs.seed,
        replication=inputs.replication,
        start=scenario.start,
        days=days,
        warmup_days=tally.warmup / DAY,
        target_cards=None if target is None else target.cards,
        target_by=None if target is None else target.by,
        totals=_totals(tally, stalled, cumulative),
        stages=_stages(tally),
        daily=_daily(tally, shift, stalled, completed, cumulative),
    )


def _daily(
    tally: Tally,
    shift: np.ndarray,
    stalled: np.ndarray,
    completed: np.ndarray,
    cumulative: np.ndarray,
) -> tuple[DayResult, ...]:
    """One ``DayResult`` a day (a day's dispatch batches: one per destination served)."""
    inputs = tally.inputs
    scenario = inputs.scenario
    days = scenario.days
    unlimited = scenario.chips.unlimited
    arrived = inputs.arrivals.reshape(days, -1).sum(axis=1)
    applications = int(inputs.backlog.sum()) + np.cumsum(arrived)
    destinations = sorted({c.destination for c in inputs.classes})
    by_destination = np.stack(
        [
            tally.completed[:, [c.index for c in inputs.classes if c.destination == d]].sum(axis=1)
            for d in destinations
        ],
        axis=1,
    )
    batches = (by_destination > 0).sum(axis=1)
    return tuple(
        DayResult(
            date=scenario.start + timedelta(days=d),
            shift_hours=float(shift[d] / HOUR),
            completed=int(completed[d]),
            cumulative=int(cumulative[d]),
            batches=int(batches[d]),
            started=int(tally.started[d]),
            spoiled=int(tally.spoiled[d]),
            held=int(tally.held[d]),
            chips_received=int(tally.received[d]),
            chip_stock=None if unlimited else int(tally.stock_end[d]),
            wip=int(tally.wip_end[d]),
            waiting=int(tally.waiting_end[d]),
            starved_hours=float(tally.starved[d] / HOUR),
            stalled=bool(stalled[d]),
            applications=int(applications[d]),
        )
        for d in range(days)
    )


def _stages(tally: Tally) -> tuple[StageResult, ...]:
    """Each stage's figures, from the warm-up on (utilisation over its machines' shift
    time)."""
    inputs = tally.inputs
    span = inputs.horizon - tally.warmup
    stages = []
    for i, stage in enumerate(LINE_ORDER):
        capacity = _machine_seconds(inputs, i, tally.warmup)
        stages.append(
            StageResult(
                stage=stage.value,
                machines=inputs.scenario.spec.stage(stage).machines,
                processed=tally.processed[i],
                spoiled=tally.spoiled_at[i],
                utilisation=tally.busy[i] / capacity if capacity > 0 else 0.0,
                mean_wait_s=tally.wait_sum[i] / tally.waited[i] if tally.waited[i] else None,
                mean_queue=tally.queue_area[i] / span if span > 0 else 0.0,
                arrival_rate_per_hour=tally.entries[i] / (span / HOUR) if span > 0 else 0.0,
            )
        )
    return tuple(stages)


def _totals(tally: Tally, stalled: np.ndarray, cumulative: np.ndarray) -> Totals:
    """The run's totals (every chip started is consumed, good or spoiled)."""
    inputs = tally.inputs
    groups: dict[str, int] = {}
    for c in inputs.classes:
        groups[c.group] = groups.get(c.group, 0) + int(tally.completed[:, c.index].sum())
    started = int(tally.started.sum())
    sojourn = sojourn_p90 = None
    if tally.sojourns is not None and len(tally.sojourns):
        values = np.frombuffer(tally.sojourns, dtype=np.float64)
        sojourn, sojourn_p90 = float(values.mean()), float(np.percentile(values, 90))
    return Totals(
        completed=int(cumulative[-1]),
        completed_by_group=groups,
        started=started,
        chips_consumed=started,
        chips_spoiled=int(tally.spoiled.sum()),
        chips_received=int(tally.received.sum()),
        held=int(tally.held.sum()),
        stall_days=int(stalled.sum()),
        starved_hours=float(tally.starved.sum() / HOUR),
        mean_wip=tally.wip_area / inputs.horizon,
        waiting_at_end=int(tally.waiting_end[-1]),
        time_in_system_s=sojourn,
        time_in_system_p90_s=sojourn_p90,
    )
