"""One base exception for the simulator: every error class of ``sim`` derives from
``sim.errors.SimError``, itself a ``line.errors.CardlineError``."""

from __future__ import annotations

import pickle

import sim
from line.errors import CardlineError, SpecError
from sim.errors import PlanError, ScenarioError, SimError
from tests.imports import error_classes


def test_every_error_of_sim_derives_from_its_one_base() -> None:
    classes = error_classes(sim)
    assert {"sim.errors.SimError", "sim.errors.ScenarioError", "sim.errors.PlanError"} <= set(
        classes
    )
    assert issubclass(SimError, CardlineError)
    assert [name for name, cls in classes.items() if not issubclass(cls, SimError)] == []


def test_scenario_and_plan_errors_are_spec_errors_that_pickle() -> None:
    # callers that report a bad line spec report a bad scenario the same way
    error = PlanError("no such field", field="--vary", source="plan-2021")
    assert isinstance(error, ScenarioError) and isinstance(error, SpecError)
    assert str(error) == "plan plan-2021: --vary: no such field"
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is PlanError and str(again) == str(error) and again.field == "--vary"
    scenario = ScenarioError("must be a date", field="start", source="x.yaml")
    assert str(scenario) == "scenario x.yaml: start: must be a date"
