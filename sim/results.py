"""What a run reports, and the summary over replications. Both serialise to JSON.

``RunResult.to_dict()`` (one replication)::

    {
      "scenario": "plan-2021", "mode": "fast" | "cards", "seed": 1, "replication": 0,
      "start": "2021-03-03", "days": 120, "warmup_days": 0.0,
      "target": {"cards": 50000000, "by": "2021-07-01" | null,
                 "reached_on": "2021-06-24" | null, "day": 113 | null},
      "totals": {
        "completed": int,        # good cards dispatched (handed over in a daily batch)
        "completed_by_group": {"elderly": int, ...},
        "started": int,          # card bodies put on the printer = chips consumed
        "chips_consumed": int,   # every card body started, good or spoiled
        "chips_spoiled": int,    # card bodies spoiled (each took a chip)
        "chips_received": int,   # opening stock not included
        "held": int,             # applications past the rework limit (a manager decides)
        "stall_days": int,       # working days with print starved of chips >= half the shift
        "starved_hours": float,  # shift hours print was starved of chips (work waited)
        "mean_wip": float,       # time-average cards between print start and dispatch
        "waiting_at_end": int,   # applications still waiting for a chip and a printer
        "time_in_system_s": float | null,      # card mode: mean seconds from an application's
        "time_in_system_p90_s": float | null,  # arrival to its card's dispatch (and the 90th
      },                                       # percentile); after warm-up; null in fast mode
      "stages": [{
        "stage": "print", "machines": int,      # at the start of the run
        "processed": int, "spoiled": int,       # cards finished here, of them spoiled
        "utilisation": float,    # busy machine time / machine shift time (0..1)
        "mean_wait_s": float | null,  # mean wait before this stage (print: for a chip and a
                                      # printer, from approval or a spoiled card's return)
        "mean_queue": float,     # time-average number waiting before this stage
        "arrival_rate_per_hour": float,  # cards (applications, for print) joining the queue
      }, ...],
      "daily": [{
        "date": "2021-03-03", "shift_hours": float,
        "completed": int, "cumulative": int, "batches": int,   # batches: destinations served
        "started": int, "spoiled": int, "held": int,
        "chips_received": int, "chip_stock": int | null,        # null: unlimited chips
        "wip": int, "waiting": int,                             # at the end of the day
        "starved_hours": float, "stalled": bool,
        "applications": int,     # applications received so far, the opening backlog included
      }, ...]
    }

Statistics of stages (waits, queues, utilisation) and the time in system count from
``warmup_days`` on (the time in system: applications that arrived from then on); the daily
figures and the other totals cover the whole run. ``Summary.to_dict()`` holds the same
figures as means with t-intervals over replications (see ``summarise``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from sim.stats import Interval, t_interval

STALL_FRACTION = 0.5
"""A working day is stalled when print was starved of chips for at least this share of its
shift time (while applications waited): a day that merely ran out at its end is not."""


@dataclass(frozen=True, slots=True)
class StageResult:
    stage: str
    machines: int
    processed: int
    spoiled: int
    utilisation: float
    mean_wait_s: float | None
    mean_queue: float
    arrival_rate_per_hour: float


@dataclass(frozen=True, slots=True)
class DayResult:
    date: date
    shift_hours: float
    completed: int
    cumulative: int
    batches: int
    started: int
    spoiled: int
    held: int
    chips_received: int
    chip_stock: int | None
    wip: int
    waiting: int
    starved_hours: float
    stalled: bool
    applications: int = 0  # cumulative, the opening backlog included


@dataclass(frozen=True, slots=True)
class Totals:
    completed: int
    completed_by_group: dict[str, int]
    started: int
    chips_consumed: int
    chips_spoiled: int
    chips_received: int
    held: int
    stall_days: int
    starved_hours: float
    mean_wip: float
    waiting_at_end: int
    time_in_system_s: float | None = None  # card mode only
    time_in_system_p90_s: float | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """One replication of one scenario in one mode. Immutable; ``to_json`` round-trips."""

    scenario: str
    mode: str
    seed: int
    replication: int
    start: date
    days: int
    warmup_days: float
    target_cards: int | None
    target_by: date | None
    totals: Totals
    stages: tuple[StageResult, ...]
    daily: tuple[DayResult, ...]

    @property
    def target_day(self) -> int | None:
        """Days from the start to the end of the day the target was reached (1 = first day)."""
        if self.target_cards is None:
            return None
        for i, day in enumerate(self.daily):
            if day.cumulative >= self.target_cards:
                return i + 1
        return None

    @property
    def target_reached_on(self) -> date | None:
        day = self.target_day
        return None if day is None else self.start + timedelta(days=day - 1)

    @property
    def on_time(self) -> bool:
        """The target was reached before its date (by the end of the day before ``by``;
        with no date, reached at all)."""
        reached = self.target_reached_on
        return reached is not None and (self.target_by is None or reached < self.target_by)

    def stage(self, name: str) -> StageResult:
        return next(s for s in self.stages if s.stage == name)

    def to_dict(self) -> dict[str, Any]:
        reached = self.target_reached_on
        return {
            "scenario": self.scenario,
            "mode": self.mode,
            "seed": self.seed,
            "replication": self.replication,
            "start": self.start.isoformat(),
            "days": self.days,
            "warmup_days": self.warmup_days,
            "target": {
                "cards": self.target_cards,
                "by": None if self.target_by is None else self.target_by.isoformat(),
                "reached_on": None if reached is None else reached.isoformat(),
                "day": self.target_day,
            },
            "totals": asdict(self.totals),
            "stages": [asdict(s) for s in self.stages],
            "daily": [{**asdict(d), "date": d.date.isoformat()} for d in self.daily],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        target = data["target"]
        return cls(
            scenario=data["scenario"],
            mode=data["mode"],
            seed=data["seed"],
            replication=data["replication"],
            start=date.fromisoformat(data["start"]),
            days=data["days"],
            warmup_days=data["warmup_days"],
            target_cards=target["cards"],
            target_by=None if target["by"] is None else date.fromisoformat(target["by"]),
            totals=Totals(**data["totals"]),
            stages=tuple(StageResult(**s) for s in data["stages"]),
            daily=tuple(
                DayResult(**{**d, "date": date.fromisoformat(d["date"])}) for d in data["daily"]
            ),
        )

    @classmethod
    def from_json(cls, text: str) -> RunResult:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True, slots=True)
class StageSummary:
    stage: str
    utilisation: Interval
    mean_wait_s: Interval | None
    mean_queue: Interval


@dataclass(frozen=True)
class Summary:
    """Means and t-intervals over the replications of one scenario (``summarise``).

    ``target_day`` is over the replications that reached the target (``target_reached`` of
    ``replications``); when some did not, the interval describes only those that did.
    """

    scenario: str
    mode: str
    seed: int
    replications: int
    confidence: float
    start: date
    target_cards: int | None
    target_by: date | None
    target_reached: int
    target_day: Interval | None
    completed: Interval
    chips_consumed: Interval
    chips_spoiled: Interval
    held: Interval
    stall_days: Interval
    starved_hours: Interval
    mean_wip: Interval
    stages: tuple[StageSummary, ...]
    cumulative: tuple[Interval, ...]  # per day
    completed_per_day: tuple[Interval, ...]
    applications: tuple[Interval, ...] = ()  # per day, cumulative with the opening backlog
    time_in_system_s: Interval | None = None  # card mode only
    target_on_time: int = 0  # replications that reached the target before ``target_by``

    def _date(self, day: float) -> str:
        # day 1 is the first day; a fractional mean is shown as the day it falls in
        return (self.start + timedelta(days=math.ceil(day - 1e-9) - 1)).isoformat()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every interval as ``{"mean", "low", "high", "n"}``; the target date as
        ``{"mean", "low", "high"}`` ISO dates (the days they fall in)."""
        target_date = None
        if self.target_day is not None:
            target_date = {
                "mean": self._date(self.target_day.mean),
                "low": self._date(self.target_day.low),
                "high": self._date(self.target_day.high),
            }
        return {
            "scenario": self.scenario,
            "mode": self.mode,
            "seed": self.seed,
            "replications": self.replications,
            "confidence": self.confidence,
            "start": self.start.isoformat(),
            "target": {
                "cards": self.target_cards,
                "by": None if self.target_by is None else self.target_by.isoformat(),
                "reached": self.target_reached,
                "on_time": self.target_on_time,
                "day": None if self.target_day is None else self.target_day.as_dict(),
                "date": target_date,
            },
            "completed": self.completed.as_dict(),
            "chips_consumed": self.chips_consumed.as_dict(),
            "chips_spoiled": self.chips_spoiled.as_dict(),
            "held": self.held.as_dict(),
            "stall_days": self.stall_days.as_dict(),
            "starved_hours": self.starved_hours.as_dict(),
            "mean_wip": self.mean_wip.as_dict(),
            "time_in_system_s": (
                None if self.time_in_system_s is None else self.time_in_system_s.as_dict()
            ),
            "stages": [
                {
                    "stage": s.stage,
                    "utilisation": s.utilisation.as_dict(),
                    "mean_wait_s": None if s.mean_wait_s is None else s.mean_wait_s.as_dict(),
                    "mean_queue": s.mean_queue.as_dict(),
                }
                for s in self.stages
            ],
            "daily": [
                {
                    "date": (self.start + timedelta(days=i)).isoformat(),
                    "cumulative": c.as_dict(),
                    "completed": d.as_dict(),
                    "applications": a.as_dict(),
                }
                for i, (c, d, a) in enumerate(
                    zip(self.cumulative, self.completed_per_day, self.applications, strict=True)
                )
            ],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def summarise(results: Sequence[RunResult], confidence: float = 0.95) -> Summary:
    """Means and ``confidence`` t-intervals over replications of one scenario and mode."""
    if not results:
        raise ValueError("no results to summarise")
    first = results[0]
    if any(
        (r.scenario, r.mode, r.days) != (first.scenario, first.mode, first.days) for r in results
    ):
        raise ValueError("summarise replications of one scenario, mode and horizon only")

    def over(values: Sequence[float]) -> Interval:
        return t_interval(values, confidence)

    reached = [r.target_day for r in results if r.target_day is not None]
    sojourns = [r.totals.time_in_system_s for r in results if r.totals.time_in_system_s is not None]
    stages = []
    for i, s in enumerate(first.stages):
        waits = [r.stages[i].mean_wait_s for r in results]
        known = [w for w in waits if w is not None]
        stages.append(
            StageSummary(
                stage=s.stage,
                utilisation=over([r.stages[i].utilisation for r in results]),
                mean_wait_s=over(known) if len(known) == len(waits) else None,
                mean_queue=over([r.stages[i].mean_queue for r in results]),
            )
        )
    return Summary(
        scenario=first.scenario,
        mode=first.mode,
        seed=first.seed,
        replications=len(results),
        confidence=confidence,
        start=first.start,
        target_cards=first.target_cards,
        target_by=first.target_by,
        target_reached=len(reached),
        target_day=over([float(d) for d in reached]) if reached else None,
        completed=over([r.totals.completed for r in results]),
        chips_consumed=over([r.totals.chips_consumed for r in results]),
        chips_spoiled=over([r.totals.chips_spoiled for r in results]),
        held=over([r.totals.held for r in results]),
        stall_days=over([r.totals.stall_days for r in results]),
        starved_hours=over([r.totals.starved_hours for r in results]),
        mean_wip=over([r.totals.mean_wip for r in results]),
        stages=tuple(stages),
        cumulative=tuple(over([r.daily[d].cumulative for r in results]) for d in range(first.days)),
        completed_per_day=tuple(
            over([r.daily[d].completed for r in results]) for d in range(first.days)
        ),
        applications=tuple(
            over([r.daily[d].applications for r in results]) for d in range(first.days)
        ),
        time_in_system_s=over(sojourns) if len(sojourns) == len(results) else None,
        target_on_time=sum(1 for r in results if r.on_time),
    )
