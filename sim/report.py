"""What-if forecasts for planners: the figures of scenarios compared, as JSON, text and a PDF.

``forecast`` turns the replications of several scenarios (``sim.compare``: common random
numbers) into one JSON-ready document, schema ``cardline.forecast/1``::

    {
      "schema": "cardline.forecast/1",
      "seed": 1, "replications": 3, "requested_mode": "auto" | "cards" | "fast",
      "confidence": 0.95,
      "scenarios": [{             # in the order given
        ...Summary.to_dict(),     # scenario, mode, seed, replications, confidence, start,
                                  # target {cards, by, reached, on_time, day, date},
                                  # completed, chips_consumed, chips_spoiled, held,
                                  # stall_days, starved_hours, mean_wip, time_in_system_s,
                                  # stages [...], daily [{date, cumulative, completed,
                                  # applications}]
        "description": str, "days": int, "end": "YYYY-MM-DD",   # the last simulated day
        "per_day": interval,      # good cards dispatched per calendar day over the run
        "shift_hours": float,     # shift hours of the run (the calendar's)
        "weekly": [{"from": date, "to": date, "per_day": interval}],  # good cards a day,
                                  # week by week from the start (the last week may be short)
        "limits": {"by": "chips" | "stage" | "demand", "stage": str | null, "text": str},
      }, ...],
      "paired": [...], "precision": {...}, "warmup_days": float   # when asked (sim.comparison)
    }

Every interval is ``{"mean", "low", "high", "n"}`` (a ``confidence`` t-interval over the
replications). ``limits`` says what holds the line back: chips when print was starved of them
for at least 5 % of the shift time (or a day or more stalled), else the busiest stage when it
is busy at least 85 % of its shift time, else demand (the line waits for applications).

``forecast_text`` (``sim.report_text``) is the table with one column per scenario;
``render_forecast`` (``sim.report_pdf``, its charts in ``sim.report_charts``) draws the same
document as a PDF. Both read only the document, so a saved JSON file can be drawn again
later; both are importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sim.pdf import COLOURS
from sim.report_charts import cumulative_chart
from sim.report_pdf import render_forecast
from sim.report_text import forecast_text, on_time_text, rows, target_text
from sim.results import RunResult, summarise
from sim.scenario import Scenario
from sim.stats import t_interval

SCHEMA = "cardline.forecast/1"

STARVED_SHARE = 0.05
"""Chips limit the line when print was starved of them this share of the shift time."""

BUSY = 0.85
"""A stage limits the line when it is busy this share of its shift time."""


def limits(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What holds the line back, from a scenario's figures (see the module docstring)."""
    stages = entry["stages"]
    busiest = max(stages, key=lambda s: s["utilisation"]["mean"])
    busy = busiest["utilisation"]["mean"]
    stage_text = f"{busiest['stage']} ({100 * busy:.0f} % busy)"
    shift = entry.get("shift_hours") or 0.0
    starved = entry["starved_hours"]["mean"]
    stalls = entry["stall_days"]["mean"]
    if stalls >= 1 or (shift > 0 and starved >= STARVED_SHARE * shift):
        share = f", {100 * starved / shift:.0f} % of shift time" if shift > 0 else ""
        text = f"chips: {stalls:.1f} stall days{share}; then {stage_text}"
        return {"by": "chips", "stage": busiest["stage"], "text": text}
    if busy >= BUSY:
        return {"by": "stage", "stage": busiest["stage"], "text": stage_text}
    return {
        "by": "demand",
        "stage": None,
        "text": f"demand: the line waits for applications (busiest: {stage_text})",
    }


def weekly(runs: Sequence[RunResult], confidence: float = 0.95) -> list[dict[str, Any]]:
    """Good cards a day, week by week, with an interval over the replications (each
    replication's weekly mean first, then the interval: not an average of daily limits)."""
    first = runs[0]
    out = []
    for begin in range(0, first.days, 7):
        end = min(begin + 7, first.days)
        rates = []
        for run in runs:
            before = run.daily[begin - 1].cumulative if begin else 0
            rates.append((run.daily[end - 1].cumulative - before) / (end - begin))
        out.append(
            {
                "from": first.daily[begin].date.isoformat(),
                "to": first.daily[end - 1].date.isoformat(),
                "per_day": t_interval(rates, confidence).as_dict(),
            }
        )
    return out


def forecast(
    scenarios: Sequence[Scenario],
    results: Mapping[str, Sequence[RunResult]],
    *,
    requested_mode: str,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The forecast document of ``scenarios`` from their replications (by scenario name)."""
    if not scenarios:
        raise ValueError("no scenarios to report")
    entries = []
    for scenario in scenarios:
        runs = results[scenario.name]
        summary = summarise(runs, confidence)
        days = runs[0].days
        entry = summary.to_dict()
        entry["description"] = scenario.description
        entry["days"] = days
        entry["end"] = (summary.start + timedelta(days=days - 1)).isoformat()
        entry["per_day"] = {
            "mean": summary.completed.mean / days,
            "low": summary.completed.low / days,
            "high": summary.completed.high / days,
            "n": summary.completed.n,
        }
        entry["shift_hours"] = sum(d.shift_hours for d in runs[0].daily)
        entry["weekly"] = weekly(runs, confidence)
        entry["limits"] = limits(entry)
        entries.append(entry)
    first = entries[0]
    return {
        "schema": SCHEMA,
        "seed": first["seed"],
        "replications": first["replications"],
        "requested_mode": requested_mode,
        "confidence": confidence,
        "scenarios": entries,
    }


__all__ = [
    "COLOURS",
    "SCHEMA",
    "cumulative_chart",
    "forecast",
    "forecast_text",
    "limits",
    "on_time_text",
    "render_forecast",
    "rows",
    "target_text",
    "weekly",
]
