"""The handover manifest of a dispatch batch: one A4 PDF per batch, rendered with ReportLab.

Centre, destination station (its code, and its name and address from the centre's station
register), the time of dispatch in the centre's time zone, and the batch code; a QR code
of the batch code (scanned at the station to confirm delivery); a table of the cards with
masked ID numbers only (the manifest travels with the parcel); signature boxes for the
handover.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from line.files import private_dir, private_file
from printers.face.fonts import FontNames, register_fonts
from printers.face.render import qr_matrix

ROWS_PER_PAGE = 32
ROW_HEIGHT = 5.5 * mm
SIGNATURES_TOP = 55 * mm  # the boxes reach 50 mm; the last card row stays above them
VALUE_WIDTH = 95 * mm  # from the values' column to the QR code


@dataclass(frozen=True, slots=True)
class ManifestLine:
    card_serial: str
    id_number_masked: str
    chip_uid: str | None


def _qr(canvas: Canvas, payload: str, x: float, y: float, size: float) -> None:
    matrix = qr_matrix(payload)
    module = size / (len(matrix) + 8)
    canvas.setFillGray(0)
    for row, modules in enumerate(matrix):
        for column, dark in enumerate(modules):
            if dark:
                canvas.rect(
                    x + (column + 4) * module, y + size - (row + 5) * module, module, module,
                    stroke=0, fill=1,
                )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ManifestHeader:
    """What the manifest says about its batch, above the cards."""

    code: str
    centre: str
    destination: str  # the station's code
    station: str  # its name and address from the centre's register (or that it is not there)
    dispatched_at: datetime
    zone: tzinfo = UTC  # the centre's time zone: the time printed is the centre's

    def fields(self, cards: int, page: int, pages: int) -> list[tuple[str, str]]:
        local = self.dispatched_at.astimezone(self.zone)
        zone = getattr(self.zone, "key", None) or local.tzname() or "UTC"
        return [
            ("Batch / Lô", self.code),
            ("From / Trung tâm", self.centre),
            ("To / Công an", f"{self.destination}: {self.station}"),
            ("Dispatched / Ngày", f"{local:%Y-%m-%d %H:%M} ({zone})"),
            ("Cards / Số thẻ", str(cards)),
            ("Page / Trang", f"{page} / {pages}"),
        ]


def _rows_per_page(fonts: FontNames, header: ManifestHeader, top: float) -> int:
    """Card rows that fit between the header (as tall as its wrapped station name) and the
    signature boxes: at most ``ROWS_PER_PAGE``."""
    lines = sum(
        len(simpleSplit(value, fonts.bold, 10, VALUE_WIDTH)) for _, value in header.fields(0, 1, 1)
    )
    start = min(top - 16 * mm - lines * 4.5 * mm - 6 * 0.5 * mm - 4 * mm, top - 52 * mm)
    return max(1, min(ROWS_PER_PAGE, int((start - SIGNATURES_TOP) / ROW_HEIGHT)))


def _header(canvas: Canvas, fonts: FontNames, header: ManifestHeader, top: float,
            cards: int, page: int, pages: int) -> float:  # fmt: skip
    """Title and the batch's fields (a long station name wraps left of the QR code);
    returns where the card table starts."""
    canvas.setFont(fonts.bold, 16)
    canvas.drawString(20 * mm, top, "BIÊN BẢN BÀN GIAO THẺ CĂN CƯỚC CÔNG DÂN")
    canvas.setFont(fonts.sans, 10)
    canvas.drawString(20 * mm, top - 7 * mm, "Handover manifest of citizen identity cards")
    y = top - 16 * mm
    for label, value in header.fields(cards, page, pages):
        canvas.setFont(fonts.sans, 9)
        canvas.drawString(20 * mm, y, label)
        canvas.setFont(fonts.bold, 10)
        for line in simpleSplit(value, fonts.bold, 10, VALUE_WIDTH):
            canvas.drawString(60 * mm, y, line)
            y -= 4.5 * mm
        y -= 0.5 * mm
    return float(min(y - 4 * mm, top - 52 * mm))


def _cards(canvas: Canvas, fonts: FontNames, y: float, width: float,
           lines: Sequence[ManifestLine], first: int) -> None:  # fmt: skip
    canvas.setFont(fonts.bold, 9)
    for x, heading in ((20, "#"), (30, "Card / Thẻ"), (80, "ID / Số CCCD"), (125, "Chip UID")):
        canvas.drawString(x * mm, y, heading)
    canvas.line(20 * mm, y - 1.5 * mm, width - 20 * mm, y - 1.5 * mm)
    canvas.setFont(fonts.sans, 9)
    for index, line in enumerate(lines, start=first):
        y -= ROW_HEIGHT
        canvas.drawString(20 * mm, y, str(index))
        canvas.drawString(30 * mm, y, line.card_serial)
        canvas.drawString(80 * mm, y, line.id_number_masked)
        canvas.drawString(125 * mm, y, line.chip_uid or "-")


def _signatures(canvas: Canvas) -> None:
    for x, who in ((20, "Handed over by / Bên giao"), (110, "Received by / Bên nhận")):
        canvas.rect(x * mm, 20 * mm, 80 * mm, 30 * mm)
        canvas.drawString((x + 3) * mm, 45 * mm, who)
        canvas.drawString((x + 3) * mm, 24 * mm, "Signature, name, date")


def render_manifest(*, out: Path, header: ManifestHeader, lines: Sequence[ManifestLine]) -> Path:
    """Write the manifest of one batch to ``out`` (atomically, owner-only)."""
    fonts = register_fonts()
    private_dir(out.parent)
    tmp = private_file(out.with_name(out.name + ".part"))  # 0600 before ReportLab writes it
    canvas = Canvas(str(tmp), pagesize=A4, pageCompression=1)
    canvas.setTitle(f"Manifest {header.code}")
    width, height = A4
    top = height - 20 * mm
    rows = _rows_per_page(fonts, header, top)
    pages = max(1, -(-len(lines) // rows))
    for page in range(pages):
        y = _header(canvas, fonts, header, top, len(lines), page + 1, pages)
        _qr(canvas, header.code, width - 55 * mm, top - 42 * mm, 35 * mm)
        chunk = lines[page * rows : (page + 1) * rows]
        _cards(canvas, fonts, y, width, chunk, page * rows + 1)
        if page == pages - 1:
            _signatures(canvas)
        canvas.showPage()
    canvas.save()
    os.chmod(tmp, 0o600)
    tmp.replace(out)
    return out
