"""One base exception for the simulator: every error class of ``sim`` derives from
``sim.errors.SimError``, itself a ``line.errors.CardlineError``."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil

import sim
from line.errors import CardlineError, SpecError
from sim.errors import PlanError, ScenarioError, SimError


def _error_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of ``sim``, by its qualified name."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(sim.__path__, prefix="sim."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_error_of_sim_derives_from_its_one_base() -> None:
    classes = _error_classes()
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
