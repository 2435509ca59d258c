"""The daily report: a PDF for the manager (ReportLab, with charts) from the line's figures.

Cards per stage per day, yield per stage, rework, chip stock and days of cover, progress
toward the campaign target. No personal data: counts only.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from inventory.cover import ItemCover
from line.files import private_dir, private_file
from line.kpi import DailyFigures, StatusCounts
from printers.face.fonts import register_fonts

STAGES = ("print", "chip-encode", "qc", "dispatch", "delivery")
STAGE_COLOURS = (
    colors.HexColor("#1f77b4"),
    colors.HexColor("#ff7f0e"),
    colors.HexColor("#2ca02c"),
    colors.HexColor("#9467bd"),
    colors.HexColor("#8c564b"),
)


def _chart(figures: DailyFigures, font: str) -> Drawing:
    drawing = Drawing(170 * mm, 70 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 12 * mm, 10 * mm, 150 * mm, 52 * mm
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
        drawing.add(Rect(15 * mm + index * 30 * mm, 66 * mm, 3 * mm, 3 * mm, fillColor=colour))
        drawing.add(String(19 * mm + index * 30 * mm, 66.5 * mm, stage, fontName=font, fontSize=8))
    return drawing


def render_report(
    *,
    out: Path,
    centre: str,
    at: datetime,
    counts: StatusCounts,
    figures: DailyFigures,
    stock: list[ItemCover],
    target: int,
) -> Path:
    """Write the daily report to ``out`` (atomically)."""
    fonts = register_fonts()
    private_dir(out.parent)
    tmp = private_file(out.with_name(out.name + ".part"))  # 0600 before ReportLab writes it
    canvas = Canvas(str(tmp), pagesize=A4, pageCompression=1)
    canvas.setTitle(f"cardline daily report {centre} {at:%Y-%m-%d}")
    width, height = A4
    y = height - 20 * mm
    canvas.setFont(fonts.bold, 16)
    canvas.drawString(20 * mm, y, f"Daily report - centre {centre} - {at:%Y-%m-%d}")
    canvas.setFont(fonts.sans, 9)
    canvas.drawString(20 * mm, y - 6 * mm, f"Made {at:%Y-%m-%d %H:%M} UTC by cardline")
    # progress toward the campaign target
    progress = min(1.0, figures.made / target) if target else 0.0
    y -= 18 * mm
    canvas.setFont(fonts.bold, 11)
    canvas.drawString(
        20 * mm, y, f"Progress: {figures.made:,} good cards of {target:,} ({100 * progress:.1f} %)"
    )
    canvas.setFillColor(colors.HexColor("#dddddd"))
    canvas.rect(20 * mm, y - 8 * mm, 170 * mm, 5 * mm, stroke=0, fill=1)
    canvas.setFillColor(colors.HexColor("#2ca02c"))
    canvas.rect(20 * mm, y - 8 * mm, 170 * mm * progress, 5 * mm, stroke=0, fill=1)
    canvas.setFillColor(colors.black)
    # cards per stage per day
    y -= 20 * mm
    canvas.setFont(fonts.bold, 11)
    canvas.drawString(20 * mm, y, f"Cards per stage per day (last {len(figures.days)} days)")
    _chart(figures, fonts.sans).drawOn(canvas, 20 * mm, y - 75 * mm)
    y -= 85 * mm
    # yields and rework
    canvas.setFont(fonts.bold, 11)
    canvas.drawString(20 * mm, y, "Yield per stage and rework")
    canvas.setFont(fonts.sans, 9)
    for n, stage in enumerate(STAGES[:4]):
        value = figures.yield_of(stage)
        text = "-" if value is None else f"{100 * value:.2f} %"
        canvas.drawString(
            25 * mm,
            y - (6 + 5 * n) * mm,
            f"{stage:<12} {text}  ({figures.failed.get(stage, 0)} spoiled)",
        )
    canvas.drawString(25 * mm, y - 27 * mm, f"replacement cards started: {figures.reworked}")
    # work in progress and stock
    y -= 38 * mm
    canvas.setFont(fonts.bold, 11)
    canvas.drawString(20 * mm, y, "Applications per state")
    canvas.drawString(110 * mm, y, "Stock")
    canvas.setFont(fonts.sans, 9)
    for n, (state, number) in enumerate(counts.applications.items()):
        canvas.drawString(25 * mm, y - (6 + 4.5 * n) * mm, f"{state:<12} {number:>9,}")
    for n, item in enumerate(stock):
        days = "-" if item.days_of_cover is None else f"{item.days_of_cover:.1f} days"
        canvas.drawString(
            115 * mm, y - (6 + 9 * n) * mm, f"{item.item}: {item.available:,} available, {days}"
        )
        canvas.drawString(115 * mm, y - (10 + 9 * n) * mm, f"  {item.state}: {item.reason[:44]}")
    canvas.showPage()
    canvas.save()
    os.chmod(tmp, 0o600)
    tmp.replace(out)
    return out
