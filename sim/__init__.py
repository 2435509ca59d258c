"""The capacity-planning simulator: the line's own ``LineSpec`` played forward in time.

    from sim import load_scenario, replicate, summarise
    scenario = load_scenario("plan-2021")               # or a path to a scenario YAML
    slipped = scenario.with_overrides({"chips": {"deliveries": {"april": {"slip_days": 21}}}})
    runs = replicate(scenario, 10, seed=1)               # parallel, one process per core
    print(summarise(runs).to_json(indent=2))             # means and 95 % t-intervals

The model is built from the scenario's line spec, never from a second description of the line:
the stages' machines and processing-time distributions, their spoilage rates routed by
``line.routing.next_stage`` (the controller's decision), the per-machine breakdowns and the
shift calendar of the spec, chip supply (opening stock, deliveries with random delays; no card
starts without a chip), the spec's allocation policy under shortage, demand (an opening backlog
and arrivals with a weekly and an hourly profile) and dispatch in daily batches per destination.

Two modes, one entry point (``simulate``/``replicate``, ``mode=``):

- ``"cards"``: SimPy, card by card (``sim.cards``). Every card is a process step at every
  stage, with its own processing time and defect draw; queues and waits are exact. About
  25,000-30,000 cards a second on one core here. The right mode for validation, for questions
  about queues and waits (WIP, waits before a stage, a stage's utilisation under random
  arrivals), and for runs up to a million or two cards.
- ``"fast"``: time steps of an hour or less (``sim.fast``). Stages pass whole cards in bulk at
  the rate their machines' up time allows; the same calendar, breakdown schedules, deliveries,
  arrivals, allocation and routing. A 120-day campaign of 50 million cards takes seconds. The
  right mode for national campaigns and many what-ifs: throughput, cumulative cards, target
  dates, chip stalls, chips consumed and spoiled agree with card mode (``bench/sim.py``);
  waits before the downstream stages and WIP are approximations (see ``sim.fast``).
- ``"auto"`` (default): card mode up to ``AUTO_FAST_ABOVE`` expected applications, fast above.

Replications use common random numbers (``sim.streams``): one seeded stream per purpose, so
scenarios run with the same seed see the same delays, breakdowns and arrivals where they share
structure; a replication depends only on (seed, index), whatever the number of workers.

On top of that, for planners:

- ``sim.comparison``: paired differences between scenarios, replication by replication
  (paired-t intervals), and replications added until a target date is precise enough;
- ``sim.plan``: the goal seek (``cardline plan``): the cheapest setting of some scenario
  fields that reaches the target in time with a wanted probability; ``sim.plan_fields``
  reads the fields it varies, ``sim.plan_trials`` decides each candidate, ``sim.search``
  holds its searches, ``sim.plan_report`` its PDF (its text in ``sim.plan_text``, its
  charts in ``sim.plan_charts``);
- ``sim.report``: the forecast document; ``sim.report_text`` its text, ``sim.report_pdf``
  its PDF with the charts of ``sim.report_charts`` (``sim.pdf``: drawing helpers);
- ``sim.history``: the published figures of the 2021 drive, and the fit of ``history-2021``.
"""

from sim.errors import SimError
from sim.results import DayResult, RunResult, StageResult, StageSummary, Summary, Totals, summarise
from sim.run import AUTO_FAST_ABOVE, Mode, compare, pick_mode, replicate, simulate
from sim.scenario import (
    Chips,
    Costs,
    Delivery,
    Demand,
    Group,
    Scenario,
    ScenarioError,
    SpecChange,
    Target,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)
from sim.stats import Interval, t_interval

__all__ = [
    "AUTO_FAST_ABOVE",
    "Chips",
    "Costs",
    "DayResult",
    "Delivery",
    "Demand",
    "Group",
    "Interval",
    "Mode",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "SimError",
    "SpecChange",
    "StageResult",
    "StageSummary",
    "Summary",
    "Target",
    "Totals",
    "builtin_scenarios",
    "compare",
    "load_scenario",
    "parse_scenario",
    "pick_mode",
    "replicate",
    "simulate",
    "summarise",
    "t_interval",
]
