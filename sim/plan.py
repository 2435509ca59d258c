"""Goal seek: the cheapest setting of some scenario fields that reaches the target in time.

``cardline plan SCENARIO --vary PATH=LOW..HIGH[:STEP] ...`` answers "what does it take?":
the cheapest setting of the varied fields for which the scenario's target (``target.cards``
good cards by ``target.by``, i.e. by the end of the day before) is reached with probability
at least ``P``. ``PATH`` is a dotted path into the scenario, as a scenario file spells it::

    line.stages.chip-encode.machines=56..76:4     # integers (step 1 by default)
    chips.deliveries.june.quantity=0..20000000:2000000
    chips.deliveries.june.date=2021-05-01..2021-06-10:5    # dates (step in days)
    line.calendar.shifts=2..3                     # a list: its first N entries (shift count)
    changes.0.from=2021-04-01..2021-05-10:7       # when a change of the line starts

**Costs.** Each unit of a varied field costs what the scenario's ``costs:`` block says (the
rule that applies to a path, first match):

- ``costs.fields.<path>``: per unit of that path;
- ``...machines``: ``costs.machine`` (a number, or one per stage), per machine;
- ``...calendar.shifts`` (a count): ``costs.shift_day`` per shift per working day the
  calendar is in force before the deadline;
- ``changes.N.from``: ``costs.shift_day`` x the shifts change N adds, per day earlier;
- ``chips.opening_stock``, ``chips.deliveries.X.quantity``: ``costs.chip`` per chip;
- ``chips.deliveries.X.date``, ``...slip_days``: ``costs.delivery_day`` (a number, or one per
  delivery), per day earlier.

With no ``costs:`` block every unit of every varied field costs 1 (a machine, a chip, a day).
A setting's cost is what it adds over the cheapest end of every range (a date's cheapest end
is its latest); anything else a plan varies needs ``costs.fields``.

**Which way is cheaper, and monotone.** Machines, chips, shifts: fewer is cheaper. Dates of
deliveries and changes, slips, failure rates: later (higher) is cheaper. For all of these the
target is taken to be *monotone*: paying more never makes it harder. The search uses that
(``sim.search.frontier_search``); fields the model knows no direction for (a service time, a
demand figure) are enumerated value by value (``sim.search.grid_search`` on them), and
``search="grid"`` enumerates every field (brute force: every setting decided).

**Efficient.** Every candidate runs replications ``0, 1, 2, ...`` with the same seed:
common random numbers across candidates, so two settings differ by the change alone. A
candidate's replications are added in batches only while its decision is open: it stops
once the Wilson interval of its probability (``confidence``, 95 %) lies wholly above or below
``P``, or at ``max_replications`` (then the point estimate decides, marked not ``clear``).
The next batch is the fewest replications that could close the decision if they all went
the way the candidate leans (at least one per worker). A candidate whose first replications
all reach the target is only *screened*: proving it needs many more (35 straight successes
for P = 0.9), so only the cheapest of them is proved (``sim.search``). Each replication plays
the days up to the deadline only.

``plan(...)`` returns the document, schema ``cardline.plan/1`` (see the README)::

    {"schema": "cardline.plan/1", "scenario", "description", "seed", "mode",
     "target": {"cards", "by", "deadline"}, "probability", "confidence",
     "min_replications", "max_replications", "search": "frontier" | "grid" | ...,
     "currency": str, "fields": [field...], "grid": int, "evaluated": int,
     "replications": int, "best": candidate | null, "neighbours": [candidate...],
     "tranches": [tranche...], "candidates": [candidate...], "violations": int}
"""

from __future__ import annotations

import copy
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sim.clock import DAY
from sim.errors import PlanError
from sim.results import STALL_FRACTION
from sim.run import Mode, pick_mode, play
from sim.scenario import Scenario, parse_scenario
from sim.search import Costs, FrontierSearch, Point, Verdict, grid_search
from sim.stats import t_interval, wilson_interval

SCHEMA = "cardline.plan/1"

Kind = Literal["integer", "number", "date", "count"]
Search = Literal["auto", "frontier", "grid"]

MAX_GRID_SEARCH = 5_000
"""The most settings a grid search decides (each may take up to max_replications runs)."""

MAX_OUTER = 20_000
"""The most columns a frontier walk may enumerate (every field but the longest)."""


# --- fields -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariedField:
    """One varied field: its ladder of values, cheapest first, and what a unit costs."""

    path: str
    kind: Kind
    low: Any
    high: Any
    step: Any
    values: tuple[Any, ...]  # cheapest first
    monotone: bool
    cheaper: Literal["lower", "higher", "later"]
    unit_cost: float
    cost_from: str
    options: tuple[Any, ...] = ()  # count: the list whose first N entries are taken

    def units(self, index: int) -> float:
        """Units of this field a value adds over the cheapest end (days for a date)."""
        first, value = self.values[0], self.values[index]
        if self.kind == "date":
            return float((first - value).days)
        return float(abs(value - first))

    def cost(self, index: int) -> float:
        return self.units(index) * self.unit_cost

    def setting(self, value: Any) -> Any:
        """The value as the scenario's data holds it (a date as ISO text, a count as its
        list)."""
        if self.kind == "date":
            return value.isoformat()
        if self.kind == "count":
            return copy.deepcopy(list(self.options[:value]))
        return value

    def as_dict(self) -> dict[str, Any]:
        def show(v: Any) -> Any:
            return v.isoformat() if isinstance(v, date) else v

        return {
            "path": self.path,
            "kind": self.kind,
            "low": show(self.low),
            "high": show(self.high),
            "step": self.step,
            "values": len(self.values),
            "monotone": self.monotone,
            "cheaper": self.cheaper,
            "unit_cost": self.unit_cost,
            "cost_from": self.cost_from,
        }


VARY = re.compile(r"^(?P<path>[^=]+)=(?P<low>[^.][^:]*?)\.\.(?P<high>[^:]+)(:(?P<step>.+))?$")


def parse_vary(text: str) -> tuple[str, str, str, str | None]:
    """``PATH=LOW..HIGH[:STEP]`` into its parts."""
    match = VARY.match(text.strip())
    if not match:
        raise PlanError(
            f"expected PATH=LOW..HIGH or PATH=LOW..HIGH:STEP, got {text!r}", field="--vary"
        )
    return match["path"].strip(), match["low"].strip(), match["high"].strip(), match["step"]


_MISSING = object()


def _lookup(data: Any, parts: Sequence[str]) -> Any:
    for part in parts:
        if isinstance(data, Mapping):
            if part not in data:
                return _MISSING
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def _spec_data(scenario: Scenario, parts: Sequence[str]) -> tuple[Any, Sequence[str]]:
    """The full line spec (as data) a ``line.`` or ``changes.N.line.`` path reads from."""
    if parts[0] == "line":
        return scenario.spec.model_dump(mode="json"), parts[1:]
    if parts[0] == "changes" and len(parts) > 2 and parts[1].isdigit() and parts[2] == "line":
        i = int(parts[1])
        if i < len(scenario.changes):
            return scenario.changes[i].spec.model_dump(mode="json"), parts[3:]
    return _MISSING, parts


def current_value(scenario: Scenario, path: str) -> Any:
    """What the scenario has at ``path`` (its file's data, else its full line spec)."""
    parts = path.split(".")
    value = _lookup(scenario.definition, parts)
    if value is _MISSING:
        data, rest = _spec_data(scenario, parts)
        value = _MISSING if data is _MISSING else _lookup(data, rest)
    if value is _MISSING:
        raise PlanError(_missing_reason(scenario, parts), field=path, source=scenario.name)
    return value


def _missing_reason(scenario: Scenario, parts: Sequence[str]) -> str:
    for depth in range(len(parts) - 1, -1, -1):
        above = _lookup(scenario.definition, parts[:depth])
        if above is _MISSING:
            data, rest = _spec_data(scenario, parts[:depth]) if depth else (_MISSING, ())
            above = _MISSING if data is _MISSING else _lookup(data, rest)
        if isinstance(above, Mapping):
            names = ", ".join(sorted(str(k) for k in above)) or "none"
            return f"no field {parts[depth]!r} here (there are: {names})"
    return "no such field in the scenario"


def set_value(definition: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``definition`` with ``value`` at ``path`` (mappings made as needed)."""
    result = copy.deepcopy(dict(definition))
    node: Any = result
    parts = path.split(".")
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
            continue
        child = node.get(part)
        if not isinstance(child, (dict, list)):
            child = {}
            node[part] = child
        node = child
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return result


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _number(text: str, kind: Kind, path: str) -> Any:
    cleaned = text.replace(",", "").replace("_", "")
    try:
        if kind in ("integer", "count"):
            number = float(cleaned)
            if number != int(number):
                raise ValueError
            return int(number)
        return float(cleaned)
    except ValueError:
        what = "a whole number" if kind in ("integer", "count") else "a number"
        raise PlanError(f"{text!r} is not {what}", field=f"--vary {path}") from None


def _direction(path: str, kind: Kind) -> tuple[bool, Literal["lower", "higher", "later"]]:
    """Whether the target is monotone in the field, and which way is cheaper."""
    parts = path.split(".")
    last = parts[-1]
    if kind == "date":
        delivery = len(parts) == 4 and parts[:2] == ["chips", "deliveries"] and last == "date"
        change = len(parts) == 3 and parts[0] == "changes" and last == "from"
        return delivery or change, "later"
    if last in ("slip_days", "failure_rate"):
        return True, "higher"
    if last in ("machines", "quantity") or path == "chips.opening_stock":
        return True, "lower"
    if kind == "count" and path.endswith("calendar.shifts"):
        return True, "lower"
    return False, "lower"


def _ladder(low: Any, high: Any, step: Any, kind: Kind, path: str) -> list[Any]:
    if kind == "date":
        days = (high - low).days
        return [low + timedelta(days=d) for d in range(0, days + 1, step)]
    if kind == "number":
        count = math.floor((high - low) / step + 1e-9)
        return [low + i * step for i in range(count + 1)]
    return list(range(low, high + 1, step))


def varied_field(scenario: Scenario, text: str, deadline: date) -> VariedField:
    """One ``--vary PATH=LOW..HIGH[:STEP]`` against ``scenario``: its ladder and unit cost."""
    path, low_text, high_text, step_text = parse_vary(text)
    where = f"--vary {path}"
    current = current_value(scenario, path)
    options: tuple[Any, ...] = ()
    kind: Kind
    if isinstance(current, bool):
        raise PlanError("a yes/no field cannot be varied as a range", field=where)
    if isinstance(current, list):
        kind, options = "count", tuple(current)
    elif isinstance(current, int):
        kind = "integer"
    elif isinstance(current, float):
        kind = "number"
    elif _as_date(current) is not None:
        kind = "date"
    else:
        raise PlanError(
            "can vary a number, a date or a list (by its count), not this field", field=where
        )
    low: Any
    high: Any
    if kind == "date":
        low, high = _as_date(low_text), _as_date(high_text)
        if low is None or high is None:
            raise PlanError(f"{low_text}..{high_text}: dates are YYYY-MM-DD", field=where)
        step = 1 if step_text is None else _number(step_text, "integer", path)
    else:
        low, high = _number(low_text, kind, path), _number(high_text, kind, path)
        if step_text is None and kind == "number":
            raise PlanError(
                "a range of fractional numbers needs a step: LOW..HIGH:STEP", field=where
            )
        step = 1 if step_text is None else _number(step_text, kind, path)
    if step <= 0:
        raise PlanError("the step must be more than 0", field=where)
    if high < low:
        raise PlanError(f"HIGH ({high_text}) is below LOW ({low_text})", field=where)
    if kind == "count" and (low < 1 or high > len(options)):
        raise PlanError(
            f"a count of the list's entries: 1..{len(options)} (it has {len(options)})",
            field=where,
        )
    values = _ladder(low, high, step, kind, path)
    monotone, cheaper = _direction(path, kind)
    if cheaper in ("later", "higher"):
        values.reverse()
    unit_cost, cost_from = unit_cost_of(scenario, path, kind, deadline, options, low)
    return VariedField(
        path=path,
        kind=kind,
        low=low,
        high=high,
        step=step,
        values=tuple(values),
        monotone=monotone,
        cheaper=cheaper,
        unit_cost=unit_cost,
        cost_from=cost_from,
        options=options,
    )


def _per_name(value: float | dict[str, float] | None, name: str) -> float | None:
    if isinstance(value, dict):
        return value.get(name)
    return value


def _working_days(scenario: Scenario, first: date, last: date) -> int:
    return sum(
        1
        for d in range((last - first).days + 1)
        if scenario.calendar_on(first + timedelta(days=d)).is_working_day(first + timedelta(days=d))
    )


def unit_cost_of(
    scenario: Scenario, path: str, kind: Kind, deadline: date, options: tuple[Any, ...], low: Any
) -> tuple[float, str]:
    """What one unit of ``path`` costs, and which rule of ``costs:`` said so."""
    costs = scenario.costs
    if costs is None:
        return 1.0, "1 per unit (no costs block)"
    if path in costs.fields:
        return costs.fields[path], f"costs.fields.{path}"
    parts = path.split(".")
    last = parts[-1]

    def need(value: float | None, name: str) -> float:
        if value is None:
            raise PlanError(
                f"the scenario has no {name} for --vary {path}: add it, or costs.fields",
                field=name,
                source=scenario.name,
            )
        return value

    if last == "machines" and len(parts) >= 2:
        stage = parts[-2]
        name = f"costs.machine.{stage}" if isinstance(costs.machine, dict) else "costs.machine"
        return need(_per_name(costs.machine, stage), name), name
    if kind == "count" and path.endswith("calendar.shifts"):
        per = need(costs.shift_day, "costs.shift_day")
        first, last_day = _in_force(scenario, parts, deadline)
        days = _working_days(scenario, first, last_day)
        return per * days, f"costs.shift_day x {days} working days"
    if kind == "date" and parts[0] == "changes" and last == "from":
        per = need(costs.shift_day, "costs.shift_day")
        i = int(parts[1])
        before = scenario.changes[i - 1].spec if i > 0 else scenario.spec
        extra = len(scenario.changes[i].spec.calendar.shifts) - len(before.calendar.shifts)
        if extra <= 0:
            raise PlanError(
                "this change adds no shift: give its cost per day in costs.fields",
                field=f"costs.fields.{path}",
                source=scenario.name,
            )
        return per * extra, f"costs.shift_day x {extra} shift(s) a day"
    if last == "quantity" or path == "chips.opening_stock":
        return need(costs.chip, "costs.chip"), "costs.chip"
    if parts[:2] == ["chips", "deliveries"] and last in ("date", "slip_days"):
        name = (
            f"costs.delivery_day.{parts[2]}"
            if isinstance(costs.delivery_day, dict)
            else "costs.delivery_day"
        )
        return need(_per_name(costs.delivery_day, parts[2]), name), name
    raise PlanError(
        "no cost rule for this field: give its cost per unit in costs.fields",
        field=f"costs.fields.{path}",
        source=scenario.name,
    )


def _in_force(scenario: Scenario, parts: Sequence[str], deadline: date) -> tuple[date, date]:
    """The days (first, last) the calendar at ``parts`` is in force, up to the deadline."""
    starts = [scenario.start, *(c.on for c in scenario.changes)]
    i = int(parts[1]) + 1 if parts[0] == "changes" else 0
    end = starts[i + 1] - timedelta(days=1) if i + 1 < len(starts) else deadline
    return max(starts[i], scenario.start), min(end, deadline)


# --- one candidate ----------------------------------------------------------------------------


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
            parts.append(f"{short}={_show(value)}")
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


# --- the plan ---------------------------------------------------------------------------------


def deadline_of(scenario: Scenario) -> tuple[int, int, date]:
    """(target cards, days to play, deadline) of a scenario a plan can be made for."""
    target = scenario.target
    if target is None or target.by is None or target.deadline is None:
        raise PlanError(
            "a plan needs a target with a date: target: {cards: N, by: YYYY-MM-DD}",
            field="target.by",
            source=scenario.name,
        )
    days = (target.deadline - scenario.start).days + 1
    if days < 1:
        raise PlanError(
            f"the target's date is not after the start ({scenario.start})",
            field="target.by",
            source=scenario.name,
        )
    if days > scenario.days:
        raise PlanError(
            f"the run ends on {scenario.end - timedelta(days=1)}, before the deadline "
            f"{target.deadline}: give days: {days} or more",
            field="days",
            source=scenario.name,
        )
    return target.cards, days, target.deadline


def plan(
    scenario: Scenario,
    vary: Sequence[str],
    *,
    probability: float = 0.9,
    seed: int = 1,
    mode: Mode = "auto",
    max_replications: int = 60,
    min_replications: int = 4,
    confidence: float = 0.95,
    search: Search = "auto",
    workers: int | None = None,
    runner: Runner | None = None,
) -> dict[str, Any]:
    """The cheapest setting of the ``vary`` fields that reaches the target in time with
    ``probability`` (the document ``cardline.plan/1``; see the module docstring)."""
    if not 0 < probability < 1:
        raise PlanError(f"must be between 0 and 1, not {probability}", field="--probability")
    if not 0 < confidence < 1:
        raise PlanError(f"must be between 0 and 1, not {confidence}", field="--confidence")
    if min_replications < 1 or max_replications < min_replications:
        raise PlanError(
            f"must be at least the first batch ({min_replications})", field="--max-replications"
        )
    if not vary:
        raise PlanError("give at least one field to vary", field="--vary")
    cards, days, deadline = deadline_of(scenario)
    chosen = pick_mode(scenario, mode)
    fields = [varied_field(scenario, text, deadline) for text in vary]
    paths = [f.path for f in fields]
    if len(set(paths)) != len(paths):
        raise PlanError("a field is varied twice", field="--vary")
    sizes = [len(f.values) for f in fields]
    grid = math.prod(sizes)
    strategy = _strategy(search, fields, sizes, grid)
    workers = workers or os.cpu_count() or 1
    local = None
    if runner is None:
        local = LocalRunner(seed=seed, mode=chosen, days=days, cards=cards, workers=workers)
        runner = local
    planner = Planner(
        scenario,
        fields,
        runner,
        Rule(probability, confidence, min_replications, max_replications),
    )
    for point in (tuple(0 for _ in sizes), tuple(n - 1 for n in sizes)):
        planner.trial(point)  # both ends of every range are valid settings, or say which not
    oracle = Oracle(planner)
    violations = 0
    try:
        if strategy == "grid":
            best = grid_search(sizes, planner.costs, oracle)
            neighbours = _neighbours(best)
        else:
            walk = FrontierSearch(sizes, [f.monotone for f in fields], planner.costs, oracle)
            best = walk.run()
            violations = walk.violations
            neighbours = walk.neighbours(best) if best is not None else []
        for point in neighbours:  # decided already, but say so for the report
            oracle.certify(point)
    finally:
        if local is not None:
            local.close()
    return _document(
        planner,
        best,
        neighbours,
        strategy=strategy,
        seed=seed,
        mode=chosen,
        cards=cards,
        deadline=deadline,
        grid=grid,
        violations=violations,
    )


def _neighbours(best: Point | None) -> list[Point]:
    if best is None:
        return []
    return [
        tuple(v - 1 if f == g else v for g, v in enumerate(best))
        for f in range(len(best))
        if best[f]
    ]


def _strategy(
    search: Search, fields: Sequence[VariedField], sizes: Sequence[int], grid: int
) -> str:
    if search not in ("auto", "frontier", "grid"):
        raise PlanError(f"must be auto, frontier or grid, not {search!r}", field="--search")
    monotone = [f for f in fields if f.monotone]
    if search == "grid" or (search == "auto" and not monotone):
        if grid > MAX_GRID_SEARCH:
            raise PlanError(
                f"the grid has {grid:,} settings (at most {MAX_GRID_SEARCH:,} for a grid "
                "search): give coarser steps",
                field="--vary",
            )
        return "grid"
    if search == "frontier" and len(monotone) < len(fields):
        raise PlanError(
            "a frontier search needs fields the target is monotone in; "
            + ", ".join(f.path for f in fields if not f.monotone)
            + " is not known to be: use --search grid or auto",
            field="--search",
        )
    longest = max(len(f.values) for f in monotone)
    outer = grid // longest
    if outer > MAX_OUTER:
        raise PlanError(
            f"{outer:,} columns to walk (at most {MAX_OUTER:,}): give coarser steps",
            field="--vary",
        )
    return "frontier" if len(monotone) == len(fields) else "frontier+grid"


def _show(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def candidate_dict(
    trial: Trial, start: date, probability: float, confidence: float
) -> dict[str, Any]:
    k, n = trial.successes, len(trial.outcomes)
    low, high = wilson_interval(k, n, confidence)
    days = [float(o.day) for o in trial.outcomes if o.day is not None]
    when = None
    if days:
        span = t_interval(days, confidence)

        def day(x: float) -> str:
            return (start + timedelta(days=math.ceil(x - 1e-9) - 1)).isoformat()

        when = {"mean": day(span.mean), "low": day(span.low), "high": day(span.high)}
    if trial.verdict is None:
        decision = "screened"  # first replications all reached it; never had to be proved
    else:
        decision = "reached" if trial.verdict is Verdict.FEASIBLE else "not reached"
    return {
        "setting": {path: _show(v) for path, v in trial.setting.items()},
        "cost": trial.cost,
        "probability": k / n if n else None,
        "interval": {"low": low, "high": high},
        "replications": n,
        "reached": k,
        "decision": decision,
        "clear": trial.clear,
        "cards_by_deadline": t_interval([o.cards for o in trial.outcomes], confidence).as_dict()
        if n
        else None,
        "stall_days": t_interval([o.stall_days for o in trial.outcomes], confidence).as_dict()
        if n
        else None,
        "target_date": when,
    }


def _document(
    planner: Planner,
    best: Point | None,
    neighbours: Sequence[Point],
    *,
    strategy: str,
    seed: int,
    mode: str,
    cards: int,
    deadline: date,
    grid: int,
    violations: int,
) -> dict[str, Any]:
    scenario, rule = planner.scenario, planner.rule
    evaluated = [t for t in planner.trials.values() if t.outcomes]

    def as_dict(trial: Trial) -> dict[str, Any]:
        return candidate_dict(trial, scenario.start, rule.p, rule.confidence)

    assert scenario.target is not None and scenario.target.by is not None
    return {
        "schema": SCHEMA,
        "scenario": scenario.name,
        "description": scenario.description,
        "seed": seed,
        "mode": mode,
        "target": {
            "cards": cards,
            "by": scenario.target.by.isoformat(),
            "deadline": deadline.isoformat(),
        },
        "probability": rule.p,
        "confidence": rule.confidence,
        "min_replications": rule.first,
        "max_replications": rule.most,
        "search": strategy,
        "currency": scenario.costs.currency if scenario.costs else "",
        "fields": [f.as_dict() for f in planner.fields],
        "grid": grid,
        "evaluated": len(evaluated),
        "replications": planner.replications,
        "best": None if best is None else as_dict(planner.trials[best]),
        "neighbours": [as_dict(planner.trials[p]) for p in neighbours],
        "tranches": _tranches(planner, best, neighbours),
        "candidates": [as_dict(t) for t in sorted(evaluated, key=lambda t: t.order)],
        "violations": violations,
    }


def _tranches(
    planner: Planner, best: Point | None, neighbours: Sequence[Point]
) -> list[dict[str, Any]]:
    """For each delivery whose date was varied: how many chips, and the latest date (on the
    grid) for the target to hold, with the next later date's probability."""
    if best is None:
        return []
    out = []
    setting = planner.trials[best].setting
    chosen = planner.trials[best].scenario
    for f, field_ in enumerate(planner.fields):
        parts = field_.path.split(".")
        if not (len(parts) == 4 and parts[:2] == ["chips", "deliveries"] and parts[3] == "date"):
            continue
        name = parts[2]
        delivery = chosen.chips.deliveries[name]
        later = next((p for p in neighbours if p[f] == best[f] - 1), None)
        later_dict = None
        if later is not None:
            trial = planner.trials[later]
            k, n = trial.successes, len(trial.outcomes)
            later_dict = {
                "date": _show(trial.setting[field_.path]),
                "probability": k / n if n else None,
                "replications": n,
            }
        out.append(
            {
                "delivery": name,
                "quantity": delivery.quantity,
                "quantity_varied": f"chips.deliveries.{name}.quantity" in setting,
                "latest": _show(setting[field_.path]),
                "at_the_latest_of_range": best[f] == 0,
                "delay_mean_days": 0.0 if delivery.delay is None else delivery.delay.mean,
                "slip_days": delivery.slip_days,
                "later": later_dict,
            }
        )
    return out


__all__ = [
    "MAX_GRID_SEARCH",
    "SCHEMA",
    "LocalRunner",
    "Outcome",
    "PlanError",
    "Planner",
    "Rule",
    "VariedField",
    "current_value",
    "deadline_of",
    "outcome",
    "parse_vary",
    "plan",
    "set_value",
    "varied_field",
]
