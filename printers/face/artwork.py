"""What every card face shares, drawn with ReportLab: the ID-1 geometry (85.60 x 53.98 mm,
the photo, QR and MRZ places), the inks, the drawing helpers (centred, fitted and wrapped
text, the border, the emblem's star, the chip contact, the fingerprint boxes) and the static
artwork of front and back, drawn once per PDF as form XObjects (``define_forms``)."""

from __future__ import annotations

from reportlab.lib.colors import Color
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from printers.face.fonts import FontNames

CARD_WIDTH = 85.60 * mm
CARD_HEIGHT = 53.98 * mm
CORNER_RADIUS = 3.18 * mm
PAGE_SIZE = (CARD_WIDTH, CARD_HEIGHT)

PHOTO_BOX = (3.5 * mm, 10.0 * mm, 20.0 * mm, 30.0 * mm)  # x, y, width, height
QR_BOX = (68.6 * mm, 37.6 * mm, 14.4 * mm)  # x, y, size (quiet zone included)
QR_QUIET_ZONE = 4  # modules of white around the symbol (ISO/IEC 18004)

MRZ_PITCH = 2.54 * mm  # ICAO 9303: ten MRZ characters per 25.4 mm
MRZ_LEFT = 4.6 * mm
MRZ_BASELINES = (11.6 * mm, 7.4 * mm, 3.2 * mm)

INK = Color(0.1, 0.1, 0.12)
RED = Color(0.78, 0.1, 0.12)
LABEL = Color(0.25, 0.25, 0.3)
TINT = Color(0.93, 0.95, 0.97)
GOLD = Color(0.85, 0.72, 0.35)
GOLD_LINE = Color(0.55, 0.43, 0.15)
YELLOW = Color(1.0, 0.85, 0.0)
RIDGE = Color(0.7, 0.7, 0.72)
WHITE = Color(1, 1, 1)


# -- drawing helpers ----------------------------------------------------------------------


def centred(canvas: Canvas, x: float, y: float, text: str, font: str, size: float) -> None:
    canvas.setFont(font, size)
    canvas.drawCentredString(x, y, text)


def fitted(
    canvas: Canvas, x: float, y: float, text: str, font: str, size: float, width: float
) -> None:
    """Draw ``text`` on one line, shrinking the font until it fits ``width``."""
    natural = stringWidth(text, font, size)
    if natural > width:
        size = max(3.0, size * width / natural)
    canvas.setFont(font, size)
    canvas.drawString(x, y, text)


def wrapped(
    canvas: Canvas,
    x: float,
    y: float,
    text: str,
    font: str,
    size: float,
    width: float,
    *,
    lines: int,
    leading: float,
) -> None:
    """Draw ``text`` on at most ``lines`` lines from baseline ``y`` down, shrinking if need be."""
    split = simpleSplit(text, font, size, width)
    while len(split) > lines and size > 3.0:
        size -= 0.25
        split = simpleSplit(text, font, size, width)
    canvas.setFont(font, size)
    for index, line in enumerate(split[:lines]):
        canvas.drawString(x, y - index * leading, line)


def border(canvas: Canvas) -> None:
    canvas.setFillColor(TINT)
    canvas.setStrokeColor(LABEL)
    canvas.setLineWidth(0.4)
    inset = 0.2
    canvas.roundRect(
        inset, inset, CARD_WIDTH - 2 * inset, CARD_HEIGHT - 2 * inset, CORNER_RADIUS, 1, 1
    )


def star(canvas: Canvas, cx: float, cy: float, radius: float) -> None:
    import math

    path = canvas.beginPath()
    for index in range(10):
        r = radius if index % 2 == 0 else radius * 0.382
        angle = math.pi / 2 + index * math.pi / 5
        px, py = cx + r * math.cos(angle), cy + r * math.sin(angle)
        path.moveTo(px, py) if index == 0 else path.lineTo(px, py)
    path.close()
    canvas.drawPath(path, stroke=0, fill=1)


def chip(canvas: Canvas, x: float, y: float, width: float, height: float) -> None:
    """ISO 7816-2 style contact pad: eight contacts around a central area."""
    canvas.setFillColor(GOLD)
    canvas.setStrokeColor(GOLD_LINE)
    canvas.setLineWidth(0.35)
    canvas.roundRect(x, y, width, height, 1.2 * mm, 1, 1)
    mid_x = x + width / 2
    canvas.line(x + width * 0.34, y, x + width * 0.34, y + height)
    canvas.line(x + width * 0.66, y, x + width * 0.66, y + height)
    for fraction in (0.25, 0.5, 0.75):
        canvas.line(x, y + height * fraction, x + width * 0.34, y + height * fraction)
        canvas.line(x + width * 0.66, y + height * fraction, x + width, y + height * fraction)
    canvas.line(mid_x, y + height * 0.5, mid_x, y + height)


def fingerprint(canvas: Canvas, x: float, y: float, width: float, height: float) -> None:
    """A fingerprint placeholder: the box and a whorl of ridges."""
    canvas.setStrokeColor(LABEL)
    canvas.setFillColor(WHITE)
    canvas.setLineWidth(0.4)
    canvas.roundRect(x, y, width, height, 1.0 * mm, 1, 1)
    canvas.setStrokeColor(RIDGE)
    canvas.setLineWidth(0.5)
    cx, cy = x + width / 2, y + height / 2
    for ring in range(1, 9):
        rx, ry = ring * width / 20, ring * height / 19
        canvas.ellipse(cx - rx, cy - ry, cx + rx, cy + ry, stroke=1, fill=0)


def label(canvas: Canvas, x: float, y: float, text: str, fonts: FontNames) -> None:
    canvas.setFillColor(LABEL)
    canvas.setFont(fonts.sans, 3.6)
    canvas.drawString(x, y, text)


# -- static artwork (one form XObject per PDF) --------------------------------------------

FRONT_FORM = "cardFront"
BACK_FORM = "cardBack"
FIELD_X = 25.0 * mm
FIELD_WIDTH = 58.5 * mm


def _front_artwork(canvas: Canvas, fonts: FontNames) -> None:
    border(canvas)
    canvas.setFillColor(RED)
    canvas.circle(8.8 * mm, 46.6 * mm, 5.0 * mm, stroke=0, fill=1)
    canvas.setFillColor(YELLOW)
    star(canvas, 8.8 * mm, 46.4 * mm, 3.2 * mm)
    canvas.setFillColor(INK)
    centre = 40.7 * mm
    centred(canvas, centre, 50.3 * mm, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", fonts.bold, 5.3)
    centred(canvas, centre, 48.0 * mm, "Độc lập - Tự do - Hạnh phúc", fonts.bold, 4.6)
    centred(canvas, centre, 46.0 * mm, "SOCIALIST REPUBLIC OF VIET NAM", fonts.sans, 3.7)
    centred(canvas, centre, 44.5 * mm, "Independence - Freedom - Happiness", fonts.sans, 3.7)
    canvas.setFillColor(RED)
    centred(canvas, centre, 40.4 * mm, "CĂN CƯỚC CÔNG DÂN", fonts.bold, 8.0)
    canvas.setFillColor(INK)
    centred(canvas, centre, 38.3 * mm, "Citizen Identity Card", fonts.sans, 4.2)
    chip(canvas, FIELD_X, 27.8 * mm, 10.8 * mm, 8.6 * mm)
    canvas.setStrokeColor(LABEL)
    canvas.setLineWidth(0.3)
    canvas.rect(*PHOTO_BOX, stroke=1, fill=0)
    label(canvas, 38.0 * mm, 34.0 * mm, "Số / No.:", fonts)
    label(canvas, FIELD_X, 24.9 * mm, "Họ và tên / Full name:", fonts)
    label(canvas, FIELD_X, 18.9 * mm, "Ngày sinh / Date of birth:", fonts)
    label(canvas, 60.5 * mm, 18.9 * mm, "Giới tính / Sex:", fonts)
    label(canvas, FIELD_X, 16.0 * mm, "Quốc tịch / Nationality:", fonts)
    label(canvas, FIELD_X, 13.1 * mm, "Quê quán / Place of origin:", fonts)
    label(canvas, FIELD_X, 8.4 * mm, "Nơi thường trú / Place of residence:", fonts)
    label(canvas, 3.5 * mm, 7.3 * mm, "Có giá trị đến:", fonts)
    label(canvas, 3.5 * mm, 5.7 * mm, "Date of expiry", fonts)


def _back_artwork(canvas: Canvas, fonts: FontNames) -> None:
    border(canvas)
    canvas.setFillColor(WHITE)
    canvas.rect(0.6 * mm, 0.9 * mm, CARD_WIDTH - 1.2 * mm, 15.6 * mm, stroke=0, fill=1)
    canvas.setFillColor(INK)
    for left, title, english in (
        (48.0 * mm, "Ngón trỏ trái", "Left index finger"),
        (66.0 * mm, "Ngón trỏ phải", "Right index finger"),
    ):
        fingerprint(canvas, left, 22.5 * mm, 16.0 * mm, 20.0 * mm)
        canvas.setFillColor(INK)
        centred(canvas, left + 8.0 * mm, 46.5 * mm, title, fonts.bold, 3.9)
        centred(canvas, left + 8.0 * mm, 44.3 * mm, english, fonts.sans, 3.4)
    canvas.setFillColor(INK)
    label(canvas, 4.0 * mm, 40.6 * mm, "Ngày, tháng, năm / Date, month, year:", fonts)
    canvas.setStrokeColor(RED)
    canvas.setLineWidth(0.5)
    canvas.circle(14.0 * mm, 24.0 * mm, 5.5 * mm, stroke=1, fill=0)
    canvas.circle(14.0 * mm, 24.0 * mm, 4.3 * mm, stroke=1, fill=0)
    canvas.setFillColor(RED)
    star(canvas, 14.0 * mm, 24.0 * mm, 2.0 * mm)


def define_forms(canvas: Canvas, fonts: FontNames) -> None:
    canvas.beginForm(FRONT_FORM, 0, 0, CARD_WIDTH, CARD_HEIGHT)
    _front_artwork(canvas, fonts)
    canvas.endForm()
    canvas.beginForm(BACK_FORM, 0, 0, CARD_WIDTH, CARD_HEIGHT)
    _back_artwork(canvas, fonts)
    canvas.endForm()


# -- per-card content ---------------------------------------------------------------------
