"""The line as data: one validated ``LineSpec`` read by the controller and the simulator.

A planner's scenario is a change of this data, never a second model of the line. The
spec file is read with ``line.yamlfile``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from line import reasons
from line.distributions import Distribution
from line.errors import SpecError
from line.types import LINE_ORDER, Stage
from line.yamlfile import YamlRefused, read_yaml, shorten

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

DEFAULT_RETENTION_DAYS = 90
"""Days after delivery a citizen's personal data is kept (``cardline purge``): a quarter,
long enough for a complaint about a delivered card (a misprint found at the first use, a
chip that does not read) to reach the centre while the faces and the chip read-back are
still there to compare; the audit record (masked ID, serials, chip UIDs, events) stays."""

MAX_RETENTION_DAYS = 3650
"""Ten years, the validity of a card issued at 25 or later: keeping data longer than the
card itself lives has no purpose (and bounds the date arithmetic)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BreakdownSpec(_Frozen):
    """How one machine of a stage fails and is repaired, both counted in shift time.

    A machine only runs (and so only wears) in shift time, and repairs are done by the shift
    crew, so both clocks stop outside the shifts. The long-run fraction of shift time a
    machine is up is ``mean time between failures / (that + mean time to repair)``; when a
    stage gives breakdowns, that fraction is its ``availability``.
    """

    time_between_failures: Distribution = Field(
        description="seconds of shift time a machine runs between two failures"
    )
    time_to_repair: Distribution = Field(description="seconds of shift time a repair takes")

    @property
    def availability(self) -> float:
        up = self.time_between_failures.mean
        return up / (up + self.time_to_repair.mean)


AVAILABILITY_TOLERANCE = 0.005
"""How far a stated ``availability`` may be from the one its breakdown figures imply."""


class StageSpec(_Frozen):
    """One stage: its machines, how long a card takes, and how often a card is spoiled."""

    machines: int = Field(ge=1, description="number of identical machines working in parallel")
    service_time: Distribution = Field(description="seconds one machine spends on one card")
    failure_rate: float = Field(
        ge=0, le=1, description="probability that a card is spoiled at this stage"
    )
    failure_reason: str = Field(
        min_length=1,
        description="reason code recorded when a card is spoiled here: a code of the stage "
        "in the catalogue of line.reasons that spoils a card",
    )
    availability: float = Field(
        default=1.0, gt=0, le=1, description="fraction of shift time a machine is up"
    )
    breakdowns: BreakdownSpec | None = Field(
        default=None, description="failures and repairs of each machine (the simulator plays them)"
    )
    source: str = Field(default="", description="where these numbers come from")

    @model_validator(mode="before")
    @classmethod
    def _availability_from_breakdowns(cls, data: Any) -> Any:
        # One figure, one source: with breakdowns and no stated availability, the breakdowns
        # give it, so a scenario that changes a repair time changes the capacity too.
        if isinstance(data, dict) and data.get("breakdowns") and "availability" not in data:
            try:
                implied = BreakdownSpec.model_validate(data["breakdowns"]).availability
            except ValidationError:
                return data  # the field validator reports it, naming the field
            return {**data, "availability": implied}
        return data

    @model_validator(mode="after")
    def _availability_agrees(self) -> StageSpec:
        if self.breakdowns is not None:
            implied = self.breakdowns.availability
            if abs(implied - self.availability) > AVAILABILITY_TOLERANCE:
                raise ValueError(
                    f"availability {self.availability:g} disagrees with the breakdowns, which "
                    f"give {implied:.4f} (leave availability out to take it from them)"
                )
        return self

    @property
    def capacity_per_hour(self) -> float:
        """Cards per hour the stage can pass when every machine is busy and up."""
        return self.machines * self.availability * 3600.0 / self.service_time.mean


class Shift(_Frozen):
    name: str = Field(min_length=1)
    start: time
    end: time
    break_minutes: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _positive(self) -> Shift:
        if self.working_seconds <= 0:
            raise ValueError(
                f"shift {self.name!r} has no working time ({self.start}-{self.end}, "
                f"{self.break_minutes} min break)"
            )
        return self

    @property
    def length_seconds(self) -> float:
        start = datetime.combine(date.min, self.start)
        end = datetime.combine(date.min, self.end)
        if end <= start:  # a night shift ends the next day
            end += timedelta(days=1)
        return (end - start).total_seconds()

    @property
    def working_seconds(self) -> float:
        return self.length_seconds - 60.0 * self.break_minutes


class ShiftCalendar(_Frozen):
    """When the line works: shifts on working weekdays, minus holidays."""

    timezone: str = "Asia/Ho_Chi_Minh"
    working_days: tuple[str, ...] = WEEKDAYS
    shifts: tuple[Shift, ...] = Field(min_length=1)
    holidays: tuple[date, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("working_days")
    @classmethod
    def _weekdays(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        days = tuple(day.lower() for day in value)
        unknown = [day for day in days if day not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown weekday {unknown[0]!r} (expected one of {WEEKDAYS})")
        if len(set(days)) != len(days):
            raise ValueError("a weekday is listed twice")
        return days

    def is_working_day(self, day: date) -> bool:
        return WEEKDAYS[day.weekday()] in self.working_days and day not in self.holidays

    def working_seconds(self, day: date) -> float:
        """Seconds of machine time one machine has on ``day`` (breaks deducted)."""
        if not self.is_working_day(day):
            return 0.0
        return sum(shift.working_seconds for shift in self.shifts)


class AllocationPolicy(_Frozen):
    """Who gets the chips when approved work exceeds them (controller and simulator alike).

    - ``fifo``: first come, first served (order of intake);
    - ``earliest_due``: earliest due date first, then intake order (no due date: last);
    - ``priority``: the ``priority_groups`` in their order, then everyone else, each by intake;
    - ``fair_share``: provinces (of the destination station) take turns, each by intake.
    """

    policy: Literal["fifo", "earliest_due", "priority", "fair_share"] = "fifo"
    priority_groups: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _groups(self) -> AllocationPolicy:
        if self.policy == "priority" and not self.priority_groups:
            raise ValueError("the priority policy needs priority_groups, highest first")
        return self


class ConsumableSpec(_Frozen):
    """Something the printer uses up besides card bodies (ribbon, overlay film)."""

    name: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    cards_per_unit: int = Field(ge=1, description="cards one unit prints")


class LineSpec(_Frozen):
    """A production centre's line: the four stages, the rework limit and the calendar."""

    name: str = Field(min_length=1)
    description: str = ""
    rework_limit: int = Field(ge=0, description="replacement cards an application may get")
    retention_days: int = Field(
        default=DEFAULT_RETENTION_DAYS,
        gt=0,
        le=MAX_RETENTION_DAYS,
        strict=True,
        description=(
            "days a delivered card's personal data is kept after delivery before "
            "``cardline purge`` removes it"
        ),
    )
    stages: dict[Stage, StageSpec]
    calendar: ShiftCalendar
    allocation: AllocationPolicy = AllocationPolicy()
    consumables: dict[str, ConsumableSpec] = Field(default_factory=dict)

    @field_validator("consumables")
    @classmethod
    def _codes(cls, value: dict[str, ConsumableSpec]) -> dict[str, ConsumableSpec]:
        for code in value:
            if code == "chip" or not code.isidentifier() or len(code) > 16:
                raise ValueError(f"{code!r} cannot name a consumable (a short word, not 'chip')")
        return value

    @field_validator("stages", mode="before")
    @classmethod
    def _known_stages(cls, value: Any) -> Any:
        if isinstance(value, dict):
            known = {stage.value for stage in LINE_ORDER}
            for key in value:
                if str(key) not in known:
                    raise ValueError(
                        f"unknown stage {key!r} (expected {', '.join(s.value for s in LINE_ORDER)})"
                    )
            missing = [stage.value for stage in LINE_ORDER if stage.value not in map(str, value)]
            if missing:
                raise ValueError(f"missing stage(s): {', '.join(missing)}")
        return value

    @model_validator(mode="after")
    def _failure_reasons(self) -> LineSpec:
        # One catalogue of reason codes: the spec's are the ones the line records.
        for stage, stage_spec in self.stages.items():
            code = stage_spec.failure_reason
            reason = reasons.find(code)
            if reason is not None and reason.stage.value == stage.value and reason.spoils:
                continue
            spoiling = reasons.allowed(stage=Stage(stage.value), kinds=[reasons.Kind.SPOIL])
            if reason is None:
                problem = "unknown reason code"
            elif reason.stage.value != stage.value:
                problem = f"a reason code of {reason.stage.value}, not of {stage.value}"
            else:
                problem = f"a {reason.kind.value} code, not one that spoils a card"
            raise ValidationError.from_exception_data(
                "LineSpec",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "reason_code",
                            "{problem} (allowed at {stage}: {allowed})",
                            {
                                "problem": problem,
                                "stage": stage.value,
                                "allowed": ", ".join(r.code for r in spoiling),
                            },
                        ),
                        loc=("stages", stage.value, "failure_reason"),
                        input=code,
                    )
                ],
            )
        return self

    def stage(self, stage: Stage) -> StageSpec:
        return self.stages[stage]

    @property
    def bottleneck(self) -> Stage:
        """The stage with the lowest capacity: it sets the line's throughput."""
        return min(LINE_ORDER, key=lambda s: self.stages[s].capacity_per_hour)

    @property
    def capacity_per_hour(self) -> float:
        """Good cards per hour of the line, ignoring rework (the bottleneck's capacity)."""
        return self.stages[self.bottleneck].capacity_per_hour


DISTRIBUTION_FIELDS = frozenset(
    {"service_time", "time_between_failures", "time_to_repair", "delay"}
)
"""Fields holding a ``Distribution``: pydantic names the union member under them."""


def _field_path(loc: tuple[int | str, ...]) -> str:
    # pydantic puts the union member's tag in the path (service_time.lognormal.mean): drop it.
    tags = {"deterministic", "exponential", "uniform", "triangular", "lognormal"}
    parts = [str(part) for part in loc]
    cleaned = [
        p
        for i, p in enumerate(parts)
        if not (p in tags and i > 0 and parts[i - 1] in DISTRIBUTION_FIELDS)
    ]
    return ".".join(cleaned) or "(top level)"


def spec_error(exc: ValidationError, *, source: str | None, prefix: str = "") -> SpecError:
    """The first problem pydantic found, as a ``SpecError`` naming the field (``prefix`` is
    put before the field's path, for a spec nested in a larger file such as a scenario)."""
    first = exc.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    if "input" in first and first["type"] not in ("missing", "extra_forbidden"):
        message = f"{message} (got {shorten(repr(first['input']))})"
    message = shorten(message)
    path = shorten(_field_path(tuple(first["loc"])), 120)
    field = f"{prefix}{path}" if prefix and path != "(top level)" else (prefix.rstrip(".") or path)
    return SpecError(message, field=field, source=source)


def parse_spec(data: Any, *, source: str | None = None) -> LineSpec:
    """Validate ``data`` (parsed YAML) into a ``LineSpec``; raise ``SpecError`` naming the field."""
    if not isinstance(data, dict):
        raise SpecError("must be a mapping of fields", field="(top level)", source=source)
    try:
        return LineSpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc, source=source) from exc


def load_spec(path: Path | str) -> LineSpec:
    """Load and validate a line spec from a YAML file (read with ``read_yaml``)."""
    path = Path(path)
    try:
        data = read_yaml(path)
    except YamlRefused as exc:
        raise SpecError(str(exc), field="(file)", source=str(path)) from exc
    try:
        return parse_spec(data, source=str(path))
    except RecursionError as exc:  # validation of a deeply nested value
        raise SpecError("nested too deeply", field="(file)", source=str(path)) from exc


DEFAULT_SPEC_RESOURCE = "default_line.yaml"


def default_spec_text() -> str:
    return resources.files("line.data").joinpath(DEFAULT_SPEC_RESOURCE).read_text("utf-8")


def default_spec() -> LineSpec:
    """The reference centre shipped with cardline (``line/data/default_line.yaml``)."""
    return parse_spec(
        yaml.safe_load(default_spec_text()), source=f"(built-in) {DEFAULT_SPEC_RESOURCE}"
    )


def spec_in_use(path: Path | None) -> LineSpec:
    """The spec of ``CARDLINE_LINE_SPEC`` (``Settings.line_spec``), else the built-in one."""
    return load_spec(path) if path is not None else default_spec()
