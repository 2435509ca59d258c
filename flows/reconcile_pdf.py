"""The reconciliation as a PDF to sign: the processes in one table (a row per day), spoils
and returns by reason, the chip lots, every break in red words, and the sign-off boxes of the
operator who made it and the reviewer who checked it (name, signature, date).

The same styles as the daily report (``flows.report``); written atomically, owner-only.
Counts and card serials only, no personal data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import KeepTogether

from flows.reconcile import HEADERS, Reconciliation, cells
from flows.report import WIDTH
from flows.report import _Styles as Styles
from line.files import private_file
from line.reasons import find
from line.reconcile import PROCESSES
from printers.face.fonts import register_fonts

RED = colors.HexColor("#c00000")
ORPHAN = 30 * mm  # a section's heading starts a new page rather than end one alone
DAY_WIDTHS = [22 * mm, *([16 * mm] * 8), 20 * mm]


class _Sheet(Styles):
    """The daily report's styles, and a bold header cell and red words for breaks."""

    def __init__(self) -> None:
        super().__init__(register_fonts())
        self.head = ParagraphStyle(
            "head", parent=self.cell, fontName=self.fonts.bold, fontSize=7.5, leading=9
        )
        self.head_right = ParagraphStyle("head_right", parent=self.head, alignment=TA_RIGHT)
        self.red = ParagraphStyle("red", parent=self.body, textColor=RED)
        self.process = ParagraphStyle(
            "process", parent=self.cell, fontName=self.fonts.bold, fontSize=9, leading=11
        )

    def headed(self, header: list[str], rows: list[list[Any]], widths: list[float]) -> Table:
        """A table whose header cells wrap (long headers in narrow numeric columns); every
        column but the first two is numeric; a "NO" cell is in red."""
        numeric = tuple(range(1, len(header)))
        heads = [
            Paragraph(escape(h), self.head_right if n in numeric else self.head)
            for n, h in enumerate(header)
        ]
        body = [heads, *rows]
        table = self.table([], body, widths, numeric=numeric)
        table.repeatRows = 1  # the header again on every page the table runs onto
        style: list[tuple[Any, ...]] = [
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
        for y, row in enumerate(rows, start=1):
            for x, cell in enumerate(row):
                if cell == "NO":
                    style += [("TEXTCOLOR", (x, y), (x, y), RED),
                              ("FONTNAME", (x, y), (x, y), self.fonts.bold)]  # fmt: skip
        table.setStyle(TableStyle(style))
        return table


def _processes(report: Reconciliation, s: _Sheet) -> list[Flowable]:
    """One table, its header once: each process a spanning row, then a row per day (a
    day's sheet fits one page, sign-off included)."""
    header = ["Day", *HEADERS[2:]]
    rows: list[list[Any]] = []
    spans: list[int] = []
    for process in PROCESSES:
        spans.append(len(rows) + 1)
        rows.append([Paragraph(process.value, s.process), *[""] * (len(header) - 1)])
        rows += [cells(row)[1:] for row in report.processes if row.process is process]
    table = s.headed(header, rows, DAY_WIDTHS)
    style: list[tuple[Any, ...]] = []
    for y in spans:
        style += [("SPAN", (0, y), (-1, y)), ("TOPPADDING", (0, y), (-1, y), 5),
                  ("NOSPLIT", (0, y), (-1, min(y + 1, len(rows))))]  # fmt: skip
    table.setStyle(TableStyle(style))
    return [CondPageBreak(ORPHAN), Paragraph("Processes", s.heading), table]


def _reasons(report: Reconciliation, s: _Sheet) -> list[Flowable]:
    rows = []
    for row in report.processes:
        for what, counts in (
            ("spoiled", row.spoiled_by_reason),
            ("returned", row.returned_by_reason),
        ):
            for code, n in counts.items():
                reason = find(code)
                rows.append([row.process.value, f"{row.day:%Y-%m-%d}", f"{n:,}", code, what,
                             reason.meaning if reason is not None else ""])  # fmt: skip
    out: list[Flowable] = [
        CondPageBreak(ORPHAN),
        Paragraph("Spoiled and returned cards by reason", s.heading),
    ]
    if not rows:
        return [*out, Paragraph("No card was spoiled or returned.", s.body)]
    widths = [26 * mm, 22 * mm, 12 * mm, 42 * mm, 18 * mm, 50 * mm]  # no process name wraps
    header = ["Process", "Day", "Cards", "Reason", "As", "Meaning"]
    return [*out, s.table(header, rows, widths, numeric=(2,))]


def _lots(report: Reconciliation, s: _Sheet) -> list[Flowable]:
    out: list[Flowable] = [
        CondPageBreak(ORPHAN),
        Paragraph(f"Chip lots at the end of {report.last:%Y-%m-%d}", s.heading),
        Paragraph("received + adjusted = on hand + good + in process + spoiled; the ledger's "
                  "consumed = good + in process and its spoiled = spoiled.", s.note),
    ]  # fmt: skip
    if not report.lots:
        return [*out, Paragraph("No chip lot received yet.", s.body)]
    header = ["Lot", "Received", "Adjusted", "Good", "In process", "Spoiled", "On hand",
              "Reconciles"]  # fmt: skip
    rows = [
        [lot.lot, f"{lot.received:,}", f"{lot.adjusted:+,}", f"{lot.good:,}",
         f"{lot.in_process:,}", f"{lot.spoiled:,}", f"{lot.on_hand:,}",
         "yes" if lot.reconciles else "NO"]
        for lot in report.lots
    ]  # fmt: skip
    widths = [32 * mm, *([19 * mm] * 6), 24 * mm]
    return [*out, s.headed(header, rows, widths)]


def _breaks(report: Reconciliation, s: _Sheet) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("Breaks", s.heading)]
    if report.reconciles:
        return [
            *out,
            Paragraph("Every process on every day and every chip lot reconciles.", s.body),
        ]
    return [*out, *(Paragraph(f"BREAK: {escape(line)}", s.red) for line in report.breaks)]


def _sign_off(s: _Sheet) -> Flowable:
    """Two boxes side by side, operator and reviewer, each with name, signature and date."""
    label = ParagraphStyle("label", parent=s.note)
    rows = [
        [Paragraph("Operator (made by)", s.head), Paragraph("Reviewer (checked by)", s.head)],
        *[
            [Paragraph(what, label), Paragraph(what, label)]
            for what in ("Name", "Signature", "Date")
        ],
    ]
    table = Table(rows, colWidths=[WIDTH / 2] * 2, rowHeights=[7 * mm, 10 * mm, 17 * mm, 10 * mm])
    table.setStyle(
        TableStyle([
            ("BOX", (0, 0), (0, -1), 0.8, colors.black),
            ("BOX", (1, 0), (1, -1), 0.8, colors.black),
            ("INNERGRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#888888")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ])
    )  # fmt: skip
    return KeepTogether([Paragraph("Sign-off", s.heading), table])


class _NumberedCanvas(Canvas):  # type: ignore[misc]  # ReportLab has no types
    """A canvas that writes "page N of M" at the foot of every page once it knows M: a
    reviewer sees whether a page of a signed sheet is missing."""

    footer = ""
    font = "Helvetica"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 - ReportLab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        for state in self._pages:
            self.__dict__.update(state)
            self.saveState()
            self.setFont(self.font, 7.5)
            self.drawString(20 * mm, 10 * mm, self.footer)
            self.drawRightString(
                A4[0] - 20 * mm, 10 * mm, f"page {self._pageNumber} of {len(self._pages)}"
            )
            self.restoreState()
            super().showPage()
        super().save()


def render_reconciliation(*, out: Path, report: Reconciliation) -> Path:
    """Write the reconciliation PDF to ``out`` (atomically, owner-only)."""
    sheet = _Sheet()
    tmp = private_file(out.with_name(out.name + ".part"))  # 0600 before ReportLab writes it
    document = SimpleDocTemplate(
        str(tmp), pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
        bottomMargin=18 * mm, author="cardline", pageCompression=1,
        title=f"cardline reconciliation {report.centre} {report.period}",
    )  # fmt: skip
    made = report.made_at.astimezone(report.zone)
    story: list[Flowable] = [
        Paragraph(f"Reconciliation - centre {report.centre} - {report.period}", sheet.title),
        Paragraph(f"Made {made:%Y-%m-%d %H:%M} ({report.zone.key}) by cardline; days are the "
                  f"centre's ({report.zone.key}).", sheet.note),
        Paragraph("Per process and day: opening WIP + received = good + spoiled + samples + "
                  "returned + closing WIP, card by card. This line takes no QC samples or test "
                  "cards: samples are 0. Returned: cards that came back before the station "
                  "confirmed them; one that came back after it (returned after delivery) had "
                  "left delivery as good, and is outside the invariant.", sheet.note),
        *_breaks(report, sheet),
        *_processes(report, sheet),
        Spacer(1, 2 * mm),
        *_reasons(report, sheet),
        *_lots(report, sheet),
        Spacer(1, 4 * mm),
        _sign_off(sheet),
    ]  # fmt: skip
    canvas = type(
        "Sheet",
        (_NumberedCanvas,),
        {"footer": f"cardline reconciliation, centre {report.centre}, {report.period}",
         "font": sheet.fonts.sans},
    )  # fmt: skip
    document.build(story, canvasmaker=canvas)
    os.chmod(tmp, 0o600)
    tmp.replace(out)
    return out
