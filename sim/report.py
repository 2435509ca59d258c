"""What-if forecasts for planners: the figures of scenarios compared, as JSON, text and a PDF.

``forecast`` turns the replications of several scenarios (``sim.compare``: common random
numbers) into one JSON-ready document, schema ``cardline.forecast/1``::

    {
      "schema": "cardline.forecast/1",
      "seed": 1, "replications": 3, "requested_mode": "auto" | "cards" | "fast",
      "confidence": 0.95,
      "scenarios": [{             # in the order given
        ...Summary.to_dict(),     # scenario, mode, seed, replications, confidence, start,
                                  # target {cards, by, reached, day, date}, completed,
                                  # chips_consumed, chips_spoiled, held, stall_days,
                                  # starved_hours, mean_wip, stages [...], daily [...]
        "description": str, "days": int, "end": "YYYY-MM-DD",   # the last simulated day
        "per_day": interval,      # good cards dispatched per calendar day over the run
      }, ...]
    }

Every interval is ``{"mean", "low", "high", "n"}`` (a ``confidence`` t-interval over the
replications). ``render_forecast`` draws the same document as a PDF, and ``forecast_text`` as
a table with one column per scenario: both read only the document, so a saved JSON file can
be drawn again later.

The PDF's fonts are the caller's to register (``printers.fonts`` lies outside what ``sim``
may import): pass their names; ReportLab's Helvetica is the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.charts.utils import FillPairedData
from reportlab.graphics.shapes import Drawing, Line, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from sim.results import RunResult, summarise
from sim.scenario import Scenario

SCHEMA = "cardline.forecast/1"

COLOURS = (
    colors.HexColor("#1f77b4"),
    colors.HexColor("#d62728"),
    colors.HexColor("#2ca02c"),
    colors.HexColor("#9467bd"),
    colors.HexColor("#ff7f0e"),
    colors.HexColor("#8c564b"),
)


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


# --- text -----------------------------------------------------------------------------------


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _interval(item: Mapping[str, Any], fmt: str = "{:,.0f}") -> str:
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
        ("cards per day", [_interval(e["per_day"]) for e in entries]),
        ("cumulative at end", [_interval(e["completed"]) for e in entries]),
        ("WIP (mean)", [_interval(e["mean_wip"]) for e in entries]),
        ("stall days", [_interval(e["stall_days"], "{:.1f}") for e in entries]),
        ("chips consumed", [_interval(e["chips_consumed"]) for e in entries]),
        ("chips spoiled", [_interval(e["chips_spoiled"]) for e in entries]),
    ]
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


# --- PDF ------------------------------------------------------------------------------------


def _band_chart(
    figures: Mapping[str, Any], key: str, font: str, *, target: bool, width: float, height: float
) -> Drawing:
    """Daily means of ``key`` per scenario, each with its interval as a shaded band."""
    drawing = Drawing(width, height)
    chart = LinePlot()
    chart.x, chart.y = 16 * mm, 10 * mm
    chart.width, chart.height = width - 22 * mm, height - 20 * mm
    data: list[Any] = []
    top = 0.0
    for n, entry in enumerate(figures["scenarios"]):
        colour = COLOURS[n % len(COLOURS)]
        days = entry["daily"]
        # a count is never negative: a wide interval is drawn from 0
        low = [(float(i + 1), max(0.0, float(d[key]["low"]))) for i, d in enumerate(days)]
        high = FillPairedData(
            [(float(i + 1), float(d[key]["high"])) for i, d in enumerate(days)], len(data)
        )
        mean = [(float(i + 1), float(d[key]["mean"])) for i, d in enumerate(days)]
        top = max(top, *(y for _, y in high))
        base = len(data)
        data.extend([low, high, mean])
        band = colors.Color(colour.red, colour.green, colour.blue, alpha=0.18)
        for offset, stroke in ((0, None), (1, None), (2, colour)):
            style = chart.lines[base + offset]
            style.strokeColor = stroke
            style.strokeWidth = 1.2 if offset == 2 else 0
        chart.lines[base + 1].fillColor = band
    chart.data = data
    cards = figures["scenarios"][0]["target"]["cards"] if target else None
    if cards:
        top = max(top, float(cards))
    chart.yValueAxis.valueMin = 0
    chart.yValueAxis.valueMax = top * 1.05 if top > 0 else 1
    chart.yValueAxis.labelTextFormat = _millions if top >= 1e6 else "{:,.0f}".format
    chart.yValueAxis.labels.fontName = font
    chart.xValueAxis.labels.fontName = font
    chart.xValueAxis.valueMin = 1
    chart.xValueAxis.valueMax = max(len(e["daily"]) for e in figures["scenarios"])
    drawing.add(chart)
    if cards:
        chart_top = chart.yValueAxis.valueMax
        y = chart.y + chart.height * cards / chart_top
        drawing.add(
            Line(
                chart.x,
                y,
                chart.x + chart.width,
                y,
                strokeColor=colors.black,
                strokeDashArray=[3, 2],
                strokeWidth=0.7,
            )
        )
        drawing.add(String(chart.x + 2, y + 2, f"target {cards:,}", fontName=font, fontSize=7))
    drawing.add(
        String(
            chart.x + chart.width,
            1.5 * mm,
            "day of the run",
            fontName=font,
            fontSize=7,
            textAnchor="end",
        )
    )
    return drawing


def _millions(value: float) -> str:
    return f"{value / 1e6:g} M"


def _legend(canvas: Canvas, figures: Mapping[str, Any], x: float, y: float, font: str) -> None:
    canvas.setFont(font, 8)
    for n, entry in enumerate(figures["scenarios"]):
        colour = COLOURS[n % len(COLOURS)]
        canvas.setFillColor(colour)
        canvas.rect(x, y - n * 4.5 * mm, 3 * mm, 3 * mm, stroke=0, fill=1)
        canvas.setFillColor(colors.black)
        text = entry["scenario"]
        if entry["description"]:
            text += f": {entry['description']}"
        if len(text) > 150:
            text = text[:149] + "…"
        canvas.drawString(x + 5 * mm, y - n * 4.5 * mm + 0.5 * mm, text)


def render_forecast(
    figures: Mapping[str, Any],
    out: Path,
    *,
    font: str = "Helvetica",
    bold: str = "Helvetica-Bold",
    made_on: date | None = None,
) -> Path:
    """Draw the forecast document as a PDF at ``out`` (atomically): the cumulative cards and
    the cards per day of each scenario with their bands and the target, then the table."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    page_width, page_height = landscape(A4)
    canvas = Canvas(str(tmp), pagesize=(page_width, page_height), pageCompression=1)
    names = [e["scenario"] for e in figures["scenarios"]]
    canvas.setTitle("cardline what-if: " + ", ".join(names))
    y = page_height - 15 * mm
    canvas.setFont(bold, 15)
    canvas.drawString(15 * mm, y, "What-if forecast: " + ", ".join(names))
    canvas.setFont(font, 8)
    made = f"made {made_on.isoformat()} · " if made_on else ""
    canvas.drawString(
        15 * mm,
        y - 5 * mm,
        f"{made}seed {figures['seed']}, {figures['replications']} replications per scenario "
        f"(common random numbers); bands: {100 * figures['confidence']:.0f} % t-intervals",
    )
    _legend(canvas, figures, 15 * mm, y - 11 * mm, font)
    chart_top = y - 14 * mm - len(names) * 4.5 * mm
    chart_width, chart_height = (page_width - 35 * mm) / 2, 95 * mm
    canvas.setFont(bold, 10)
    canvas.drawString(15 * mm, chart_top, "Cumulative good cards")
    canvas.drawString(20 * mm + chart_width, chart_top, "Good cards dispatched per day")
    _band_chart(
        figures, "cumulative", font, target=True, width=chart_width, height=chart_height
    ).drawOn(canvas, 15 * mm, chart_top - chart_height - 2 * mm)
    _band_chart(
        figures, "completed", font, target=False, width=chart_width, height=chart_height
    ).drawOn(canvas, 20 * mm + chart_width, chart_top - chart_height - 2 * mm)
    canvas.showPage()
    _table_page(canvas, figures, font, bold, page_width, page_height)
    canvas.save()
    os.chmod(tmp, 0o600)
    tmp.replace(out)
    return out


def _table_page(
    canvas: Canvas,
    figures: Mapping[str, Any],
    font: str,
    bold: str,
    page_width: float,
    page_height: float,
) -> None:
    names = [e["scenario"] for e in figures["scenarios"]]
    y = page_height - 15 * mm
    canvas.setFont(bold, 13)
    canvas.drawString(15 * mm, y, "Figures per scenario (means ± half width of the interval)")
    label_width = 45 * mm
    column = min(60 * mm, (page_width - 30 * mm - label_width) / max(1, len(names)))
    y -= 10 * mm
    canvas.setFont(bold, 8)
    for i, name in enumerate(names):
        canvas.drawString(15 * mm + label_width + i * column, y, name)
    canvas.setFont(font, 8)
    for n, (label, cells) in enumerate(rows(figures)):
        y -= 5 * mm
        if n % 2 == 0:
            canvas.setFillColor(colors.HexColor("#f0f0f0"))
            canvas.rect(14 * mm, y - 1.3 * mm, page_width - 28 * mm, 5 * mm, stroke=0, fill=1)
            canvas.setFillColor(colors.black)
        canvas.drawString(15 * mm, y, label)
        for i, cell in enumerate(cells):
            canvas.drawString(15 * mm + label_width + i * column, y, cell)
    canvas.showPage()


__all__ = ["SCHEMA", "forecast", "forecast_text", "render_forecast", "rows", "target_text"]
