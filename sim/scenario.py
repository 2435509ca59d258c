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
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from line.digits import is_digits, iso_date
from line.distributions import Distribution
from line.errors import SpecError
from line.spec import (
    WEEKDAYS,
    LineSpec,
    SafeYamlLoader,
    ShiftCalendar,
    YamlRefused,
    default_spec_text,
    parse_spec,
    read_yaml,
    spec_error,
)
from line.types import LINE_ORDER, Stage
from sim.errors import ScenarioError as ScenarioError  # re-exported: callers import it here


def _reason(exc: SpecError) -> str:
    """The message of a ``SpecError`` without its "line spec <source>: <field>: " prefix."""
    return str(exc).split(f"{exc.field}: ", 1)[-1]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Delivery(_Frozen):
    """A chip delivery expected on ``date``; it comes ``slip_days`` plus a random delay later.
    (Not ``on``: YAML 1.1 reads a bare ``on`` key as the boolean true.)"""

    date: date
    quantity: int = Field(ge=0)
    delay: Distribution | None = Field(default=None, description="random extra delay, in days")
    slip_days: float = Field(default=0.0, ge=0, description="known slip, in days (what-ifs)")


class Group(_Frozen):
    """A priority group of applicants: its share of demand and, maybe, a due date."""

    share: float = Field(gt=0)
    due: date | None = None


class RateChange(_Frozen):
    """The mean applications a day from ``from`` on (a campaign that winds down)."""

    on: date = Field(alias="from")
    per_day: float = Field(ge=0)


class Demand(_Frozen):
    backlog: int = Field(default=0, ge=0, description="applications waiting on the first day")
    per_day: float = Field(default=0.0, ge=0, description="mean applications a day")
    weekly_profile: dict[str, float] = Field(default_factory=dict)
    hourly_profile: tuple[float, ...] = ()
    groups: dict[str, Group] = Field(default_factory=lambda: {"general": Group(share=1.0)})
    destinations: dict[str, float] = Field(default_factory=lambda: {"000": 1.0})
    changes: tuple[RateChange, ...] = Field(
        default=(), description="per_day from a date on, in date order"
    )

    @field_validator("changes")
    @classmethod
    def _in_order(cls, value: tuple[RateChange, ...]) -> tuple[RateChange, ...]:
        if any(b.on <= a.on for a, b in zip(value, value[1:], strict=False)):
            raise ValueError("changes must be in date order, one per date")
        return value

    def per_day_on(self, day: date) -> float:
        """The mean applications a day (before the weekly profile) on ``day``."""
        rate = self.per_day
        for change in self.changes:
            if change.on <= day:
                rate = change.per_day
        return rate

    @field_validator("weekly_profile")
    @classmethod
    def _weekdays(cls, value: dict[str, float]) -> dict[str, float]:
        for day, factor in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r} (expected one of {WEEKDAYS})")
            if factor < 0:
                raise ValueError(f"{day}: a multiplier cannot be negative")
        return value

    @field_validator("hourly_profile")
    @classmethod
    def _hours(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if value and (len(value) != 24 or min(value) < 0 or sum(value) <= 0):
            raise ValueError("needs 24 non-negative weights, not all zero")
        return value

    @field_validator("groups", "destinations")
    @classmethod
    def _not_empty(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("needs at least one entry")
        return value

    @field_validator("destinations")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        for code in value:
            if not is_digits(code, 3):  # ASCII: "٠٧٩" is not the province 079
                raise ValueError(f"{code!r} is not a 3-digit province code (ASCII digits 0-9)")
        if any(share <= 0 for share in value.values()):
            raise ValueError("every share must be greater than 0")
        return value

    def day_factor(self, day: date) -> float:
        return self.weekly_profile.get(WEEKDAYS[day.weekday()], 1.0)

    def hour_weights(self) -> tuple[float, ...]:
        """Fractions of a day's arrivals in each hour (sum 1)."""
        weights = self.hourly_profile or (1.0,) * 24
        total = sum(weights)
        return tuple(w / total for w in weights)


class Chips(_Frozen):
    unlimited: bool = Field(default=False, description="never short of chips")
    opening_stock: int = Field(default=0, ge=0)
    deliveries: dict[str, Delivery] = Field(default_factory=dict)


class Target(_Frozen):
    cards: int = Field(ge=1, description="good cards dispatched")
    by: date | None = None

    @property
    def deadline(self) -> date | None:
        """The last day whose cards count: the day before ``by`` (50 million *by 1 July*
        means dispatched by the end of 30 June)."""
        return None if self.by is None else self.by - timedelta(days=1)


PerName = float | dict[str, float]


class Costs(_Frozen):
    """What one unit of a varied field costs (``cardline plan``). Every figure is optional;
    a plan that varies a field with no cost here is refused naming the field."""

    currency: str = Field(default="", description="a label for the reports (USD, VND)")
    machine: PerName | None = Field(
        default=None, description="one machine more for the run (or per stage)"
    )
    shift_day: float | None = Field(default=None, ge=0, description="one shift, one day")
    chip: float | None = Field(default=None, ge=0, description="one chip more")
    delivery_day: PerName | None = Field(
        default=None, description="a delivery one day earlier (or per delivery)"
    )
    fields: dict[str, float] = Field(
        default_factory=dict, description="per unit of a dotted path; before the above"
    )

    @field_validator("machine", "delivery_day", "fields")
    @classmethod
    def _not_negative(cls, value: PerName | None) -> PerName | None:
        values = value.values() if isinstance(value, dict) else [value]
        if any(v is not None and v < 0 for v in values):
            raise ValueError("a cost cannot be negative")
        return value

    @field_validator("machine")
    @classmethod
    def _stages(cls, value: PerName | None) -> PerName | None:
        if isinstance(value, dict):
            stages = [s.value for s in LINE_ORDER]
            for name in value:
                if name not in stages:
                    raise ValueError(f"unknown stage {name!r} (expected one of {stages})")
        return value


class SpecChange(_Frozen):
    """The line spec in force from ``on`` (only the calendar and machine counts differ)."""

    on: date
    spec: LineSpec


class Scenario(_Frozen):
    """A resolved scenario: everything a run needs, validated. Build with ``load_scenario``,
    ``parse_scenario`` or ``Scenario.with_overrides``."""

    name: str = Field(min_length=1)
    description: str = ""
    spec: LineSpec
    changes: tuple[SpecChange, ...] = ()
    start: date
    days: int = Field(ge=1, le=3660)
    target: Target | None = None
    demand: Demand = Demand()
    chips: Chips = Chips()
    costs: Costs | None = None
    definition: dict[str, Any] = Field(
        default_factory=dict, description="the merged file data, for with_overrides"
    )
    base_dir: str | None = None

    @property
    def end(self) -> date:
        """The day after the last simulated day."""
        return self.start + timedelta(days=self.days)

    def spec_on(self, day: date) -> LineSpec:
        current = self.spec
        for change in self.changes:
            if change.on <= day:
                current = change.spec
        return current

    def calendar_on(self, day: date) -> ShiftCalendar:
        return self.spec_on(day).calendar

    def machines_from(self, stage: Stage) -> list[tuple[float, int]]:
        """``(from second, machines)`` steps of a stage over the run, first at 0."""
        steps = [(0.0, self.spec.stage(stage).machines)]
        for change in self.changes:
            seconds = max(0.0, (change.on - self.start).days * 86_400.0)
            steps.append((seconds, change.spec.stage(stage).machines))
        return steps

    def max_machines(self, stage: Stage) -> int:
        return max(m for _, m in self.machines_from(stage))

    @property
    def expected_cards(self) -> float:
        """Applications the run may see: the backlog plus the mean arrivals (sizes the run)."""
        demand = self.demand
        if not demand.changes:
            return demand.backlog + demand.per_day * self.days
        days = (self.start + timedelta(days=d) for d in range(self.days))
        return demand.backlog + sum(demand.per_day_on(day) for day in days)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """This scenario with ``overrides`` merged into its definition (the file's mapping):
        ``s.with_overrides({"chips": {"deliveries": {"march": {"slip_days": 21}}}})``."""
        base_dir = Path(self.base_dir) if self.base_dir else None
        return parse_scenario(
            deep_merge(self.definition, overrides), base_dir=base_dir, source=self.name
        )


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
