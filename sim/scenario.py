"""Scenarios: a base line spec plus overrides, demand, chip supply and a target.

A scenario is a YAML file (``sim/scenarios/plan-2021.yaml`` is the reference)::

    name: slip-march-21d
    extends: plan-2021.yaml        # optional: another scenario file, merged under this one
    base: default                  # the line spec: "default" (built-in) or a path
    line:                          # overrides merged into the base line spec
      stages: {chip-encode: {machines: 56}}
    start: 2021-03-03
    days: 120
    target: {cards: 50000000, by: 2021-07-01}
    demand:
      backlog: 18000000            # approved applications waiting on the first morning
      per_day: 300000              # mean applications approved per day
      weekly_profile: {sun: 0.5}   # multipliers of per_day (default 1)
      hourly_profile: [0, 0, ...]  # 24 relative weights of the hour of arrival (default flat)
      changes: [{from: 2021-06-23, per_day: 150000}]   # the mean rate from a date on
      groups: {elderly: {share: 0.08}, general: {share: 0.92}}
      destinations: {"001": 0.5, "079": 0.5}
    chips:
      opening_stock: 8000000       # or unlimited: true
      deliveries:
        march: {date: 2021-03-20, quantity: 10000000, delay: {kind: uniform, low: 0, high: 6}}
    changes:                       # the line from a date: only the calendar and machine counts
      - {from: 2021-05-10, line: {calendar: {shifts: [...]}}}
    costs:                         # what a unit costs, for ``cardline plan`` (sim.plan)
      currency: USD
      machine: {print: 250000, chip-encode: 60000}   # one machine more, for the run
      shift_day: 20000             # one more shift on one working day
      chip: 1.2                    # one chip more
      delivery_day: 150000         # a delivery one day earlier (or per delivery: {march: ...})
      fields: {"line.stages.qc.machines": 30000}      # per unit of any dotted path

Mappings merge key by key (``extends`` and ``line`` overrides); any other value, lists included,
replaces the one below it, and so does a distribution (a mapping with ``kind``); ``null``
removes a key, so its default applies (``breakdowns: null``: no breakdowns). A delivery's
``delay`` is a random extra delay in days (the distributions of ``line.distributions``);
``slip_days`` is a known slip, for what-ifs.
A bad file raises ``sim.errors.ScenarioError`` (a ``line.errors.SpecError`` too) naming the field
(``chips.deliveries.march.date``; ``line.stages.print.machines`` inside the line overrides).

``costs`` is read only by ``cardline plan``: the cost of one unit of each field a plan varies
(``sim.plan`` says which cost applies to which field); without it every unit costs 1.

This module reads and checks scenario files; the validated models are in
``sim.scenario_model`` and importable from here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from line.digits import iso_date
from line.errors import SpecError
from line.spec import LineSpec, default_spec_text, parse_spec, spec_error
from line.yamlfile import SafeYamlLoader, YamlRefused, read_yaml
from sim.errors import ScenarioError as ScenarioError  # re-exported: callers import it here
from sim.scenario_model import (
    Chips,
    Costs,
    Delivery,
    Demand,
    Group,
    PerName,
    RateChange,
    Scenario,
    SpecChange,
    Target,
)


def _reason(exc: SpecError) -> str:
    """The message of a ``SpecError`` without its "line spec <source>: <field>: " prefix."""
    return str(exc).split(f"{exc.field}: ", 1)[-1]


def deep_merge(below: Mapping[str, Any], above: Mapping[str, Any]) -> dict[str, Any]:
    """``above`` over ``below``: mappings merge key by key, other values replace, ``None``
    removes the key (its default applies: ``deliveries: null`` means no deliveries). A
    distribution (a mapping with ``kind``) replaces the one below whole: its fields depend on
    its kind, so a lognormal's ``sd`` must not survive into an exponential."""
    merged = copy.deepcopy(dict(below))
    for key, value in above.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and "kind" in value:
            merged[key] = copy.deepcopy(dict(value))
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class _DatesAsText(SafeYamlLoader):
    """YAML without its own date parsing: ``2021-13-40`` stays text, so the model refuses it
    naming its field, instead of YAML failing with no field at all. No aliases either
    (``SafeYamlLoader``)."""


_DatesAsText.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = read_yaml(path, loader=_DatesAsText)  # size-capped, no aliases
    except YamlRefused as exc:
        raise ScenarioError(str(exc), field="(file)", source=str(path)) from exc
    if not isinstance(data, dict):
        raise ScenarioError("must be a mapping of fields", field="(top level)", source=str(path))
    return data


def _with_parents(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's data merged over the scenario it ``extends`` (and so on up)."""
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError("must be a file name", field="extends", source=str(path))
    parent_path = (path.parent / parent).resolve()
    if parent_path in seen:
        raise ScenarioError(
            "scenarios extend each other in a loop", field="extends", source=str(path)
        )
    if not parent_path.exists():
        raise ScenarioError(f"no scenario file {parent!r}", field="extends", source=str(path))
    return deep_merge(_with_parents(parent_path, (*seen, path.resolve())), data)


RENAMED = {"base-2021": "plan-2021"}
"""Built-in scenarios under their old names: ``base-2021`` was the plan of the 2021 drive,
not what happened (that is ``history-2021``), so it is ``plan-2021`` now."""


def load_scenario(path: Path | str) -> Scenario:
    """Load a scenario file (a built-in one by name, e.g. ``"plan-2021"``, or a path)."""
    path = Path(str(RENAMED.get(str(path), path)))
    if not path.exists() and path.suffix == "" and (_builtin_dir() / f"{path}.yaml").exists():
        path = _builtin_dir() / f"{path}.yaml"
    data = _with_parents(path)
    return parse_scenario(data, base_dir=path.resolve().parent, source=str(path))


def _builtin_dir() -> Path:
    return Path(str(resources.files("sim").joinpath("scenarios")))


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``sim/scenarios``."""
    return sorted(p.stem for p in _builtin_dir().glob("*.yaml"))


def _base_spec_data(base: Any, base_dir: Path | None, source: str | None) -> dict[str, Any]:
    if base in (None, "default"):
        data: Any = yaml.safe_load(default_spec_text())
    elif isinstance(base, str):
        path = Path(base) if base_dir is None else base_dir / base
        data = _read_yaml(path)
    else:
        raise ScenarioError(
            'must be "default" or a path to a line spec', field="base", source=source
        )
    return dict(data)


def _line(data: Any, source: str | None, prefix: str) -> LineSpec:
    try:
        return parse_spec(data, source=source)
    except SpecError as exc:
        field = prefix.rstrip(".") if exc.field == "(top level)" else prefix + exc.field
        raise ScenarioError(_reason(exc), field=field, source=source) from exc


_CHANGEABLE = ("calendar",)


def _check_change(before: LineSpec, after: LineSpec, prefix: str, source: str | None) -> None:
    """A change during a run may move the calendar and machine counts, nothing else: the
    two simulation modes start and stop machines, they do not rebuild the line."""
    old, new = before.model_dump(), after.model_dump()
    for key in old:
        if key in _CHANGEABLE or old[key] == new[key]:
            continue
        if key == "stages":
            for stage, fields in old["stages"].items():
                for name, value in fields.items():
                    if name != "machines" and new["stages"][stage][name] != value:
                        raise ScenarioError(
                            "only machine counts and the calendar can change during a run",
                            field=f"{prefix}stages.{stage}.{name}",
                            source=source,
                        )
            continue
        raise ScenarioError(
            "only machine counts and the calendar can change during a run",
            field=f"{prefix}{key}",
            source=source,
        )


def _changes(
    raw: Any, spec_data: dict[str, Any], spec: LineSpec, source: str | None
) -> tuple[SpecChange, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ScenarioError("must be a list of {from, line}", field="changes", source=source)
    result: list[SpecChange] = []
    current_data, current = spec_data, spec
    last: date | None = None
    for i, entry in enumerate(raw):
        where = f"changes.{i}"
        if not isinstance(entry, dict) or set(entry) - {"from", "line"}:
            unknown = sorted(set(entry) - {"from", "line"}) if isinstance(entry, dict) else []
            field = f"{where}.{unknown[0]}" if unknown else where
            raise ScenarioError(
                "expected {from: date, line: overrides}", field=field, source=source
            )
        on = entry.get("from")
        if isinstance(on, str):
            on = iso_date(on.strip()) or on  # not a date (YYYY-MM-DD, ASCII): refused below
        if not isinstance(on, date):
            raise ScenarioError("needs a date (YYYY-MM-DD)", field=f"{where}.from", source=source)
        if last is not None and on < last:
            raise ScenarioError(
                "changes must be in date order", field=f"{where}.from", source=source
            )
        overrides = entry.get("line") or {}
        if not isinstance(overrides, dict):
            raise ScenarioError("must be a mapping", field=f"{where}.line", source=source)
        current_data = deep_merge(current_data, overrides)
        changed = _line(current_data, source, f"{where}.line.")
        _check_change(current, changed, f"{where}.line.", source)
        result.append(SpecChange(on=on, spec=changed))
        current, last = changed, on
    return tuple(result)


def _check_playable(spec: LineSpec, prefix: str, source: str | None) -> None:
    """The simulator plays availability as breakdowns: a stage below 1 needs them."""
    for stage, stage_spec in spec.stages.items():
        if stage_spec.availability < 1.0 and stage_spec.breakdowns is None:
            raise ScenarioError(
                "the simulator plays availability through breakdowns: give the stage's "
                "breakdowns, or availability 1",
                field=f"{prefix}stages.{stage.value}.availability",
                source=source,
            )


def parse_scenario(
    data: Mapping[str, Any], *, base_dir: Path | None = None, source: str | None = None
) -> Scenario:
    """Validate merged scenario data (``extends`` already resolved) into a ``Scenario``."""
    data = dict(data)
    if "extends" in data:
        raise ScenarioError(
            "only a scenario file can extend another", field="extends", source=source
        )
    definition = copy.deepcopy(data)
    base = data.pop("base", "default")
    overrides = data.pop("line", None) or {}
    if not isinstance(overrides, dict):
        raise ScenarioError("must be a mapping of line spec fields", field="line", source=source)
    spec_data = deep_merge(_base_spec_data(base, base_dir, source), overrides)
    spec = _line(spec_data, source, "line.")
    _check_playable(spec, "line.", source)
    changes = _changes(data.pop("changes", None), spec_data, spec, source)
    try:
        scenario = Scenario.model_validate(
            {
                **data,
                "spec": spec,
                "changes": changes,
                "definition": definition,
                "base_dir": None if base_dir is None else str(base_dir),
            }
        )
    except ValidationError as exc:
        error = spec_error(exc, source=source)
        raise ScenarioError(_reason(error), field=error.field, source=source) from exc
    per_delivery = scenario.costs.delivery_day if scenario.costs is not None else None
    for name in per_delivery if isinstance(per_delivery, dict) else ():
        if name not in scenario.chips.deliveries:
            raise ScenarioError(
                "no such delivery in chips.deliveries",
                field=f"costs.delivery_day.{name}",
                source=source,
            )
    return scenario


__all__ = [
    "RENAMED",
    "Chips",
    "Costs",
    "Delivery",
    "Demand",
    "Group",
    "PerName",
    "RateChange",
    "Scenario",
    "ScenarioError",
    "SpecChange",
    "Target",
    "builtin_scenarios",
    "deep_merge",
    "load_scenario",
    "parse_scenario",
]
