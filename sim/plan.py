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

This module makes the plan and its document; ``sim.plan_fields`` reads the varied fields
and their costs, ``sim.plan_trials`` plays and decides one candidate, ``sim.plan_report``
writes the plan's text and PDF.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Literal

from sim.errors import PlanError
from sim.plan_fields import (
    VariedField,
    current_value,
    parse_vary,
    set_value,
    show_value,
    varied_field,
)
from sim.plan_trials import LocalRunner, Oracle, Outcome, Planner, Rule, Runner, Trial, outcome
from sim.run import Mode, pick_mode
from sim.scenario import Scenario
from sim.search import FrontierSearch, Point, Verdict, grid_search
from sim.stats import t_interval, wilson_interval

SCHEMA = "cardline.plan/1"

Search = Literal["auto", "frontier", "grid"]

MAX_GRID_SEARCH = 5_000
"""The most settings a grid search decides (each may take up to max_replications runs)."""

MAX_OUTER = 20_000
"""The most columns a frontier walk may enumerate (every field but the longest)."""


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
    _check_options(probability, confidence, min_replications, max_replications, vary)
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
    try:
        best, neighbours, violations = _search(strategy, planner, sizes)
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


def _check_options(
    probability: float,
    confidence: float,
    min_replications: int,
    max_replications: int,
    vary: Sequence[str],
) -> None:
    """Refuse options no plan can be made with, naming the option, before any run."""
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


def _search(
    strategy: str, planner: Planner, sizes: Sequence[int]
) -> tuple[Point | None, list[Point], int]:
    """(best, its neighbours one step cheaper, monotonicity violations) by ``strategy``;
    the neighbours are decided already, but proved too, for the report."""
    oracle = Oracle(planner)
    violations = 0
    if strategy == "grid":
        best = grid_search(sizes, planner.costs, oracle)
        neighbours = _neighbours(best)
    else:
        monotone = [f.monotone for f in planner.fields]
        walk = FrontierSearch(sizes, monotone, planner.costs, oracle)
        best = walk.run()
        violations = walk.violations
        neighbours = walk.neighbours(best) if best is not None else []
    for point in neighbours:
        oracle.certify(point)
    return best, neighbours, violations


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
        "setting": {path: show_value(v) for path, v in trial.setting.items()},
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
                "date": show_value(trial.setting[field_.path]),
                "probability": k / n if n else None,
                "replications": n,
            }
        out.append(
            {
                "delivery": name,
                "quantity": delivery.quantity,
                "quantity_varied": f"chips.deliveries.{name}.quantity" in setting,
                "latest": show_value(setting[field_.path]),
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
    "Runner",
    "Search",
    "VariedField",
    "candidate_dict",
    "current_value",
    "deadline_of",
    "outcome",
    "parse_vary",
    "plan",
    "set_value",
    "varied_field",
]
