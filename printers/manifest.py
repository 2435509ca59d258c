"""The handover manifest of a dispatch batch: one A4 PDF per batch, rendered with ReportLab.

Centre, destination station, date and batch code; a QR code of the batch code (scanned at
the station to confirm delivery); a table of the cards with masked ID numbers only (the
manifest travels with the parcel); signature boxes for the handover.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from line.files import private_dir, private_file
from printers.face.fonts import register_fonts
from printers.face.render import qr_matrix

ROWS_PER_PAGE = 34


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


def render_manifest(
    *,
    out: Path,
    code: str,
    centre: str,
    destination: str,
    dispatched_at: datetime,
    lines: Sequence[ManifestLine],
) -> Path:
    """Write the manifest of one batch to ``out`` (atomically, owner-only)."""
    fonts = register_fonts()
    private_dir(out.parent)
    tmp = private_file(out.with_name(out.name + ".part"))  # 0600 before ReportLab writes it
    canvas = Canvas(str(tmp), pagesize=A4, pageCompression=1)
    canvas.setTitle(f"Manifest {code}")
    width, height = A4
    pages = max(1, -(-len(lines) // ROWS_PER_PAGE))
    for page in range(pages):
        top = height - 20 * mm
        canvas.setFont(fonts.bold, 16)
        canvas.drawString(20 * mm, top, "BIÊN BẢN BÀN GIAO THẺ CĂN CƯỚC CÔNG DÂN")
        canvas.setFont(fonts.sans, 10)
        canvas.drawString(20 * mm, top - 7 * mm, "Handover manifest of citizen identity cards")
        for n, (label, value) in enumerate(
            [
                ("Batch / Lô", code),
                ("From / Trung tâm", centre),
                ("To / Công an", destination),
                ("Dispatched / Ngày", f"{dispatched_at:%Y-%m-%d %H:%M} UTC"),
                ("Cards / Số thẻ", str(len(lines))),
                ("Page / Trang", f"{page + 1} / {pages}"),
            ]
        ):
            canvas.setFont(fonts.sans, 9)
            canvas.drawString(20 * mm, top - (16 + 5 * n) * mm, label)
            canvas.setFont(fonts.bold, 10)
            canvas.drawString(60 * mm, top - (16 + 5 * n) * mm, value)
        _qr(canvas, code, width - 55 * mm, top - 42 * mm, 35 * mm)
        y = top - 52 * mm
        canvas.setFont(fonts.bold, 9)
        for x, heading in ((20, "#"), (30, "Card / Thẻ"), (80, "ID / Số CCCD"), (125, "Chip UID")):
            canvas.drawString(x * mm, y, heading)
        canvas.line(20 * mm, y - 1.5 * mm, width - 20 * mm, y - 1.5 * mm)
        canvas.setFont(fonts.sans, 9)
        chunk = lines[page * ROWS_PER_PAGE : (page + 1) * ROWS_PER_PAGE]
        for index, line in enumerate(chunk, start=page * ROWS_PER_PAGE + 1):
            y -= 5.5 * mm
            canvas.drawString(20 * mm, y, str(index))
            canvas.drawString(30 * mm, y, line.card_serial)
            canvas.drawString(80 * mm, y, line.id_number_masked)
            canvas.drawString(125 * mm, y, line.chip_uid or "-")
        if page == pages - 1:
            for x, who in ((20, "Handed over by / Bên giao"), (110, "Received by / Bên nhận")):
                canvas.rect(x * mm, 20 * mm, 80 * mm, 30 * mm)
                canvas.drawString((x + 3) * mm, 45 * mm, who)
                canvas.drawString((x + 3) * mm, 24 * mm, "Signature, name, date")
        canvas.showPage()
    canvas.save()
    os.chmod(tmp, 0o600)
    tmp.replace(out)
    return out
