"""The fields a plan varies: ``--vary PATH=LOW..HIGH[:STEP]`` read against a scenario.

A varied field is a dotted path into the scenario (its file's data, else its full line
spec), the ladder of values its range gives, cheapest first, whether the target is taken to
be monotone in it, and what one unit of it costs under the scenario's ``costs:`` block (the
rules are listed in ``sim.plan``'s docstring). ``set_value`` writes a value back into a
scenario's definition, for the candidate setting that is played.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from sim.errors import PlanError
from sim.scenario import Scenario

Kind = Literal["integer", "number", "date", "count"]


def show_value(value: Any) -> Any:
    """A value as a plan's document holds it (a date as ISO text)."""
    return value.isoformat() if isinstance(value, date) else value


@dataclass(frozen=True)
class VariedField:
    """One varied field: its ladder of values, cheapest first, and what a unit costs."""

    path: str
    kind: Kind
    low: Any
    high: Any
    step: Any
    values: tuple[Any, ...]  # cheapest first
    monotone: bool
    cheaper: Literal["lower", "higher", "later"]
    unit_cost: float
    cost_from: str
    options: tuple[Any, ...] = ()  # count: the list whose first N entries are taken

    def units(self, index: int) -> float:
        """Units of this field a value adds over the cheapest end (days for a date)."""
        first, value = self.values[0], self.values[index]
        if self.kind == "date":
            return float((first - value).days)
        return float(abs(value - first))

    def cost(self, index: int) -> float:
        return self.units(index) * self.unit_cost

    def setting(self, value: Any) -> Any:
        """The value as the scenario's data holds it (a date as ISO text, a count as its
        list)."""
        if self.kind == "date":
            return value.isoformat()
        if self.kind == "count":
            return copy.deepcopy(list(self.options[:value]))
        return value

    def as_dict(self) -> dict[str, Any]:
        def show(v: Any) -> Any:
            return v.isoformat() if isinstance(v, date) else v

        return {
            "path": self.path,
            "kind": self.kind,
            "low": show(self.low),
            "high": show(self.high),
            "step": self.step,
            "values": len(self.values),
            "monotone": self.monotone,
            "cheaper": self.cheaper,
            "unit_cost": self.unit_cost,
            "cost_from": self.cost_from,
        }


VARY = re.compile(r"^(?P<path>[^=]+)=(?P<low>[^.][^:]*?)\.\.(?P<high>[^:]+)(:(?P<step>.+))?$")


def parse_vary(text: str) -> tuple[str, str, str, str | None]:
    """``PATH=LOW..HIGH[:STEP]`` into its parts."""
    match = VARY.match(text.strip())
    if not match:
        raise PlanError(
            f"expected PATH=LOW..HIGH or PATH=LOW..HIGH:STEP, got {text!r}", field="--vary"
        )
    return match["path"].strip(), match["low"].strip(), match["high"].strip(), match["step"]


_MISSING = object()


def _lookup(data: Any, parts: Sequence[str]) -> Any:
    for part in parts:
        if isinstance(data, Mapping):
            if part not in data:
                return _MISSING
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def _spec_data(scenario: Scenario, parts: Sequence[str]) -> tuple[Any, Sequence[str]]:
    """The full line spec (as data) a ``line.`` or ``changes.N.line.`` path reads from."""
    if parts[0] == "line":
        return scenario.spec.model_dump(mode="json"), parts[1:]
    if parts[0] == "changes" and len(parts) > 2 and parts[1].isdigit() and parts[2] == "line":
        i = int(parts[1])
        if i < len(scenario.changes):
            return scenario.changes[i].spec.model_dump(mode="json"), parts[3:]
    return _MISSING, parts


def current_value(scenario: Scenario, path: str) -> Any:
    """What the scenario has at ``path`` (its file's data, else its full line spec)."""
    parts = path.split(".")
    value = _lookup(scenario.definition, parts)
    if value is _MISSING:
        data, rest = _spec_data(scenario, parts)
        value = _MISSING if data is _MISSING else _lookup(data, rest)
    if value is _MISSING:
        raise PlanError(_missing_reason(scenario, parts), field=path, source=scenario.name)
    return value


def _missing_reason(scenario: Scenario, parts: Sequence[str]) -> str:
    for depth in range(len(parts) - 1, -1, -1):
        above = _lookup(scenario.definition, parts[:depth])
        if above is _MISSING:
            data, rest = _spec_data(scenario, parts[:depth]) if depth else (_MISSING, ())
            above = _MISSING if data is _MISSING else _lookup(data, rest)
        if isinstance(above, Mapping):
            names = ", ".join(sorted(str(k) for k in above)) or "none"
            return f"no field {parts[depth]!r} here (there are: {names})"
    return "no such field in the scenario"


def set_value(definition: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``definition`` with ``value`` at ``path`` (mappings made as needed)."""
    result = copy.deepcopy(dict(definition))
    node: Any = result
    parts = path.split(".")
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
            continue
        child = node.get(part)
        if not isinstance(child, (dict, list)):
            child = {}
            node[part] = child
        node = child
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return result


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _number(text: str, kind: Kind, path: str) -> Any:
    cleaned = text.replace(",", "").replace("_", "")
    try:
        if kind in ("integer", "count"):
            number = float(cleaned)
            if number != int(number):
                raise ValueError
            return int(number)
        return float(cleaned)
    except ValueError:
        what = "a whole number" if kind in ("integer", "count") else "a number"
        raise PlanError(f"{text!r} is not {what}", field=f"--vary {path}") from None


def _direction(path: str, kind: Kind) -> tuple[bool, Literal["lower", "higher", "later"]]:
    """Whether the target is monotone in the field, and which way is cheaper."""
    parts = path.split(".")
    last = parts[-1]
    if kind == "date":
        delivery = len(parts) == 4 and parts[:2] == ["chips", "deliveries"] and last == "date"
        change = len(parts) == 3 and parts[0] == "changes" and last == "from"
        return delivery or change, "later"
    if last in ("slip_days", "failure_rate"):
        return True, "higher"
    if last in ("machines", "quantity") or path == "chips.opening_stock":
        return True, "lower"
    if kind == "count" and path.endswith("calendar.shifts"):
        return True, "lower"
    return False, "lower"


def _ladder(low: Any, high: Any, step: Any, kind: Kind, path: str) -> list[Any]:
    if kind == "date":
        days = (high - low).days
        return [low + timedelta(days=d) for d in range(0, days + 1, step)]
    if kind == "number":
        count = math.floor((high - low) / step + 1e-9)
        return [low + i * step for i in range(count + 1)]
    return list(range(low, high + 1, step))


def varied_field(scenario: Scenario, text: str, deadline: date) -> VariedField:
    """One ``--vary PATH=LOW..HIGH[:STEP]`` against ``scenario``: its ladder and unit cost."""
    path, low_text, high_text, step_text = parse_vary(text)
    where = f"--vary {path}"
    kind, options = _kind_of(current_value(scenario, path), where)
    low, high, step = _bounds(kind, path, low_text, high_text, step_text)
    if step <= 0:
        raise PlanError("the step must be more than 0", field=where)
    if high < low:
        raise PlanError(f"HIGH ({high_text}) is below LOW ({low_text})", field=where)
    if kind == "count" and (low < 1 or high > len(options)):
        raise PlanError(
            f"a count of the list's entries: 1..{len(options)} (it has {len(options)})",
            field=where,
        )
    values = _ladder(low, high, step, kind, path)
    monotone, cheaper = _direction(path, kind)
    if cheaper in ("later", "higher"):
        values.reverse()
    unit_cost, cost_from = unit_cost_of(scenario, path, kind, deadline, options, low)
    return VariedField(
        path=path,
        kind=kind,
        low=low,
        high=high,
        step=step,
        values=tuple(values),
        monotone=monotone,
        cheaper=cheaper,
        unit_cost=unit_cost,
        cost_from=cost_from,
        options=options,
    )


def _kind_of(current: Any, where: str) -> tuple[Kind, tuple[Any, ...]]:
    """What kind of field holds ``current`` (and, for a list varied by its count, the list):
    the scenario's own value decides how the range is read."""
    if isinstance(current, bool):
        raise PlanError("a yes/no field cannot be varied as a range", field=where)
    if isinstance(current, list):
        return "count", tuple(current)
    if isinstance(current, int):
        return "integer", ()
    if isinstance(current, float):
        return "number", ()
    if _as_date(current) is not None:
        return "date", ()
    raise PlanError(
        "can vary a number, a date or a list (by its count), not this field", field=where
    )


def _bounds(
    kind: Kind, path: str, low_text: str, high_text: str, step_text: str | None
) -> tuple[Any, Any, Any]:
    """LOW, HIGH and STEP read as ``kind`` (a date's step is whole days, 1 by default; a
    fractional range has no default step: any would be a guess)."""
    where = f"--vary {path}"
    if kind == "date":
        low, high = _as_date(low_text), _as_date(high_text)
        if low is None or high is None:
            raise PlanError(f"{low_text}..{high_text}: dates are YYYY-MM-DD", field=where)
        return low, high, 1 if step_text is None else _number(step_text, "integer", path)
    low, high = _number(low_text, kind, path), _number(high_text, kind, path)
    if step_text is None and kind == "number":
        raise PlanError("a range of fractional numbers needs a step: LOW..HIGH:STEP", field=where)
    return low, high, 1 if step_text is None else _number(step_text, kind, path)


def _per_name(value: float | dict[str, float] | None, name: str) -> float | None:
    if isinstance(value, dict):
        return value.get(name)
    return value


def _working_days(scenario: Scenario, first: date, last: date) -> int:
    return sum(
        1
        for d in range((last - first).days + 1)
        if scenario.calendar_on(first + timedelta(days=d)).is_working_day(first + timedelta(days=d))
    )


def unit_cost_of(
    scenario: Scenario, path: str, kind: Kind, deadline: date, options: tuple[Any, ...], low: Any
) -> tuple[float, str]:
    """What one unit of ``path`` costs, and which rule of ``costs:`` said so."""
    costs = scenario.costs
    if costs is None:
        return 1.0, "1 per unit (no costs block)"
    if path in costs.fields:
        return costs.fields[path], f"costs.fields.{path}"
    parts = path.split(".")
    last = parts[-1]

    def need(value: float | None, name: str) -> float:
        if value is None:
            raise PlanError(
                f"the scenario has no {name} for --vary {path}: add it, or costs.fields",
                field=name,
                source=scenario.name,
            )
        return value

    if last == "machines" and len(parts) >= 2:
        stage = parts[-2]
        name = f"costs.machine.{stage}" if isinstance(costs.machine, dict) else "costs.machine"
        return need(_per_name(costs.machine, stage), name), name
    if kind == "count" and path.endswith("calendar.shifts"):
        per = need(costs.shift_day, "costs.shift_day")
        first, last_day = _in_force(scenario, parts, deadline)
        days = _working_days(scenario, first, last_day)
        return per * days, f"costs.shift_day x {days} working days"
    if kind == "date" and parts[0] == "changes" and last == "from":
        per = need(costs.shift_day, "costs.shift_day")
        i = int(parts[1])
        before = scenario.changes[i - 1].spec if i > 0 else scenario.spec
        extra = len(scenario.changes[i].spec.calendar.shifts) - len(before.calendar.shifts)
        if extra <= 0:
            raise PlanError(
                "this change adds no shift: give its cost per day in costs.fields",
                field=f"costs.fields.{path}",
                source=scenario.name,
            )
        return per * extra, f"costs.shift_day x {extra} shift(s) a day"
    if last == "quantity" or path == "chips.opening_stock":
        return need(costs.chip, "costs.chip"), "costs.chip"
    if parts[:2] == ["chips", "deliveries"] and last in ("date", "slip_days"):
        name = (
            f"costs.delivery_day.{parts[2]}"
            if isinstance(costs.delivery_day, dict)
            else "costs.delivery_day"
        )
        return need(_per_name(costs.delivery_day, parts[2]), name), name
    raise PlanError(
        "no cost rule for this field: give its cost per unit in costs.fields",
        field=f"costs.fields.{path}",
        source=scenario.name,
    )


def _in_force(scenario: Scenario, parts: Sequence[str], deadline: date) -> tuple[date, date]:
    """The days (first, last) the calendar at ``parts`` is in force, up to the deadline."""
    starts = [scenario.start, *(c.on for c in scenario.changes)]
    i = int(parts[1]) + 1 if parts[0] == "changes" else 0
    end = starts[i + 1] - timedelta(days=1) if i + 1 < len(starts) else deadline
    return max(starts[i], scenario.start), min(end, deadline)


__all__ = [
    "VARY",
    "Kind",
    "VariedField",
    "current_value",
    "parse_vary",
    "set_value",
    "show_value",
    "unit_cost_of",
    "varied_field",
]
