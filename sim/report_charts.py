"""The forecast's charts (ReportLab drawings): cumulative good cards against the target and
the deadline, good cards a day week by week, and applications against cards; each scenario
a line over its interval's band, in its colour."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.charts.utils import FillPairedData
from reportlab.graphics.shapes import Circle, Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from sim.pdf import colour, date_ticks, day_label, fade, long_date, millions


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
        _target_line(drawing, chart, entries, start, cards, font)
    if by_day is not None and by_day <= days:
        _deadline_line(drawing, chart, by_day, date.fromisoformat(by), font)
    _legend(drawing, chart, [e["scenario"] for e in entries], font)
    return drawing


def _target_line(
    drawing: Drawing,
    chart: LinePlot,
    entries: Sequence[Mapping[str, Any]],
    start: date,
    cards: int,
    font: str,
) -> None:
    """The target as a dashed line, labelled, with each scenario's interval of the target
    date under it (a bar from low to high, a dot at the mean) in the scenario's colour."""
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


def _deadline_line(drawing: Drawing, chart: LinePlot, by_day: float, by: date, font: str) -> None:
    """The deadline as a dotted vertical line, labelled with its date."""
    x = _x(chart, by_day)
    drawing.add(
        Line(x, chart.y, x, chart.y + chart.height, strokeColor=colors.black,
             strokeDashArray=[1, 2], strokeWidth=0.7)
    )  # fmt: skip
    drawing.add(
        String(x - 1 * mm, chart.y + chart.height - 4 * mm,
               f"deadline {long_date(by)}", fontName=font,
               fontSize=7.5, textAnchor="end")
    )  # fmt: skip


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


__all__ = ["cumulative_chart", "demand_chart", "per_day_chart"]
