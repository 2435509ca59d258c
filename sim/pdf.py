"""Drawing helpers shared by the planner's PDFs (``sim.report_pdf``, ``sim.plan_report``).

Every piece of text goes through ``Page.text``/``Page.paragraph``/``Page.table``, which keep
it inside its box: a paragraph wraps at its width, a table cell shrinks its font a little
and then wraps, and nothing is ever drawn past the page's margins (``Page.room`` says how much
height is left, so a caller starts a new page instead). That is what the tests check on the
rendered pages: every character inside the page box, no two runs of text on top of each other.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

COLOURS = (
    colors.HexColor("#1f77b4"),
    colors.HexColor("#d62728"),
    colors.HexColor("#2ca02c"),
    colors.HexColor("#9467bd"),
    colors.HexColor("#ff7f0e"),
    colors.HexColor("#8c564b"),
)
GREY = colors.HexColor("#666666")
LIGHT = colors.HexColor("#f0f0f0")
MARGIN = 14 * mm
MIN_FONT = 6.0


def colour(n: int) -> Any:
    return COLOURS[n % len(COLOURS)]


def fade(c: Any, alpha: float) -> Any:
    return colors.Color(c.red, c.green, c.blue, alpha=alpha)


@dataclass(frozen=True)
class Column:
    header: str
    width: float
    align: str = "left"  # or "right"


class Page:
    """A landscape A4 canvas with a cursor ``y`` that moves down as things are drawn."""

    def __init__(self, out: Path, title: str, font: str, bold: str) -> None:
        self.out = out
        self.tmp = out.with_name(out.name + ".part")
        self.width, self.height = landscape(A4)
        self.canvas = Canvas(str(self.tmp), pagesize=(self.width, self.height), pageCompression=1)
        self.canvas.setTitle(title)
        self.font, self.bold = font, bold
        self.left, self.right = MARGIN, self.width - MARGIN
        self.top, self.bottom = self.height - MARGIN, MARGIN
        self.y = self.top
        self.pages = 1

    @property
    def text_width(self) -> float:
        return float(self.right - self.left)

    def room(self) -> float:
        return float(self.y - self.bottom)

    def new_page(self) -> None:
        self.canvas.showPage()
        self.pages += 1
        self.y = self.top

    def save(self) -> Path:
        self.canvas.showPage()
        self.canvas.save()
        os.chmod(self.tmp, 0o600)
        self.tmp.replace(self.out)
        return self.out

    # -- text ----------------------------------------------------------------------------------

    def lines(self, text: str, size: float, width: float, *, bold: bool = False) -> list[str]:
        font = self.bold if bold else self.font
        out: list[str] = []
        for para in text.split("\n"):
            out.extend(simpleSplit(para, font, size, width) or [""])
        return out

    def paragraph(
        self,
        text: str,
        size: float = 9,
        *,
        bold: bool = False,
        x: float | None = None,
        width: float | None = None,
        colour_: Any = colors.black,
        leading: float | None = None,
        space_after: float = 1.5 * mm,
    ) -> float:
        """Wrapped text from the cursor down; returns the height used."""
        x = self.left if x is None else x
        width = self.right - x if width is None else width
        leading = leading or size * 1.25
        lines = self.lines(text, size, width, bold=bold)
        self.canvas.setFont(self.bold if bold else self.font, size)
        self.canvas.setFillColor(colour_)
        y = self.y - size
        for line in lines:
            self.canvas.drawString(x, y, line)
            y -= leading
        self.canvas.setFillColor(colors.black)
        used = size + leading * (len(lines) - 1) + space_after
        self.y -= used
        return used

    def fitted(self, text: str, size: float, width: float, *, bold: bool = False) -> float:
        """The largest font size down to ``MIN_FONT`` at which ``text`` fits ``width``."""
        font = self.bold if bold else self.font
        while size > MIN_FONT and stringWidth(text, font, size) > width:
            size -= 0.25
        return size

    # -- tables --------------------------------------------------------------------------------

    def table(
        self,
        columns: Sequence[Column],
        rows: Sequence[Sequence[str]],
        *,
        size: float = 8,
        x: float | None = None,
        stripes: bool = True,
        header: bool = True,
        on_new_page: Callable[[], None] | None = None,
    ) -> None:
        """Rows of cells under a bold header; a cell too wide for its column shrinks, then
        wraps. A row that does not fit the page starts a new one (header repeated)."""
        x = self.left if x is None else x
        pad = 1.2 * mm

        def cell_lines(text: str, column: Column, bold: bool) -> tuple[float, list[str]]:
            """Shrink a little (to 85 %) to keep one line, else wrap at the table's size."""
            inner = column.width - 2 * pad
            fit = self.fitted(text, size, inner, bold=bold)
            font = self.bold if bold else self.font
            if fit >= 0.85 * size and stringWidth(text, font, fit) <= inner:
                return fit, [text]
            lines = self.lines(text, size, inner, bold=bold)
            if all(stringWidth(line, font, size) <= inner for line in lines):
                return size, lines
            return MIN_FONT, self.lines(text, MIN_FONT, inner, bold=bold)  # a long word

        def draw_row(cells: Sequence[str], bold: bool, stripe: bool) -> None:
            laid = [cell_lines(c, col, bold) for c, col in zip(cells, columns, strict=True)]
            height = max(len(lines) * fit * 1.2 for fit, lines in laid) + 1.6 * mm
            if height > self.room():
                self.new_page()
                if on_new_page is not None:
                    on_new_page()
                if header and not bold:
                    draw_row([c.header for c in columns], True, False)
            total = sum(c.width for c in columns)
            if stripe:
                self.canvas.setFillColor(LIGHT)
                self.canvas.rect(x, self.y - height, total, height, stroke=0, fill=1)
                self.canvas.setFillColor(colors.black)
            left = x
            for (fit, lines), column in zip(laid, columns, strict=True):
                self.canvas.setFont(self.bold if bold else self.font, fit)
                y = self.y - 0.8 * mm - fit
                for line in lines:
                    if column.align == "right":
                        self.canvas.drawRightString(left + column.width - pad, y, line)
                    else:
                        self.canvas.drawString(left + pad, y, line)
                    y -= fit * 1.2
                left += column.width
            self.y -= height

        if header:
            draw_row([c.header for c in columns], True, False)
        for n, cells in enumerate(rows):
            draw_row(cells, False, stripes and n % 2 == 0)
        self.y -= 2 * mm


# --- dates on chart axes ----------------------------------------------------------------------

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def short_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]}"


def long_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def date_ticks(start: date, days: int, most: int = 9) -> list[float]:
    """Day numbers (1 = ``start``) of the firsts of months (and mid-months when a run is
    short) within the run, at most ``most``."""
    ticks: list[float] = []
    for step_days in ((1,), (1, 15), (1, 8, 15, 22)):
        ticks = [float(d + 1) for d in range(days) if (start + timedelta(days=d)).day in step_days]
        if len(ticks) >= 3:
            break
    if len(ticks) < 3:  # a run of a few days: every day or every other
        every = max(1, days // 6)
        ticks = [float(d + 1) for d in range(0, days, every)]
    while len(ticks) > most:
        ticks = ticks[::2]
    if ticks and ticks[0] > 8:  # the first day too, when the first tick is well after it
        ticks.insert(0, 1.0)
    return ticks


def day_label(start: date) -> Callable[[float], str]:
    def label(value: float) -> str:
        return short_date(start + timedelta(days=round(value) - 1))

    return label


def millions(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:g} M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g} k"
    return f"{value:g}"


def count_text(value: float) -> str:
    """``51.4 M``, ``163 k``, ``950``: a count for a reader, not for a ledger."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f} M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.0f} k"
    return f"{value:,.0f}"


__all__ = [
    "COLOURS",
    "Column",
    "Page",
    "colour",
    "count_text",
    "date_ticks",
    "day_label",
    "fade",
    "long_date",
    "millions",
    "short_date",
]
