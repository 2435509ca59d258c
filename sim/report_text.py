"""The forecast document (``cardline.forecast/1``, ``sim.report``) as text: one column per
scenario, the rows the PDF's table of every figure uses too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _count(value: float) -> str:
    return f"{value:,.0f}"


def interval_text(item: Mapping[str, Any], fmt: str = "{:,.0f}") -> str:
    """An interval as ``mean ±half width`` (the mean alone from one replication)."""
    if item["n"] <= 1:
        return fmt.format(item["mean"])
    return f"{fmt.format(item['mean'])} ±{fmt.format((item['high'] - item['low']) / 2)}"


def target_text(entry: Mapping[str, Any]) -> str:
    """``2021-06-26 (06-25..06-28)``, ``not reached``, or ``2021-06-29 (2/3 reached)``."""
    target = entry["target"]
    if target["cards"] is None:
        return "no target"
    when = target["date"]
    if when is None:
        return "not reached"
    text = f"{when['mean']} ({when['low'][5:]}..{when['high'][5:]})"
    if target["reached"] < entry["replications"]:
        text += f" {target['reached']}/{entry['replications']} reached"
    return text


def on_time_text(entry: Mapping[str, Any]) -> str:
    target = entry["target"]
    if target["cards"] is None or target["by"] is None:
        return "-"
    return f"{target.get('on_time', 0)} of {entry['replications']} replications"


def _hours(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 3600:.1f} h"


def rows(figures: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """The figures as (label, one cell per scenario) rows: the text table and the PDF's."""
    entries = figures["scenarios"]
    out: list[tuple[str, list[str]]] = [
        ("mode", [f"{e['mode']} x{e['replications']}" for e in entries]),
        (
            "target",
            [
                "-"
                if e["target"]["cards"] is None
                else f"{_count(e['target']['cards'])} by {e['target']['by'] or '-'}"
                for e in entries
            ],
        ),
        ("target reached on", [target_text(e) for e in entries]),
        ("on time", [on_time_text(e) for e in entries]),
        ("cards per day", [interval_text(e["per_day"]) for e in entries]),
        ("cumulative at end", [interval_text(e["completed"]) for e in entries]),
        ("WIP (mean)", [interval_text(e["mean_wip"]) for e in entries]),
        ("stall days", [interval_text(e["stall_days"], "{:.1f}") for e in entries]),
        ("chips consumed", [interval_text(e["chips_consumed"]) for e in entries]),
        ("chips spoiled", [interval_text(e["chips_spoiled"]) for e in entries]),
        ("limited by", [e.get("limits", {}).get("by", "-") for e in entries]),
    ]
    if any(e.get("time_in_system_s") for e in entries):
        out.append(
            (
                "time in system",
                [
                    "-"
                    if not e.get("time_in_system_s")
                    else f"{e['time_in_system_s']['mean'] / 3600:.2f} h"
                    for e in entries
                ],
            )
        )
    for i, stage in enumerate(entries[0]["stages"]):
        name = stage["stage"]
        out.append(
            (
                f"{name} utilisation",
                [f"{100 * e['stages'][i]['utilisation']['mean']:.1f} %" for e in entries],
            )
        )
        out.append(
            (
                f"{name} wait",
                [
                    _hours(
                        None
                        if e["stages"][i]["mean_wait_s"] is None
                        else e["stages"][i]["mean_wait_s"]["mean"]
                    )
                    for e in entries
                ],
            )
        )
    return out


def forecast_text(figures: Mapping[str, Any]) -> str:
    """A compact table, one column per scenario (means; ± the interval's half width)."""
    names = [e["scenario"] for e in figures["scenarios"]]
    table = [("", names), *rows(figures)]
    label_width = max(len(label) for label, _ in table)
    widths = [max(len(cells[i]) for _, cells in table) for i in range(len(names))]
    lines = [
        "  ".join(
            [label.ljust(label_width), *(c.rjust(w) for c, w in zip(cells, widths, strict=True))]
        )
        for label, cells in table
    ]
    lines.append(
        f"seed {figures['seed']}, {figures['replications']} replications, common random "
        f"numbers; ± half width of the {100 * figures['confidence']:.0f} % interval"
    )
    return "\n".join(lines)


__all__ = ["forecast_text", "interval_text", "on_time_text", "rows", "target_text"]
