"""``sim.plan``: the fields a plan varies, their costs, and the answer against brute force.

The simulated plans use the small campaign (tests/sim/factories.py, 8 days, fast mode,
~0.05 s a replication): its target of 45,000 cards by 8 March is reached or not depending on
its printers and on the date of its chip delivery.
"""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sim.plan import LocalRunner, Outcome, PlanError, Rule, plan, varied_field
from sim.plan_report import plan_text, render_plan, tranche_text
from sim.scenario import Scenario, ScenarioError
from sim.stats import wilson_interval
from tests.sim.factories import campaign
from tests.sim.pdfcheck import assert_readable

DEADLINE = date(2021, 3, 7)
VARY = ["line.stages.print.machines=1..3", "chips.deliveries.first.date=2021-03-01..2021-03-06"]
PROBABILITY, MOST = 0.8, 30


def small(**overrides: Any) -> Scenario:
    return campaign(target={"cards": 45_000, "by": "2021-03-08"}, **overrides)


class SharedRunner:
    """A ``LocalRunner`` that remembers outcomes by (setting, replication): both searches
    see the very same replications, and the second one costs nothing it already ran."""

    def __init__(self) -> None:
        self.local = LocalRunner(seed=1, mode="fast", days=7, cards=45_000, workers=2)
        self.seen: dict[tuple[str, int], Outcome] = {}
        self.runs = 0

    def __call__(self, scenario: Scenario, first: int, count: int, label: str) -> list[Outcome]:
        wanted = [i for i in range(first, first + count) if (label, i) not in self.seen]
        if wanted:
            self.runs += len(wanted)
            start = wanted[0]
            for o in self.local(scenario, start, wanted[-1] - start + 1, label):
                self.seen[(label, o.replication)] = o
        return [self.seen[(label, i)] for i in range(first, first + count)]


@pytest.fixture(scope="module")
def both() -> tuple[dict[str, Any], dict[str, Any], SharedRunner]:
    shared = SharedRunner()
    try:
        grid = plan(small(), VARY, probability=PROBABILITY, max_replications=MOST,
                    search="grid", runner=shared)  # fmt: skip
        after_grid = shared.runs
        walk = plan(small(), VARY, probability=PROBABILITY, max_replications=MOST,
                    search="frontier", runner=shared)  # fmt: skip
        assert shared.runs == after_grid  # the walk asked for nothing brute force had not run
    finally:
        shared.local.close()
    return grid, walk, shared


def test_the_frontier_walk_finds_the_setting_brute_force_finds(
    both: tuple[dict[str, Any], dict[str, Any], SharedRunner],
) -> None:
    grid, walk, _ = both
    assert grid["search"] == "grid" and walk["search"] == "frontier"
    assert grid["evaluated"] == grid["grid"] == 18  # every setting decided
    # the premise of the frontier walk holds on this grid: more printers or an earlier
    # delivery never turn a decision from reached to not reached
    decided = {
        (c["setting"][VARY[0].split("=")[0]], c["setting"][VARY[1].split("=")[0]]): c["decision"]
        for c in grid["candidates"]
    }
    dates = sorted({d for _, d in decided})
    for (m, d), decision in decided.items():
        if decision == "reached":
            for m2, d2 in itertools.product(range(m, 4), [x for x in dates if x <= d]):
                assert decided[(m2, d2)] == "reached"
    assert grid["best"] is not None
    assert walk["best"]["setting"] == grid["best"]["setting"]
    assert walk["best"]["cost"] == grid["best"]["cost"]
    # brute force by hand: the cheapest reached setting of the grid
    cheapest = min((c for c in grid["candidates"] if c["decision"] == "reached"),
                   key=lambda c: (c["cost"], -c["probability"]))  # fmt: skip
    assert cheapest["cost"] == grid["best"]["cost"]
    assert walk["evaluated"] < grid["evaluated"] and walk["replications"] < grid["replications"]


def test_the_best_is_proved_and_each_cheaper_neighbour_failed(
    both: tuple[dict[str, Any], dict[str, Any], SharedRunner],
) -> None:
    _, walk, _ = both
    best = walk["best"]
    assert best["decision"] == "reached"
    k, n = best["reached"], best["replications"]
    low, high = wilson_interval(k, n, 0.95)
    assert (best["interval"]["low"], best["interval"]["high"]) == pytest.approx((low, high))
    assert best["probability"] == pytest.approx(k / n)
    assert low >= PROBABILITY or (n == MOST and k / n >= PROBABILITY)  # clear, or at the most
    assert walk["neighbours"]
    for neighbour in walk["neighbours"]:
        assert neighbour["decision"] == "not reached" and neighbour["cost"] < best["cost"]
        changed = [p for p, v in neighbour["setting"].items() if v != best["setting"][p]]
        assert len(changed) == 1  # one step cheaper in one field
    # the chip tranche: the latest date on the grid, and the next later date fails
    (tranche,) = walk["tranches"]
    assert tranche["delivery"] == "first" and tranche["quantity"] == 40_000
    assert tranche["latest"] == best["setting"]["chips.deliveries.first.date"]
    later = tranche["later"]
    if later is not None:
        assert later["date"] > tranche["latest"] and later["probability"] < PROBABILITY
    assert tranche["latest"] in plan_text(walk) or "Mar 2021" in tranche_text(walk, tranche)


def test_the_document_is_json_with_the_documented_fields(
    both: tuple[dict[str, Any], dict[str, Any], SharedRunner],
) -> None:
    _, walk, _ = both
    assert json.loads(json.dumps(walk)) == walk
    assert walk["schema"] == "cardline.plan/1"
    assert set(walk) == {
        "schema", "scenario", "description", "seed", "mode", "target", "probability",
        "confidence", "min_replications", "max_replications", "search", "currency",
        "fields", "grid", "evaluated", "replications", "best", "neighbours", "tranches",
        "candidates", "violations",
    }  # fmt: skip
    assert walk["target"] == {"cards": 45_000, "by": "2021-03-08", "deadline": "2021-03-07"}
    assert set(walk["best"]) == {
        "setting", "cost", "probability", "interval", "replications", "reached", "decision",
        "clear", "cards_by_deadline", "stall_days", "target_date",
    }  # fmt: skip
    machines, when = walk["fields"]
    assert (machines["kind"], machines["values"], machines["cheaper"]) == ("integer", 3, "lower")
    assert (when["kind"], when["values"], when["cheaper"]) == ("date", 6, "later")
    assert machines["cost_from"] == "1 per unit (no costs block)"
    assert walk["replications"] == sum(c["replications"] for c in walk["candidates"])


def test_costs_come_from_the_scenario_and_the_best_is_the_cheapest_by_them() -> None:
    """A printer dearer than five days of a delivery: the answer moves from printers to
    an earlier delivery, and its cost is the units times their prices."""
    costs = {"currency": "USD", "machine": {"print": 500.0}, "delivery_day": 40.0}
    scenario = small(costs=costs)
    walk = plan(
        scenario, VARY, probability=PROBABILITY, max_replications=MOST, mode="fast", workers=2
    )
    best = walk["best"]
    m, d = best["setting"].values()
    units = (m - 1) * 500.0 + (date(2021, 3, 6) - date.fromisoformat(d)).days * 40.0
    assert best["cost"] == pytest.approx(units)
    assert walk["currency"] == "USD"
    assert [f["cost_from"] for f in walk["fields"]] == [
        "costs.machine.print",
        "costs.delivery_day",
    ]
    assert m == 1  # the printer is not worth it here


def test_the_plan_pdf_shows_the_answer_and_every_setting_and_nothing_is_cut(
    both: tuple[dict[str, Any], dict[str, Any], SharedRunner], tmp_path: Path
) -> None:
    _, walk, _ = both
    out = render_plan(walk, tmp_path / "plan.pdf")
    text = assert_readable(out)
    assert "What it takes to reach 45,000 cards by 8 Mar 2021" in text
    assert "The cheapest setting: cost" in text
    assert "line.stages.print.machines" in text and "chips.deliveries.first.date" in text
    assert "Why it is the cheapest" in text and "Chip orders" in text
    assert f"{walk['best']['reached']} of {walk['best']['replications']} replications" in text
    assert "Every setting simulated, cheapest first" in text
    for c in walk["candidates"]:
        assert c["decision"] in text


def test_sequential_batches_stop_as_soon_as_the_interval_is_clear() -> None:
    rule = Rule(0.9, 0.95, first=4, most=60)
    assert rule.next_batch(0, 0) == 4
    assert rule.decided(0, 4) is not None  # 0 of 4: clearly below 0.9
    assert rule.decided(4, 4) is None  # 4 of 4: not yet proved
    assert rule.next_batch(4, 4) == 31  # 35 straight successes clear 0.9 at 95 %
    assert rule.decided(35, 35) is not None and rule.decided(34, 34) is None
    verdict, clear = rule.decided(50, 60)  # type: ignore[misc]
    assert not clear and verdict.value == "infeasible"  # at the most: the estimate decides


def test_fields_and_ranges_are_checked_naming_the_field() -> None:
    scenario = small()
    cases = [
        ("line.stages.print.machines", "--vary"),
        ("line.stages.printer.machines=1..3", "line.stages.printer.machines"),
        ("chips.deliveries.second.date=2021-03-01..2021-03-05", "chips.deliveries.second.date"),
        ("line.stages.print.machines=3..1", "--vary line.stages.print.machines"),
        ("line.stages.print.machines=1..x", "--vary line.stages.print.machines"),
        (
            "chips.deliveries.first.date=2021-03-01..2021-02-30",
            "--vary chips.deliveries.first.date",
        ),
        ("line.stages.print.failure_rate=0..0.1", "--vary line.stages.print.failure_rate"),
        ("line.calendar.shifts=1..4", "--vary line.calendar.shifts"),
        ("line.stages.print.machines=0..2", "line.stages.print.machines"),
    ]
    for text, field in cases:
        with pytest.raises(ScenarioError) as caught:
            plan(scenario, [text], max_replications=4, mode="fast", workers=1)
        assert caught.value.field == field, text
    with pytest.raises(PlanError, match="there are: first"):
        plan(scenario, ["chips.deliveries.second.date=2021-03-01..2021-03-05"], mode="fast")
    with pytest.raises(PlanError) as caught:
        plan(campaign(target={"cards": 9, "by": None}), VARY, mode="fast", workers=1)
    assert caught.value.field == "target.by"
    with pytest.raises(PlanError) as caught:
        plan(campaign(target={"cards": 9, "by": "2021-03-20"}), VARY, mode="fast", workers=1)
    assert caught.value.field == "days"
    with pytest.raises(PlanError) as caught:  # a costs block without the price of a printer
        plan(small(costs={"chip": 1.0}), VARY, mode="fast", workers=1)
    assert caught.value.field == "costs.machine"


def test_a_shift_count_and_a_calendar_change_cost_shift_days() -> None:
    night = {
        "shifts": [
            {"name": "early", "start": "06:00", "end": "14:00", "break_minutes": 30},
            {"name": "late", "start": "14:00", "end": "22:00", "break_minutes": 30},
            {"name": "night", "start": "22:00", "end": "06:00", "break_minutes": 30},
        ]
    }
    scenario = small(
        costs={"shift_day": 10.0},
        changes=[{"from": "2021-03-05", "line": {"calendar": night}}],
    )
    shifts = varied_field(scenario, "line.calendar.shifts=1..2", DEADLINE)
    assert shifts.kind == "count" and shifts.monotone and shifts.values == (1, 2)
    # one more shift on each working day before the change (1-4 March): 4 shift-days
    assert shifts.unit_cost == 40.0 and shifts.cost(1) == 40.0
    assert [s["name"] for s in shifts.setting(1)] == ["early"]
    start = varied_field(scenario, "changes.0.from=2021-03-02..2021-03-06", DEADLINE)
    assert start.kind == "date" and start.values[0] == date(2021, 3, 6)  # latest is cheapest
    assert start.unit_cost == 10.0  # the change adds one shift a day
    assert start.cost(4) == 40.0  # four days earlier
