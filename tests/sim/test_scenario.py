"""Scenario files: the shipped ones load and say what they change; bad ones name the field."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from line.types import Stage
from sim import ScenarioError, builtin_scenarios, load_scenario
from sim.clock import DAY
from sim.inputs import chip_arrivals


def test_every_shipped_scenario_loads() -> None:
    assert {
        "plan-2021",
        "history-2021",
        "slip-march-21d",
        "plus-2-encoders",
        "chip-defect-3pct",
        "third-shift-may",
    } <= set(builtin_scenarios())
    for name in builtin_scenarios():
        assert load_scenario(name).name == name


def test_base_2021_is_plan_2021_now_and_still_loads_by_its_old_name() -> None:
    assert "base-2021" not in builtin_scenarios()
    old = load_scenario("base-2021")
    assert old.name == "plan-2021" and old == load_scenario("plan-2021")
    assert "optimistic" in old.description


def test_the_what_ifs_change_what_they_say_and_nothing_else() -> None:
    base = load_scenario("plan-2021")
    assert base.spec.stage(Stage.ENCODE).machines == 56
    assert base.target is not None and base.target.cards == 50_000_000
    assert load_scenario("plus-2-encoders").spec.stage(Stage.ENCODE).machines == 58
    assert load_scenario("chip-defect-3pct").spec.stage(Stage.ENCODE).failure_rate == 0.03
    slipped = load_scenario("slip-march-21d")
    assert slipped.chips.deliveries["march"].slip_days == 21
    assert slipped.chips.deliveries["april"] == base.chips.deliveries["april"]
    assert slipped.demand == base.demand and slipped.spec == base.spec
    night = load_scenario("third-shift-may")
    assert len(night.calendar_on(date(2021, 5, 9)).shifts) == 2
    assert len(night.calendar_on(date(2021, 5, 10)).shifts) == 3


def test_a_slip_moves_that_delivery_only_by_the_slip() -> None:
    base, slipped = load_scenario("plan-2021"), load_scenario("slip-march-21d")
    a = {d.name: d.time for d in chip_arrivals(base, 1, 0)}
    b = {d.name: d.time for d in chip_arrivals(slipped, 1, 0)}
    assert b["march"] - a["march"] == pytest.approx(21 * DAY)
    assert {k: v for k, v in a.items() if k != "march"} == {
        k: v for k, v in b.items() if k != "march"
    }


def _write(tmp_path: Path, data: dict[str, Any], name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _base(**extra: Any) -> dict[str, Any]:
    return {"name": "t", "start": "2021-03-01", "days": 5, **extra}


def test_a_scenario_can_use_a_line_spec_file_and_extend_another(tmp_path: Path) -> None:
    from line.spec import default_spec_text

    spec = yaml.safe_load(default_spec_text())
    spec["stages"]["print"]["machines"] = 4
    _write(tmp_path, spec, "centre.yaml")
    _write(tmp_path, _base(base="centre.yaml", demand={"backlog": 10}), "parent.yaml")
    child = _write(
        tmp_path,
        {"extends": "parent.yaml", "name": "child", "line": {"stages": {"qc": {"machines": 3}}}},
        "child.yaml",
    )
    scenario = load_scenario(child)
    assert scenario.name == "child"
    assert scenario.spec.stage(Stage.PRINT).machines == 4
    assert scenario.spec.stage(Stage.QC).machines == 3
    assert scenario.demand.backlog == 10


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (_base(days=0), "days", "greater than or equal to 1"),
        (_base(speed=3), "speed", "unknown field"),
        ({"name": "t", "days": 5}, "start", "Field required"),
        (_base(chips={"deliveries": {"march": {"quantity": 5}}}), "chips.deliveries.march.date", "Field required"),
        (_base(chips={"deliveries": {"march": {"date": "2021-03-09", "quantity": -5}}}), "chips.deliveries.march.quantity", "greater than or equal to 0"),
        (_base(chips={"deliveries": {"march": {"date": "2021-03-09", "quantity": 5, "delay": {"kind": "uniform", "low": 4, "high": 1}}}}), "chips.deliveries.march.delay", "must be greater than low"),
        (_base(demand={"weekly_profile": {"funday": 1}}), "demand.weekly_profile", "unknown weekday 'funday'"),
        (_base(demand={"hourly_profile": [1, 2]}), "demand.hourly_profile", "24 non-negative weights"),
        (_base(line={"stages": {"print": {"machines": 0}}}), "line.stages.print.machines", "greater than or equal to 1"),
        (_base(line={"stages": {"print": {"breakdowns": None}}}), "line.stages.print.availability", "plays availability through breakdowns"),
        (_base(base="nowhere.yaml"), "(file)", "cannot read"),
        (_base(changes=[{"from": "2021-03-02", "line": {"stages": {"qc": {"failure_rate": 0.1}}}}]), "changes.0.line.stages.qc.failure_rate", "only machine counts and the calendar"),
        (_base(changes=[{"from": "2021-03-02", "line": {"calendar": {"shifts": []}}}]), "changes.0.line.calendar.shifts", "at least 1 item"),
        (_base(changes=[{"when": "2021-03-02"}]), "changes.0.when", "expected {from: date"),
    ],
)  # fmt: skip
def test_bad_scenarios_are_refused_naming_the_field(
    tmp_path: Path, data: dict[str, Any], field: str, words: str
) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.field == field
    assert words in str(caught.value)
    assert str(caught.value).startswith("scenario ")


def test_a_bare_on_key_is_explained_by_the_field_it_misses(tmp_path: Path) -> None:
    # YAML 1.1 reads ``on:`` as true: the error names the missing ``date``
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: t\nstart: 2021-03-01\ndays: 5\nchips:\n  deliveries:\n    m: {on: 2021-03-02, quantity: 1}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match="chips.deliveries.m.date: Field required"):
        load_scenario(path)


def test_extends_loops_and_missing_parents_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, {"extends": "b.yaml", "name": "a"}, "a.yaml")
    _write(tmp_path, {"extends": "a.yaml", "name": "b"}, "b.yaml")
    with pytest.raises(ScenarioError, match="extends: scenarios extend each other in a loop"):
        load_scenario(tmp_path / "a.yaml")
    _write(tmp_path, {"extends": "missing.yaml", "name": "c"}, "c.yaml")
    with pytest.raises(ScenarioError, match="extends: no scenario file"):
        load_scenario(tmp_path / "c.yaml")


def test_an_impossible_date_is_refused_naming_its_field(tmp_path: Path) -> None:
    import sim

    base = Path(sim.__file__).parent / "scenarios" / "plan-2021.yaml"
    path = tmp_path / "bad-date.yaml"
    path.write_text(
        f"extends: {base}\nchips:\n  deliveries:\n    april: {{date: 2021-13-40}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match=r"chips\.deliveries\.april\.date: .*2021-13-40"):
        load_scenario(path)


def test_a_costs_block_is_read_and_bad_costs_are_refused_naming_the_field() -> None:
    history = load_scenario("history-2021")
    assert history.costs is not None and history.costs.currency == "USD"
    assert history.costs.machine == {
        "print": 250000, "chip-encode": 60000, "qc": 40000, "dispatch": 20000
    }  # fmt: skip
    base = load_scenario("plan-2021")
    assert base.costs is None
    for costs, field in (
        ({"machine": {"printer": 5}}, "costs.machine"),
        ({"chip": -1}, "costs.chip"),
        ({"delivery_day": {"july": 9}}, "costs.delivery_day.july"),
        ({"per_chip": 1}, "costs.per_chip"),
    ):
        with pytest.raises(ScenarioError) as caught:
            base.with_overrides({"costs": costs})
        assert caught.value.field == field, costs


def test_demand_changes_must_be_in_date_order() -> None:
    base = load_scenario("plan-2021")
    changes = [{"from": "2021-05-01", "per_day": 1}, {"from": "2021-04-01", "per_day": 2}]
    with pytest.raises(ScenarioError) as caught:
        base.with_overrides({"demand": {"changes": changes}})
    assert caught.value.field == "demand.changes"
