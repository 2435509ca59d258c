"""Shift time: the clock machines run on.

Simulated time is seconds since 00:00 (the centre's local time) of the scenario's first day.
Machines only work in shift time, and a machine's breakdowns and repairs are counted in shift
time too (``line.spec.BreakdownSpec``). So there are three clocks, each a monotone,
piecewise-linear function of the one before:

- calendar time ``t`` (seconds since the start);
- shift time ``w = WorkClock.work_at(t)``: seconds of shift time elapsed (breaks deducted);
- a machine's up time ``u = MachineClock.up_at(w)``: shift time during which it was not broken.

A card that needs ``s`` seconds on a machine, started at ``t0``, is done at
``t1 = time_at(machine.w_at(machine.up_at(work_at(t0)) + s))``: its work pauses over the night
and over a repair and resumes where it stopped (preempt-resume). Both simulation modes use these
same functions and the same breakdown schedules, which is what lets them agree.

A shift's break is taken at its end (the shift works ``working_seconds`` from its start): only
the amount of shift time matters to capacity. Days have 24 hours (no daylight saving time;
Vietnam has none).
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from itertools import accumulate

import numpy as np

from line.spec import BreakdownSpec, ShiftCalendar

DAY = 86_400.0
HOUR = 3_600.0


def working_intervals(
    calendar_on: Callable[[date], ShiftCalendar], start: date, days: int
) -> list[tuple[float, float]]:
    """The shift intervals ``(begin, end)`` of ``days`` days from ``start``, merged and sorted.

    ``calendar_on(day)`` is the calendar in force that day (a scenario may change it from a
    date). A night shift runs past midnight into the next day; the horizon cuts it.
    """
    raw: list[tuple[float, float]] = []
    origin = datetime.combine(start, datetime.min.time())
    horizon = days * DAY
    for offset in range(days):
        day = start + timedelta(days=offset)
        calendar = calendar_on(day)
        if not calendar.is_working_day(day):
            continue
        for shift in calendar.shifts:
            begin = (datetime.combine(day, shift.start) - origin).total_seconds()
            end = min(begin + shift.working_seconds, horizon)
            if end > begin:
                raw.append((begin, end))
    raw.sort()
    merged: list[tuple[float, float]] = []
    for begin, end in raw:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


class WorkClock:
    """Calendar time <-> shift time, over the shift intervals of the run."""

    def __init__(self, intervals: Sequence[tuple[float, float]]) -> None:
        self.starts = [b for b, _ in intervals]
        self.ends = [e for _, e in intervals]
        lengths = [e - b for b, e in intervals]
        self.work_before = [0.0, *accumulate(lengths)][:-1] if intervals else []
        self.work_after = list(accumulate(lengths))
        self.total = self.work_after[-1] if intervals else 0.0

    def work_at(self, t: float) -> float:
        """Shift seconds elapsed from the start to calendar time ``t``."""
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0.0
        return self.work_before[i] + min(t - self.starts[i], self.ends[i] - self.starts[i])

    def time_at(self, w: float) -> float:
        """The earliest calendar time at which ``w`` shift seconds have elapsed (inf: never)."""
        i = bisect_left(self.work_after, w)
        if i >= len(self.starts):
            return float("inf")
        return self.starts[i] + max(0.0, w - self.work_before[i])

    def works_at(self, t: float) -> bool:
        i = bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.ends[i]

    def work_at_many(self, times: np.ndarray) -> np.ndarray:
        """``work_at`` for many times at once (the fast mode's step boundaries)."""
        if not self.starts:
            return np.zeros_like(times, dtype=float)
        xp = np.array([x for pair in zip(self.starts, self.ends, strict=True) for x in pair])
        fp = np.array(
            [x for pair in zip(self.work_before, self.work_after, strict=True) for x in pair]
        )
        return np.asarray(np.interp(times, xp, fp, left=0.0, right=self.total), dtype=float)


def breakdown_schedule(
    breakdowns: BreakdownSpec | None, rng: random.Random, horizon: float
) -> list[tuple[float, float]]:
    """One machine's repairs as ``(begin, end)`` intervals of shift time, up to ``horizon``.

    Time between failures counts the machine's up time; a repair follows each failure.
    """
    if breakdowns is None:
        return []
    schedule: list[tuple[float, float]] = []
    w = 0.0
    while True:
        w += breakdowns.time_between_failures.sample(rng)
        if w >= horizon:
            return schedule
        repair = breakdowns.time_to_repair.sample(rng)
        schedule.append((w, w + repair))
        w += repair


class MachineClock:
    """Shift time <-> one machine's up time, over its repair intervals."""

    def __init__(self, repairs: Sequence[tuple[float, float]]) -> None:
        self.down_starts = [b for b, _ in repairs]
        self.down_ends = [e for _, e in repairs]
        lengths = [e - b for b, e in repairs]
        self.down_before = [0.0, *accumulate(lengths)]
        # up time reached when each repair begins
        self.up_at_down = [b - d for b, d in zip(self.down_starts, self.down_before, strict=False)]

    def up_at(self, w: float) -> float:
        i = bisect_right(self.down_starts, w) - 1
        if i < 0:
            return w
        inside = min(w - self.down_starts[i], self.down_ends[i] - self.down_starts[i])
        return w - self.down_before[i] - inside

    def w_at(self, u: float) -> float:
        """The earliest shift time at which the machine has been up for ``u`` seconds."""
        return u + self.down_before[bisect_left(self.up_at_down, u)]

    def repair_end(self, w: float) -> float | None:
        """When the repair under way at shift time ``w`` ends (None: the machine is up)."""
        i = bisect_right(self.down_starts, w) - 1
        if i >= 0 and w < self.down_ends[i]:
            return self.down_ends[i]
        return None

    def down_at_many(self, ws: np.ndarray) -> np.ndarray:
        """Cumulative repair time up to each shift time in ``ws`` (for up time per step)."""
        if not self.down_starts:
            return np.zeros_like(ws, dtype=float)
        xp = np.array(
            [x for pair in zip(self.down_starts, self.down_ends, strict=True) for x in pair]
        )
        fp = np.array(
            [
                x
                for pair in zip(self.down_before[:-1], self.down_before[1:], strict=True)
                for x in pair
            ]
        )
        right = self.down_before[-1]
        return np.asarray(np.interp(ws, xp, fp, left=0.0, right=right), dtype=float)
