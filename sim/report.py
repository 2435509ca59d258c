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

``render_forecast`` draws the same document as a PDF a planner can put in front of a
minister: on the first page the question (target and date), each scenario's answer side by
side (the date and its interval, on time in how many replications, cards, stall days, what
limits the line) and the cumulative cards against the target line and the deadline, dated;
then cards per day (a 7-day average) and applications against cards; then every figure, and
the paired differences. ``forecast_text`` is the table with one column per scenario. Both
read only the document, so a saved JSON file can be drawn again later.

The PDF's fonts are the caller's to register (``printers.face.fonts`` lies outside what ``sim``
may import): pass their names; ReportLab's Helvetica is the default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.charts.utils import FillPairedData
from reportlab.graphics.shapes import Circle, Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from sim.pdf import (
    COLOURS,
    Column,
    Page,
    colour,
    count_text,
    date_ticks,
    day_label,
    fade,
    long_date,
    millions,
)
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
        ("cards per day", [_interval(e["per_day"]) for e in entries]),
        ("cumulative at end", [_interval(e["completed"]) for e in entries]),
        ("WIP (mean)", [_interval(e["mean_wip"]) for e in entries]),
        ("stall days", [_interval(e["stall_days"], "{:.1f}") for e in entries]),
        ("chips consumed", [_interval(e["chips_consumed"]) for e in entries]),
        ("chips spoiled", [_interval(e["chips_spoiled"]) for e in entries]),
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


# --- PDF: charts ----------------------------------------------------------------------------


def _day_of(start: date, day: date) -> float:
    return float((day - start).days + 1)


def _plot(
    start: date,
    days: int,
    top: float,
    font: str,
    width: float,
    height: float,
    *,
    left: float = 16 * mm,
) -> tuple[Drawing, LinePlot]:
    drawing = Drawing(width, height)
    chart = LinePlot()
    chart.x, chart.y = left, 9 * mm
    chart.width, chart.height = width - left - 4 * mm, height - 12 * mm
    chart.xValueAxis.valueMin = 1
    chart.xValueAxis.valueMax = days
    chart.xValueAxis.valueSteps = date_ticks(start, days)
    chart.xValueAxis.labelTextFormat = day_label(start)
    chart.yValueAxis.valueMin = 0
    chart.yValueAxis.valueMax = top
    chart.yValueAxis.labelTextFormat = millions
    for axis in (chart.xValueAxis, chart.yValueAxis):
        axis.labels.fontName = font
        axis.labels.fontSize = 7
    chart.yValueAxis.visibleGrid = True
    chart.yValueAxis.gridStrokeColor = colors.HexColor("#dddddd")
    chart.yValueAxis.gridStrokeWidth = 0.4
    return drawing, chart


def _add_series(
    chart: LinePlot,
    data: list[Any],
    series: Sequence[tuple[list[float], list[float], list[float]]],
    top: float,
) -> None:
    """Each (mean, low, high) as a line over a shaded band, the band clipped to [0, top]."""
    for n, (mean, low, high) in enumerate(series):
        c = colour(n)
        xs = [float(i + 1) for i in range(len(mean))]
        base = len(data)
        data.append([(x, min(top, max(0.0, y))) for x, y in zip(xs, low, strict=True)])
        data.append(
            FillPairedData(
                [(x, min(top, max(0.0, y))) for x, y in zip(xs, high, strict=True)], base
            )
        )
        data.append([(x, min(top, y)) for x, y in zip(xs, mean, strict=True)])
        for offset in (0, 1):
            chart.lines[base + offset].strokeColor = None
            chart.lines[base + offset].strokeWidth = 0
        chart.lines[base + 1].fillColor = fade(c, 0.16)
        chart.lines[base + 2].strokeColor = c
        chart.lines[base + 2].strokeWidth = 1.4


def _x(chart: LinePlot, day: float) -> float:
    axis = chart.xValueAxis
    span = axis.valueMax - axis.valueMin
    return float(chart.x + chart.width * (day - axis.valueMin) / span)


def _y(chart: LinePlot, value: float) -> float:
    return float(chart.y + chart.height * value / chart.yValueAxis.valueMax)


def _legend_width(names: Sequence[str], font: str) -> float:
    return float(max(stringWidth(name, font, 7.5) for name in names) + 9 * mm)


def _legend(drawing: Drawing, chart: LinePlot, names: Sequence[str], font: str) -> None:
    """Scenario names in their colours, inside the chart's top left corner."""
    x, y = chart.x + 3 * mm, chart.y + chart.height - 4 * mm
    width = _legend_width(names, font)
    drawing.add(
        Rect(
            x - 1.5 * mm,
            y - (len(names) - 1) * 4 * mm - 2 * mm,
            width,
            len(names) * 4 * mm + 1 * mm,
            fillColor=colors.white,
            strokeColor=colors.HexColor("#cccccc"),
            strokeWidth=0.4,
        )
    )
    for n, name in enumerate(names):
        yy = y - n * 4 * mm
        drawing.add(Line(x, yy + 1, x + 5 * mm, yy + 1, strokeColor=colour(n), strokeWidth=2))
        drawing.add(String(x + 6.5 * mm, yy - 1, name, fontName=font, fontSize=7.5))


def _axis_title(drawing: Drawing, chart: LinePlot, text: str, font: str) -> None:
    drawing.add(String(chart.x, chart.y + chart.height + 1.5 * mm, text, fontName=font, fontSize=7))


def cumulative_chart(figures: Mapping[str, Any], font: str, width: float, height: float) -> Drawing:
    """Cumulative good cards per scenario against the target line and the deadline, with
    each scenario's interval of the target date marked on the target line."""
    entries = figures["scenarios"]
    first = entries[0]
    start = date.fromisoformat(first["start"])
    cards = first["target"]["cards"]
    by = first["target"]["by"]
    days = max(e["days"] for e in entries)
    by_day = _day_of(start, date.fromisoformat(by)) if by else None
    if by_day is not None and by_day <= days + 1:
        days = max(days, int(by_day))
    peak = max(float(d["cumulative"]["mean"]) for e in entries for d in e["daily"])
    top = max(peak, float(cards or 0)) * 1.12 or 1.0
    drawing, chart = _plot(start, days, top, font, width, height)
    data: list[Any] = []
    series = [
        (
            [float(d["cumulative"]["mean"]) for d in e["daily"]],
            [float(d["cumulative"]["low"]) for d in e["daily"]],
            [float(d["cumulative"]["high"]) for d in e["daily"]],
        )
        for e in entries
    ]
    _add_series(chart, data, series, top)
    chart.data = data
    drawing.add(chart)
    _axis_title(drawing, chart, "good cards dispatched, cumulative", font)
    if cards:
        y = _y(chart, cards)
        drawing.add(
            Line(chart.x, y, chart.x + chart.width, y, strokeColor=colors.black,
                 strokeDashArray=[3, 2], strokeWidth=0.7)
        )  # fmt: skip
        label = f"target {millions(cards)}"
        # right of the legend (top left), so that the two never meet
        names = [e["scenario"] for e in entries]
        x = chart.x + 3 * mm + _legend_width(names, font) + 2 * mm
        drawing.add(String(x, y + 1.5 * mm, label, fontName=font, fontSize=7.5))
        for n, entry in enumerate(entries):  # the interval of the target date
            when = entry["target"]["date"]
            if when is None:
                continue
            low = _day_of(start, date.fromisoformat(when["low"]))
            high = _day_of(start, date.fromisoformat(when["high"]))
            mean = _day_of(start, date.fromisoformat(when["mean"]))
            yy = y - (2.2 + 2.2 * n) * mm
            drawing.add(
                Line(_x(chart, low), yy, _x(chart, high), yy, strokeColor=colour(n),
                     strokeWidth=2.2)
            )  # fmt: skip
            drawing.add(Circle(_x(chart, mean), yy, 1.3 * mm, fillColor=colour(n), strokeWidth=0))
    if by_day is not None and by_day <= days:
        x = _x(chart, by_day)
        drawing.add(
            Line(x, chart.y, x, chart.y + chart.height, strokeColor=colors.black,
                 strokeDashArray=[1, 2], strokeWidth=0.7)
        )  # fmt: skip
        drawing.add(
            String(x - 1 * mm, chart.y + chart.height - 4 * mm,
                   f"deadline {long_date(date.fromisoformat(by))}", fontName=font,
                   fontSize=7.5, textAnchor="end")
        )  # fmt: skip
    _legend(drawing, chart, [e["scenario"] for e in entries], font)
    return drawing


def per_day_chart(figures: Mapping[str, Any], font: str, width: float, height: float) -> Drawing:
    """Good cards a day, week by week (a step per week), each with its interval as a band.
    The axis holds every band up to twice the highest mean; a wider band (a week of
    stalls seen in few replications) is cut there, and the caption says so."""
    entries = figures["scenarios"]
    start = date.fromisoformat(entries[0]["start"])
    days = max(e["days"] for e in entries)
    series = []
    for e in entries:
        mean: list[float] = []
        low: list[float] = []
        high: list[float] = []
        for week in e.get("weekly") or []:
            span = (date.fromisoformat(week["to"]) - date.fromisoformat(week["from"])).days + 1
            mean += [float(week["per_day"]["mean"])] * span
            low += [float(week["per_day"]["low"])] * span
            high += [float(week["per_day"]["high"])] * span
        series.append((mean, low, high))
    peak = max((max(mean) for mean, _, _ in series if mean), default=0.0)
    widest = max((max(high) for _, _, high in series if high), default=0.0)
    top = min(max(peak * 1.15, widest * 1.05), 2 * peak) or 1.0
    drawing, chart = _plot(start, days, top, font, width, height)
    data: list[Any] = []
    _add_series(chart, data, series, top)
    chart.data = data
    drawing.add(chart)
    cut = " (bands cut at the top)" if widest > top else ""
    _axis_title(drawing, chart, f"good cards a day, week by week{cut}", font)
    _legend(drawing, chart, [e["scenario"] for e in entries], font)
    return drawing


def demand_chart(figures: Mapping[str, Any], font: str, width: float, height: float) -> Drawing:
    """Applications received (the backlog included) against good cards, cumulative."""
    entries = figures["scenarios"]
    start = date.fromisoformat(entries[0]["start"])
    days = max(e["days"] for e in entries)
    peak = max(
        max(float(d.get("applications", {"mean": 0})["mean"]), float(d["cumulative"]["mean"]))
        for e in entries
        for d in e["daily"]
    )
    top = peak * 1.12 or 1.0
    drawing, chart = _plot(start, days, top, font, width, height)
    data: list[Any] = []
    for n, e in enumerate(entries):
        xs = [float(i + 1) for i in range(len(e["daily"]))]
        apps = [float(d.get("applications", {"mean": 0})["mean"]) for d in e["daily"]]
        cards = [float(d["cumulative"]["mean"]) for d in e["daily"]]
        data.append(list(zip(xs, apps, strict=True)))
        chart.lines[len(data) - 1].strokeColor = colour(n)
        chart.lines[len(data) - 1].strokeWidth = 1.0
        chart.lines[len(data) - 1].strokeDashArray = [3, 2]
        data.append(list(zip(xs, cards, strict=True)))
        chart.lines[len(data) - 1].strokeColor = colour(n)
        chart.lines[len(data) - 1].strokeWidth = 1.4
    chart.data = data
    drawing.add(chart)
    _axis_title(
        drawing, chart, "applications received (dashed) and good cards (solid), cumulative", font
    )
    _legend(drawing, chart, [e["scenario"] for e in entries], font)
    return drawing


# --- PDF: pages -----------------------------------------------------------------------------


def _answer_rows(figures: Mapping[str, Any]) -> list[list[str]]:
    entries = figures["scenarios"]
    level = f"{100 * figures['confidence']:.0f} %"

    def date_of(e: Mapping[str, Any]) -> str:
        when = e["target"]["date"]
        if e["target"]["cards"] is None:
            return "no target"
        if when is None:
            return "not reached in the run"
        return long_date(date.fromisoformat(when["mean"]))

    def interval_of(e: Mapping[str, Any]) -> str:
        when = e["target"]["date"]
        if when is None:
            return "-"
        low, high = (long_date(date.fromisoformat(when[k])) for k in ("low", "high"))
        text = f"{low} to {high}"
        if e["target"]["reached"] < e["replications"]:
            text += f" ({e['target']['reached']} of {e['replications']} reached it)"
        return text

    def cards_of(e: Mapping[str, Any]) -> str:
        c = e["completed"]
        end = long_date(date.fromisoformat(e["end"]))
        return f"{count_text(c['mean'])} (±{count_text((c['high'] - c['low']) / 2)}) by {end}"

    return [
        ["what it is", *(e["description"] or "-" for e in entries)],
        ["target reached (mean date)", *(date_of(e) for e in entries)],
        [f"{level} interval of the date", *(interval_of(e) for e in entries)],
        ["on time (before the deadline)", *(on_time_text(e) for e in entries)],
        ["good cards dispatched", *(cards_of(e) for e in entries)],
        ["stall days (no chips)", *(_interval(e["stall_days"], "{:.1f}") for e in entries)],
        ["what limits the line", *(e.get("limits", {}).get("text", "-") for e in entries)],
    ]


def _columns(page: Page, names: Sequence[str], label: float) -> list[Column]:
    width = (page.text_width - label) / max(1, len(names))
    return [Column("", label), *(Column(name, width) for name in names)]


def _spoken(n: int) -> str:
    """``50 million``, ``2.5 million``, ``50,000``."""
    if n >= 1_000_000:
        return f"{n / 1e6:g} million"
    return f"{n:,}"


def _title(page: Page, figures: Mapping[str, Any], made_on: date | None) -> None:
    entries = figures["scenarios"]
    first = entries[0]
    cards, by = first["target"]["cards"], first["target"]["by"]
    if cards and by:
        question = (
            f"When do we reach {_spoken(cards)} cards? Target: {cards:,} good cards by "
            f"{long_date(date.fromisoformat(by))}"
        )
    elif cards:
        question = f"When do we reach {cards:,} good cards?"
    else:
        question = "What the line makes"
    page.paragraph(question, 15, bold=True, space_after=1 * mm)
    made = f"made {made_on.isoformat()} · " if made_on else ""
    page.paragraph(
        f"{made}scenarios: {', '.join(e['scenario'] for e in entries)} · seed "
        f"{figures['seed']}, {figures['replications']} replications each on common random "
        f"numbers · intervals and bands: {100 * figures['confidence']:.0f} % t-intervals of "
        "the mean",
        8,
        colour_=colors.HexColor("#444444"),
        space_after=3 * mm,
    )


def render_forecast(
    figures: Mapping[str, Any],
    out: Path,
    *,
    font: str = "Helvetica",
    bold: str = "Helvetica-Bold",
    made_on: date | None = None,
) -> Path:
    """Draw the forecast document as a PDF at ``out`` (atomically); see the module docstring
    for what is on each page."""
    out.parent.mkdir(parents=True, exist_ok=True)
    entries = figures["scenarios"]
    names = [e["scenario"] for e in entries]
    page = Page(out, "cardline what-if: " + ", ".join(names), font, bold)
    _title(page, figures, made_on)
    page.table(_columns(page, names, 46 * mm), _answer_rows(figures), size=8.5)
    height = max(60 * mm, page.room())
    cumulative_chart(figures, font, page.text_width, height).drawOn(
        page.canvas, page.left, page.y - height
    )
    page.new_page()
    page.paragraph("Cards a day, and demand", 12, bold=True)
    page.paragraph(
        "Top: good cards dispatched a day, week by week, with the interval of each week's "
        "mean. Below: applications received so far (the opening backlog included) against "
        "good cards made; the gap is the work waiting for a chip and a printer.",
        8,
        colour_=colors.HexColor("#444444"),
    )
    page.y -= 2 * mm
    height = (page.room() - 4 * mm) / 2
    per_day_chart(figures, font, page.text_width, height).drawOn(
        page.canvas, page.left, page.y - height
    )
    page.y -= height + 4 * mm
    demand_chart(figures, font, page.text_width, height).drawOn(
        page.canvas, page.left, page.y - height
    )
    page.new_page()
    page.paragraph("Every figure, per scenario (means ± half width of the interval)", 12, bold=True)
    page.table(_columns(page, names, 46 * mm), [[label, *cells] for label, cells in rows(figures)])
    _paired_table(page, figures)
    return page.save()


def _paired_table(page: Page, figures: Mapping[str, Any]) -> None:
    from sim.comparison import PAIRED_ROWS, difference_text, precision_text

    pairs = figures.get("paired") or []
    precision = precision_text(figures)
    if precision:
        page.paragraph(precision, 8)
    if not pairs:
        return
    if page.room() < 40 * mm:
        page.new_page()
    page.paragraph(
        "Paired differences: each scenario minus the first, replication by replication "
        f"(common random numbers; {100 * figures['confidence']:.0f} % paired-t intervals)",
        11,
        bold=True,
    )
    label = 46 * mm
    columns = [
        Column("", label),
        *(
            Column(f"{p['scenario']} - {p['baseline']}", (page.text_width - label) / len(pairs))
            for p in pairs
        ),
    ]
    table = [
        [name, *(difference_text(p[key], fmt, unit) for p in pairs)]
        for name, key, fmt, unit in PAIRED_ROWS
    ]
    page.table(columns, table)


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
]
