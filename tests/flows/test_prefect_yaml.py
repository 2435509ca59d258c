"""prefect.yaml as the Prefect UI shows it: every deployment says what it does in plain
text (no RST markup from a docstring), every schedule names its time zone, and every
parameter is one its flow takes."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def deployments() -> list[dict[str, Any]]:
    data = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    return list(data["deployments"])


def test_every_deployment_has_a_plain_text_description() -> None:
    for deployment in deployments():
        text = deployment.get("description")
        assert text, f"{deployment['name']}: no description (the UI would show the docstring)"
        assert "`" not in text and "::" not in text, f"{deployment['name']}: markup in {text!r}"


def test_every_schedule_names_its_time_zone() -> None:
    schedules = [s for d in deployments() for s in d.get("schedules", [])]
    assert schedules
    assert all(s.get("timezone") == "Asia/Ho_Chi_Minh" for s in schedules)


def test_every_parameter_is_one_its_flow_takes() -> None:
    for deployment in deployments():
        path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        accepted = set(inspect.signature(flow.fn).parameters)
        given = set(deployment.get("parameters", {}))
        assert given <= accepted, f"{deployment['name']}: {given - accepted} not parameters"
