"""Comparisons a planner can trust: paired differences, and replications to a precision.

**Paired differences.** Scenarios run with the same seed share their random numbers (common
random numbers, ``sim.streams``): replication ``i`` of two scenarios sees the same breakdowns,
arrivals and delivery delays wherever they share structure. So the difference between two
scenarios is best read replication by replication: ``d_i = x_i(B) - x_i(A)``, and a Student-t
interval over the ``d_i`` (the paired-t interval). Its width is that of the differences, not of
each scenario's own spread: a change of a few days shows as significant with ten replications
where two separate intervals would overlap. A difference is *significant* when its interval
leaves out 0 (or, when every replication differs by the same amount, when that amount is not
0). For the target date only the replications that reached the target in both scenarios
count (``n`` says how many).

**Replications to a precision.** ``forecast_scenarios(..., precision=H)`` adds replications (to
every scenario alike, so pairs stay paired) until the half-width of each scenario's interval
of the target date is at most ``H`` days, or ``max_replications``, starting from the
replications asked for (at least ``MIN_START``). The number needed is estimated from the
half-width seen so far (``n * (h / H) ** 2``), run, and checked again. A
scenario that never reaches its target has no date to make precise: it does not ask for more.

``forecast_scenarios`` returns the forecast document (``sim.report.forecast``) with, when
asked for, ``"paired"``, ``"precision"`` and ``"warmup_days"``::

    "paired": [{"baseline": "plan-2021", "scenario": "slip-march-21d", "replications": 10,
                "target_day": difference | null,    # null: fewer than 2 reached in both
                "completed": difference, "stall_days": difference}],
    "precision": {"half_width_days": 1.0, "max_replications": 200, "replications": 23,
                  "met": true, "scenarios": [{"scenario": str, "met": bool | null,
                                              "half_width_days": float | null}]}

where a ``difference`` is ``{"mean", "low", "high", "n", "significant"}`` (scenario minus
baseline; the baseline is the first scenario).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sim.results import RunResult
from sim.run import Mode, compare
from sim.scenario import Scenario
from sim.stats import t_interval

Runner = Callable[[Sequence[Scenario], int, int], dict[str, list[RunResult]]]
"""``runner(scenarios, first, count)``: replications ``first .. first + count - 1`` of each
scenario, by name (``sim.compare`` here, the what-if flow's tasks on a cluster)."""

METRICS = ("target_day", "completed", "stall_days")

MIN_START = 5
"""Replications before the first estimate of the half-width: two alike say nothing."""


def _value(run: RunResult, metric: str) -> float | None:
    if metric == "target_day":
        day = run.target_day
        return None if day is None else float(day)
    if metric == "completed":
        return float(run.totals.completed)
    return float(run.totals.stall_days)


def difference(values: Sequence[float], confidence: float = 0.95) -> dict[str, Any] | None:
    """The paired-t interval of per-replication differences, with its verdict."""
    if len(values) < 2:
        return None
    interval = t_interval(values, confidence)
    if interval.low == interval.high:  # every replication differs by the same amount
        significant = interval.mean != 0
    else:
        significant = interval.low > 0 or interval.high < 0
    return {**interval.as_dict(), "significant": significant}


def paired(
    baseline: Sequence[RunResult], other: Sequence[RunResult], confidence: float = 0.95
) -> dict[str, Any]:
    """``other`` minus ``baseline``, replication by replication (the same indices)."""
    if [r.replication for r in baseline] != [r.replication for r in other]:
        raise ValueError("paired comparison needs the same replications of both scenarios")
    if baseline and baseline[0].seed != other[0].seed:
        raise ValueError("paired comparison needs the same seed for both scenarios")
    entry: dict[str, Any] = {
        "baseline": baseline[0].scenario,
        "scenario": other[0].scenario,
        "replications": len(baseline),
    }
    for metric in METRICS:
        values = []
        for a, b in zip(baseline, other, strict=True):
            x, y = _value(a, metric), _value(b, metric)
            if x is not None and y is not None:
                values.append(y - x)
        entry[metric] = difference(values, confidence)
    return entry


def _half_width(runs: Sequence[RunResult], confidence: float) -> float | None:
    days = [float(r.target_day) for r in runs if r.target_day is not None]
    return t_interval(days, confidence).half_width if len(days) >= 2 else None


def precision_status(
    results: Mapping[str, Sequence[RunResult]], half_width_days: float, confidence: float
) -> list[dict[str, Any]]:
    status = []
    for name, runs in results.items():
        width = _half_width(runs, confidence)
        status.append(
            {
                "scenario": name,
                "half_width_days": width,
                "met": None if width is None else width <= half_width_days,
            }
        )
    return status


def to_precision(
    scenarios: Sequence[Scenario],
    runner: Runner,
    *,
    start: int,
    half_width_days: float,
    max_replications: int,
    confidence: float = 0.95,
) -> tuple[dict[str, list[RunResult]], dict[str, Any]]:
    """Replications of every scenario until each target date's half-width is at most
    ``half_width_days`` (or ``max_replications``); the results and the precision record."""
    if half_width_days <= 0:
        raise ValueError(f"the precision must be more than 0 days, not {half_width_days}")
    if max_replications < 2:
        raise ValueError("max_replications must be at least 2")
    n = max(min(MIN_START, max_replications), min(start, max_replications))
    results = runner(scenarios, 0, n)
    while n < max_replications:
        wanted = n
        for runs in results.values():
            width = _half_width(runs, confidence)
            if width is not None and width > half_width_days:
                wanted = max(wanted, math.ceil(n * (width / half_width_days) ** 2))
        wanted = min(wanted, max_replications)
        if wanted <= n:
            break
        more = runner(scenarios, n, wanted - n)
        results = {name: [*runs, *more[name]] for name, runs in results.items()}
        n = wanted
    status = precision_status(results, half_width_days, confidence)
    record = {
        "half_width_days": half_width_days,
        "max_replications": max_replications,
        "replications": n,
        "met": all(s["met"] is not False for s in status),
        "scenarios": status,
    }
    return results, record


def local_runner(*, seed: int, mode: Mode, workers: int | None, warmup_days: float = 0.0) -> Runner:
    """Replications in this machine's process pool (``sim.compare``)."""

    def run(scenarios: Sequence[Scenario], first: int, count: int) -> dict[str, list[RunResult]]:
        return compare(
            scenarios,
            count,
            seed=seed,
            mode=mode,
            workers=workers,
            warmup_days=warmup_days,
            first=first,
        )

    return run


def forecast_scenarios(
    scenarios: Sequence[Scenario],
    runner: Runner,
    *,
    replications: int,
    requested_mode: str,
    warmup_days: float = 0.0,
    paired_with_first: bool = False,
    precision: float | None = None,
    max_replications: int = 200,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The forecast document of ``scenarios`` (``sim.report.forecast``), with the paired
    differences from the first scenario and replications to a precision when asked."""
    from sim.report import forecast

    if paired_with_first and len(scenarios) < 2:
        raise ValueError("a paired comparison needs at least two scenarios")
    record = None
    if precision is None:
        results = runner(scenarios, 0, replications)
    else:
        results, record = to_precision(
            scenarios,
            runner,
            start=replications,
            half_width_days=precision,
            max_replications=max_replications,
            confidence=confidence,
        )
    figures = forecast(scenarios, results, requested_mode=requested_mode, confidence=confidence)
    if warmup_days:
        figures["warmup_days"] = warmup_days
    if record is not None:
        figures["precision"] = record
    if paired_with_first:
        baseline = results[scenarios[0].name]
        figures["paired"] = [paired(baseline, results[s.name], confidence) for s in scenarios[1:]]
    return figures


def _signed(value: float, fmt: str) -> str:
    return ("+" if value > 0 else "") + fmt.format(value)


def difference_text(diff: Mapping[str, Any] | None, fmt: str, unit: str) -> str:
    """``+3.2 days (+1.9 .. +4.5): significant`` (or ``not significant``)."""
    if diff is None:
        return "not comparable (reached in both in fewer than 2 replications)"
    verdict = "significant" if diff["significant"] else "not significant"
    if diff["low"] == diff["high"]:
        if diff["mean"] == 0:
            return f"no difference in any of {diff['n']} replications"
        return f"{_signed(diff['mean'], fmt)}{unit} in every replication: {verdict}"
    return (
        f"{_signed(diff['mean'], fmt)}{unit} ({_signed(diff['low'], fmt)} .. "
        f"{_signed(diff['high'], fmt)}): {verdict}"
    )


PAIRED_ROWS = (
    ("target date", "target_day", "{:.1f}", " days"),
    ("completed cards", "completed", "{:,.0f}", ""),
    ("stall days", "stall_days", "{:.1f}", ""),
)


def paired_text(figures: Mapping[str, Any]) -> str:
    """The paired differences as lines of text (empty if there are none)."""
    pairs = figures.get("paired") or []
    if not pairs:
        return ""
    level = f"{100 * figures['confidence']:.0f} %"
    lines = [
        f"paired differences (scenario - baseline, replication by replication; {level} "
        "paired-t intervals):"
    ]
    for pair in pairs:
        lines.append(
            f"{pair['scenario']} - {pair['baseline']} ({pair['replications']} replications)"
        )
        for label, key, fmt, unit in PAIRED_ROWS:
            lines.append(f"  {label:<16} {difference_text(pair[key], fmt, unit)}")
    return "\n".join(lines)


def precision_text(figures: Mapping[str, Any]) -> str:
    record = figures.get("precision")
    if not record:
        return ""
    parts = []
    for s in record["scenarios"]:
        if s["met"] is None:
            parts.append(f"{s['scenario']}: target not reached, no date to make precise")
        else:
            parts.append(f"{s['scenario']}: ±{s['half_width_days']:.2f} days")
    cap = record["max_replications"]
    verdict = "met" if record["met"] else f"NOT met at --max-replications {cap}"
    return (
        f"precision: target date within ±{record['half_width_days']:g} days {verdict} with "
        f"{record['replications']} replications ({'; '.join(parts)})"
    )


__all__ = [
    "Runner",
    "difference",
    "difference_text",
    "forecast_scenarios",
    "local_runner",
    "paired",
    "paired_text",
    "precision_status",
    "precision_text",
    "to_precision",
]
