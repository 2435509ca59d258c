"""The simulator's modules after the re-cut: every name other code imports from a module that
was split is still there, and is the very object its new module defines (one definition,
re-exported, never a copy)."""

from __future__ import annotations

import importlib

import pytest

MOVED = {
    "sim.plan": {
        "sim.plan_fields": ["VariedField", "current_value", "parse_vary", "set_value"],
        "sim.plan_trials": ["LocalRunner", "Outcome", "Planner", "Rule", "Runner", "outcome"],
        "sim.errors": ["PlanError"],
    },
    "sim.plan_report": {
        "sim.plan_text": ["money", "plan_text", "probability_text", "tranche_text", "value_text"],
    },
    "sim.report": {
        "sim.report_text": ["forecast_text", "on_time_text", "rows", "target_text"],
        "sim.report_charts": ["cumulative_chart"],
        "sim.report_pdf": ["render_forecast"],
    },
    "sim.calibrate": {
        "sim.calibrate_fits": [
            "DETERMINISTIC_CV", "BreakdownFit", "DefectFit", "ServiceFit", "failure_reason",
            "fit_defects", "fit_service", "wilson",
        ],
        "sim.calibrate_report": ["Calibration", "StageCalibration"],
    },
    "sim.scenario": {
        "sim.scenario_model": [
            "Chips", "Costs", "Delivery", "Demand", "Group", "Scenario", "SpecChange", "Target",
        ],
        "sim.errors": ["ScenarioError"],
    },
}  # fmt: skip


@pytest.mark.parametrize("old", sorted(MOVED))
def test_names_of_a_split_module_are_re_exported_not_copied(old: str) -> None:
    module = importlib.import_module(old)
    for new, names in MOVED[old].items():
        home = importlib.import_module(new)
        for name in names:
            assert getattr(module, name) is getattr(home, name), (old, new, name)
            assert name in module.__all__, (old, name)


def test_every_public_name_resolves() -> None:
    for old, moved in MOVED.items():
        for module_name in (old, *moved):
            module = importlib.import_module(module_name)
            missing = [n for n in module.__all__ if not hasattr(module, n)]
            assert missing == [], module_name
