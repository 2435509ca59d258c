"""A scenario in its validated form: the line spec (and its changes during the run),
demand, chip supply, the target and the costs of a plan, every field checked on reading.

The file format, ``extends`` and the merge of overrides are ``sim.scenario``'s, which builds
these models (``load_scenario``, ``parse_scenario``) and from where they are imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from line.digits import is_digits
from line.distributions import Distribution
from line.spec import WEEKDAYS, LineSpec, ShiftCalendar
from line.types import LINE_ORDER, Stage


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
    """Who applies: the opening backlog, the arrivals a day and their profiles, the
    priority groups and the destinations."""

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
    """Chip supply: the opening stock and the deliveries expected (or no shortage at all)."""

    unlimited: bool = Field(default=False, description="never short of chips")
    opening_stock: int = Field(default=0, ge=0)
    deliveries: dict[str, Delivery] = Field(default_factory=dict)


class Target(_Frozen):
    """The goal the run is judged by: ``cards`` good cards dispatched, by ``by``."""

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
        from sim.scenario import deep_merge, parse_scenario  # that module imports this one

        base_dir = Path(self.base_dir) if self.base_dir else None
        return parse_scenario(
            deep_merge(self.definition, overrides), base_dir=base_dir, source=self.name
        )


__all__ = [
    "Chips",
    "Costs",
    "Delivery",
    "Demand",
    "Group",
    "PerName",
    "RateChange",
    "Scenario",
    "SpecChange",
    "Target",
]
