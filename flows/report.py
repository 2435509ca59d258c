"""The daily report: a PDF for the manager (ReportLab tables and a chart) from the line's figures.

First what a manager asks first: good cards today against the line's plan for the day,
days of chip cover with the projected stock-out date, the top spoilage reasons, the
machines out of service. Then cards per stage per day, yield per stage and rework,
applications per state, and every stock item with its whole reason. Times and days are
the centre's own (the line spec's time zone, named on the page). Tables are ReportLab
tables (columns line up in a proportional font; long text wraps in its cell, never cut).
No personal data: counts only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import KeepTogether
from sqlmodel import Session

from inventory.cover import ItemCover, cover
from line.files import private_dir, private_file
from line.kpi import DailyFigures, StatusCounts, daily_figures, status_counts
from line.machines import MachineStatus
from line.spec import LineSpec
from line.today import (
    DayAgainstPlan,
    ReasonCount,
    out_of_service,
    today_against_plan,
    top_spoilage,
)
from line.types import ApplicationState
from printers.face.fonts import FontNames, register_fonts

STAGES = ("print", "chip-encode", "qc", "dispatch", "delivery")
STAGE_COLOURS = (
    colors.HexColor("#1f77b4"),
    colors.HexColor("#ff7f0e"),
    colors.HexColor("#2ca02c"),
    colors.HexColor("#9467bd"),
    colors.HexColor("#8c564b"),
)
WIDTH = 170 * mm  # the text width of an A4 page with 20 mm margins


@dataclass(frozen=True, slots=True)
class DailyReport:
    """Everything the report shows, gathered by the daily-report flow (and its artifacts)."""

    centre: str
    at: datetime
    zone: ZoneInfo
    target: int
    counts: StatusCounts
    figures: DailyFigures
    stock: Sequence[ItemCover]
    today: DayAgainstPlan
    spoilage: Sequence[ReasonCount]
    machines_out: Sequence[MachineStatus]

    @property
    def local_at(self) -> datetime:
        return self.at.astimezone(self.zone)

    def local(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.zone):%Y-%m-%d %H:%M}"

    @property
    def chip(self) -> ItemCover | None:
        return next((item for item in self.stock if item.item == "chip"), None)


def gather(
    *, session: Session, spec: LineSpec, centre: str, at: datetime, target: int, days: int = 7
) -> DailyReport:
    """The report's figures as of ``at``, from the database and the line spec."""
    zone = ZoneInfo(spec.calendar.timezone)
    counts = status_counts(session=session)
    figures = daily_figures(session=session, until=at, days=days, zone=zone)
    return DailyReport(
        centre=centre, at=at, zone=zone, target=target, counts=counts, figures=figures,
        stock=cover(
            session=session, now=at, backlog=counts.applications[ApplicationState.APPROVED]
        ),
        today=today_against_plan(session=session, spec=spec, now=at),
        spoilage=top_spoilage(session=session, since=at - timedelta(days=days), until=at),
        machines_out=out_of_service(session=session),
    )  # fmt: skip


def days_of_cover(item: ItemCover) -> str:
    return "no recent use" if item.days_of_cover is None else f"{item.days_of_cover:.1f} days"


def stockout(item: ItemCover) -> str:
    return "-" if item.projected_stockout is None else f"{item.projected_stockout:%Y-%m-%d}"


class _Styles:
    def __init__(self, fonts: FontNames) -> None:
        self.fonts = fonts
        self.title = ParagraphStyle("title", fontName=fonts.bold, fontSize=16, leading=20)
        self.heading = ParagraphStyle(
            "heading", fontName=fonts.bold, fontSize=11, leading=14, spaceBefore=8, spaceAfter=3
        )
        self.body = ParagraphStyle("body", fontName=fonts.sans, fontSize=9, leading=11.5)
        self.cell = ParagraphStyle("cell", fontName=fonts.sans, fontSize=8.5, leading=10.5)
        grey = colors.HexColor("#555555")
        self.note = ParagraphStyle(
            "note", fontName=fonts.sans, fontSize=8, leading=10, textColor=grey
        )

    def table(
        self, header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float],
        numeric: Sequence[int] = (),
    ) -> Table:  # fmt: skip
        """A table with a bold header row (none if ``header`` is empty); text cells wrap,
        ``numeric`` columns (plain strings) align right."""
        body = [
            [
                c
                if isinstance(c, Flowable) or n in numeric
                else Paragraph(escape(str(c)), self.cell)
                for n, c in enumerate(row)
            ]
            for row in rows
        ]
        data = [list(header), *body] if header else body
        table = Table(data, colWidths=list(widths), repeatRows=1 if header else 0, hAlign="LEFT")
        style = [
            ("FONTNAME", (0, 0), (-1, -1), self.fonts.sans),
            ("FONTNAME", (0, 0), (-1, 0), self.fonts.bold if header else self.fonts.sans),
            ("FONTSIZE", (0, 0), (-1, -1), 8.5),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
            *([("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black)] if header else []),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ]
        for column in numeric:
            style.append(("ALIGN", (column, 0), (column, -1), "RIGHT"))
        table.setStyle(TableStyle(style))
        return table


def _chart(figures: DailyFigures, font: str) -> Drawing:
    drawing = Drawing(WIDTH, 70 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 14 * mm, 10 * mm, 150 * mm, 50 * mm
    chart.data = [
        [figures.done.get(stage, {}).get(day, 0) for day in figures.days] for stage in STAGES
    ]
    chart.categoryAxis.categoryNames = [day[5:] for day in figures.days]
    chart.categoryAxis.labels.fontName = font
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.valueMin = 0
    for index, colour in enumerate(STAGE_COLOURS):
        chart.bars[index].fillColor = colour
    drawing.add(chart)
    for index, (stage, colour) in enumerate(zip(STAGES, STAGE_COLOURS, strict=True)):
        drawing.add(Rect(15 * mm + index * 30 * mm, 65 * mm, 3 * mm, 3 * mm, fillColor=colour))
        drawing.add(String(19 * mm + index * 30 * mm, 65.5 * mm, stage, fontName=font, fontSize=8))
    return drawing


def _glance(report: DailyReport, s: _Styles) -> list[Flowable]:
    today, chip = report.today, report.chip
    share = "-" if today.share is None else f"{100 * today.share:.0f} % of plan"
    progress = report.figures.made / report.target if report.target else 0.0
    rows: list[Sequence[object]] = [
        ["Good cards today (passed QC)", f"{today.good:,}",
         f"plan {today.planned:,} ({share}; bottleneck: {today.bottleneck})"],
        ["Campaign progress", f"{report.figures.made:,}",
         f"of {report.target:,} good cards ({100 * progress:.1f} %)"],
    ]  # fmt: skip
    if chip is not None:
        rows.append(
            ["Chip cover", days_of_cover(chip),
             f"stock-out projected {stockout(chip)}; {chip.available:,} chips available"]
        )  # fmt: skip
    rows.append(
        ["Machines out of service", f"{len(report.machines_out)}",
         ", ".join(m.name for m in report.machines_out) or "none"]
    )  # fmt: skip
    return [
        Paragraph("Today at a glance", s.heading),
        s.table([], rows, [55 * mm, 25 * mm, 90 * mm], numeric=(1,)),
    ]


def _spoilage(report: DailyReport, s: _Styles) -> list[Flowable]:
    days = len(report.figures.days)
    out: list[Flowable] = [Paragraph(f"Top spoilage reasons (last {days} days)", s.heading)]
    if not report.spoilage:
        return [*out, Paragraph("No card failed a stage.", s.body)]
    rows = [[r.code, r.stage, f"{r.cards:,}", r.meaning] for r in report.spoilage]
    return [
        *out,
        s.table(["Reason", "Stage", "Cards", "Meaning"], rows,
                [45 * mm, 22 * mm, 15 * mm, 88 * mm], numeric=(2,)),
    ]  # fmt: skip


def _machines(report: DailyReport, s: _Styles) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("Machines out of service", s.heading)]
    if not report.machines_out:
        return [*out, Paragraph("Every machine is in service.", s.body)]
    rows = [
        [m.name, m.stage, report.local(m.changed_at), m.changed_by, m.reason or "-"]
        for m in report.machines_out
    ]
    widths = [22 * mm, 22 * mm, 30 * mm, 36 * mm, 60 * mm]
    return [*out, s.table(["Machine", "Stage", "Since", "By", "Reason"], rows, widths)]


def _yields(report: DailyReport, s: _Styles) -> list[Flowable]:
    figures = report.figures
    rows = []
    for stage in STAGES[:4]:
        value = figures.yield_of(stage)
        good = sum(figures.done.get(stage, {}).values())
        rows.append(
            [stage, f"{good:,}", f"{figures.failed.get(stage, 0):,}",
             "-" if value is None else f"{100 * value:.2f} %"]
        )  # fmt: skip
    return [
        Paragraph(f"Yield per stage (last {len(figures.days)} days)", s.heading),
        s.table(["Stage", "Good", "Spoiled", "Yield"], rows,
                [40 * mm, 25 * mm, 25 * mm, 25 * mm], numeric=(1, 2, 3)),
        Paragraph(f"Replacement cards started: {figures.reworked:,}", s.body),
    ]  # fmt: skip


def _stock(report: DailyReport, s: _Styles) -> list[Flowable]:
    states = [
        [state.replace("_", " "), f"{n:,}"] for state, n in report.counts.applications.items()
    ]
    stock = [
        [i.item, f"{i.available:,}", days_of_cover(i), stockout(i), i.state, i.reason]
        for i in report.stock
    ]
    return [
        KeepTogether([
            Paragraph("Applications per state", s.heading),
            s.table(["State", "Applications"], states, [40 * mm, 30 * mm], numeric=(1,)),
        ]),
        Paragraph("Stock", s.heading),
        s.table(["Item", "Available", "Cover", "Stock-out", "State", "Reason"], stock,
                [18 * mm, 20 * mm, 22 * mm, 22 * mm, 14 * mm, 74 * mm], numeric=(1,)),
    ]  # fmt: skip


def render_report(*, out: Path, report: DailyReport) -> Path:
    """Write the daily report to ``out`` (atomically, owner-only)."""
    fonts = register_fonts()
    styles = _Styles(fonts)
    private_dir(out.parent)
    tmp = private_file(out.with_name(out.name + ".part"))  # 0600 before ReportLab writes it
    local = report.local_at
    document = SimpleDocTemplate(
        str(tmp), pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
        bottomMargin=18 * mm, title=f"cardline daily report {report.centre} {local:%Y-%m-%d}",
        author="cardline", pageCompression=1,
    )  # fmt: skip
    zone_name = f"{local:%Z}, {report.zone.key}"
    story: list[Flowable] = [
        Paragraph(f"Daily report - centre {report.centre} - {local:%Y-%m-%d}", styles.title),
        Paragraph(f"Made {local:%Y-%m-%d %H:%M} ({zone_name}) by cardline", styles.note),
        *_glance(report, styles),
        *_spoilage(report, styles),
        *_machines(report, styles),
        KeepTogether([
            Paragraph(f"Cards per stage per day (last {len(report.figures.days)} days, "
                      f"days in {report.zone.key})", styles.heading),
            _chart(report.figures, fonts.sans),
        ]),
        *_yields(report, styles),
        Spacer(1, 2 * mm),
        *_stock(report, styles),
    ]  # fmt: skip
    document.build(story)
    os.chmod(tmp, 0o600)
    tmp.replace(out)
    return out
