"""The forecast document (``cardline.forecast/1``, ``sim.report``) as a PDF.

``render_forecast`` draws the document as a PDF a planner can put in front of a minister:
on the first page the question (target and date), each scenario's answer side by
side (the date and its interval, on time in how many replications, cards, stall days, what
limits the line) and the cumulative cards against the target line and the deadline, dated;
then good cards a day (week by week) and applications against cards; then every figure, and
the paired differences. It reads only the document, so a saved JSON file can be drawn again
later.

The PDF's fonts are the caller's to register (``printers.face.fonts`` lies outside what ``sim``
may import): pass their names; ReportLab's Helvetica is the default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm

from sim.comparison import PAIRED_ROWS, difference_text, precision_text
from sim.pdf import Column, Page, count_text, long_date
from sim.report_charts import cumulative_chart, demand_chart, per_day_chart
from sim.report_text import interval_text, on_time_text, rows


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
        ["stall days (no chips)", *(interval_text(e["stall_days"], "{:.1f}") for e in entries)],
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


__all__ = ["render_forecast"]
