"""One candidate of a plan: its replications, played up to the deadline, and its decision.

``outcome`` plays one replication and says on which day, if any, the target was reached;
a runner (``LocalRunner``: a process pool kept for the whole plan; a flow brings its own)
plays batches of them. ``Rule`` is the sequential decision (a Wilson interval clear of the
wanted probability, or the most replications), ``Oracle`` the ``sim.search`` oracle that
screens and proves candidates by it, and ``Planner`` the state of one plan: its fields, the
candidates met (``Trial``) and the replications spent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sim.clock import DAY
from sim.plan_fields import VariedField, set_value, show_value
from sim.results import STALL_FRACTION
from sim.run import play
from sim.scenario import Scenario, parse_scenario
from sim.search import Costs, Point, Verdict
from sim.stats import wilson_interval


@dataclass(frozen=True, slots=True)
class Outcome:
    """One replication of one candidate, up to the deadline."""

    replication: int
    day: int | None  # the day of the run the target was reached (1 = first), None: not in time
    cards: int  # good cards dispatched by the end of the deadline day
    stall_days: int  # by the deadline


def outcome(
    scenario: Scenario,
    seed: int,
    replication: int,
    mode: Literal["cards", "fast"],
    days: int,
    cards: int,
) -> Outcome:
    """Play ``days`` days of one replication and say whether ``cards`` were reached."""
    tally = play(scenario, seed, replication, mode, until_day=days)
    cumulative = np.cumsum(tally.completed.sum(axis=1)[:days])
    reached = np.flatnonzero(cumulative >= cards)
    edges = np.arange(days + 1) * DAY
    shift = np.diff(tally.inputs.clock.work_at_many(edges))
    starved = tally.starved[:days]
    stalled = (shift > 0) & (starved >= STALL_FRACTION * shift - 1e-6)
    return Outcome(
        replication=replication,
        day=int(reached[0]) + 1 if len(reached) else None,
        cards=int(cumulative[-1]) if len(cumulative) else 0,
        stall_days=int(stalled.sum()),
    )


Job = tuple[Scenario, int, int, Literal["cards", "fast"], int, int]
Runner = Callable[[Scenario, int, int, str], list[Outcome]]
"""``runner(scenario, first, count, label)``: the outcomes of replications ``first ..`` of
one candidate (``label`` names its setting, for a flow's task runs)."""


def _job(job: Job) -> Outcome:
    return outcome(*job)


class LocalRunner:
    """Outcomes in a process pool kept for the whole plan (one worker per core)."""

    def __init__(
        self, *, seed: int, mode: Literal["cards", "fast"], days: int, cards: int, workers: int
    ) -> None:
        self.seed, self.mode, self.days, self.cards = seed, mode, days, cards
        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None

    def __call__(
        self, scenario: Scenario, first: int, count: int, label: str = ""
    ) -> list[Outcome]:
        jobs = [
            (scenario, self.seed, first + i, self.mode, self.days, self.cards) for i in range(count)
        ]
        if self.pool is None or count <= 1:
            return [_job(job) for job in jobs]
        return list(self.pool.map(_job, jobs))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


@dataclass
class Trial:
    """What is known of one candidate setting: its replications so far and its decision."""

    point: Point
    setting: dict[str, Any]
    cost: float
    scenario: Scenario
    outcomes: list[Outcome] = field(default_factory=list)
    verdict: Verdict | None = None
    clear: bool = False
    order: int = 0

    @property
    def label(self) -> str:
        """``chip-encode.machines=60 june.date=2021-05-20``: the setting, short."""
        parts = []
        for path, value in self.setting.items():
            short = path.split(".", 1)[-1].removeprefix("stages.").removeprefix("deliveries.")
            parts.append(f"{short}={show_value(value)}")
        return " ".join(parts)

    @property
    def successes(self) -> int:
        return sum(1 for o in self.outcomes if o.day is not None)


class Rule:
    """The sequential decision of one candidate, from its successes ``k`` of ``n``. Batches
    do not depend on the number of workers, so neither does any decision."""

    BATCH = 2  # the smallest batch after the first: two cores are busy

    def __init__(self, probability: float, confidence: float, first: int, most: int) -> None:
        self.p, self.confidence = probability, confidence
        self.first, self.most = first, most

    def decided(self, k: int, n: int) -> tuple[Verdict, bool] | None:
        """(verdict, clear) once the interval is clear of P or n is at the most."""
        if n == 0:
            return None
        low, high = wilson_interval(k, n, self.confidence)
        if low >= self.p:
            return Verdict.FEASIBLE, True
        if high < self.p:
            return Verdict.INFEASIBLE, True
        if n >= self.most:
            return (Verdict.FEASIBLE if k / n >= self.p else Verdict.INFEASIBLE), False
        return None

    def leans_feasible(self, k: int, n: int) -> bool:
        return n > 0 and k / n >= self.p

    def next_batch(self, k: int, n: int) -> int:
        """The fewest more replications that could decide, if all went the way it leans."""
        if n == 0:
            return min(self.most, self.first)
        lean = self.leans_feasible(k, n)
        for m in range(1, self.most - n + 1):
            if self.decided(k + m if lean else k, n + m) is not None:
                return min(self.most - n, max(m, self.BATCH))
        return self.most - n


class Oracle:
    """``sim.search.Oracle`` over simulation: screens and proves candidates by ``Rule``."""

    def __init__(self, plan: Planner) -> None:
        self.plan = plan

    def _run_until(self, trial: Trial, stop: Callable[[Trial], bool]) -> None:
        rule = self.plan.rule
        while trial.verdict is None:
            k, n = trial.successes, len(trial.outcomes)
            decided = rule.decided(k, n)
            if decided is not None:
                trial.verdict, trial.clear = decided
                return
            if stop(trial):
                return
            more = rule.next_batch(k, n)
            trial.outcomes.extend(self.plan.runner(trial.scenario, n, more, trial.label))
            self.plan.replications += more

    def screen(self, point: Point) -> Verdict:
        trial = self.plan.trial(point)
        rule = self.plan.rule

        def provisional(t: Trial) -> bool:
            n = len(t.outcomes)
            return n >= rule.first and rule.leans_feasible(t.successes, n)

        self._run_until(trial, provisional)
        if trial.verdict is None:
            return Verdict.LIKELY
        return trial.verdict

    def certify(self, point: Point) -> bool:
        trial = self.plan.trial(point)
        self._run_until(trial, lambda t: False)
        return trial.verdict is Verdict.FEASIBLE


class Planner:
    """The state of one plan: the fields, the candidates met, the runner."""

    def __init__(
        self,
        scenario: Scenario,
        fields: Sequence[VariedField],
        runner: Runner,
        rule: Rule,
    ) -> None:
        self.scenario = scenario
        self.fields = list(fields)
        self.runner = runner
        self.rule = rule
        self.trials: dict[Point, Trial] = {}
        self.replications = 0
        self.costs = Costs([[f.cost(i) for i in range(len(f.values))] for f in fields])

    def setting(self, point: Point) -> dict[str, Any]:
        return {f.path: f.values[i] for f, i in zip(self.fields, point, strict=True)}

    def scenario_at(self, point: Point) -> Scenario:
        definition = self.scenario.definition
        for f, i in zip(self.fields, point, strict=True):
            definition = set_value(definition, f.path, f.setting(f.values[i]))
        base_dir = Path(self.scenario.base_dir) if self.scenario.base_dir else None
        return parse_scenario(definition, base_dir=base_dir, source=self.scenario.name)

    def trial(self, point: Point) -> Trial:
        if point not in self.trials:
            self.trials[point] = Trial(
                point=point,
                setting=self.setting(point),
                cost=self.costs(point),
                scenario=self.scenario_at(point),
                order=len(self.trials),
            )
        return self.trials[point]


__all__ = [
    "Job",
    "LocalRunner",
    "Oracle",
    "Outcome",
    "Planner",
    "Rule",
    "Runner",
    "Trial",
    "outcome",
]
