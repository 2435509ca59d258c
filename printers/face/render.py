"""The printed faces of the card (ID-1, 85.60 x 53.98 mm), rendered with ReportLab.

One PDF per batch, two pages per card: the front (photo, chip contact, QR code, number,
name, date of birth, sex, nationality, place of origin and residence, date of expiry)
then the back (two index fingerprint boxes, issue date, issuer, TD1 MRZ in OCR-B).

Made to be fast (one core renders a few hundred cards a second):

- the artwork common to every card (border, emblem, headings, labels, chip contact,
  fingerprint boxes) is drawn once per PDF as a form XObject and placed on each page;
- the QR matrix comes from zxing-cpp's encoder (C++, mask chosen by the standard's
  penalty rules) and is drawn as one PDF path of run-length rectangles;
- photos are prepared once per file (JPEG passed through as DCT data, anything else
  decoded and deflated) and kept in a small LRU cache keyed by path, size and mtime;
- page streams are not compressed (print files are short-lived and local).
"""

from __future__ import annotations

import hashlib
import io
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import zxingcpp
from reportlab.lib.colors import Color
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfdoc
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from line.card import CardData
from line.errors import CardlineError
from line.portrait import check_portrait
from printers.face.fonts import FontNames, register_fonts
from printers.mrz import mrz_lines

CARD_WIDTH = 85.60 * mm
CARD_HEIGHT = 53.98 * mm
CORNER_RADIUS = 3.18 * mm
PAGE_SIZE = (CARD_WIDTH, CARD_HEIGHT)

PHOTO_BOX = (3.5 * mm, 10.0 * mm, 20.0 * mm, 30.0 * mm)  # x, y, width, height
QR_BOX = (68.6 * mm, 37.6 * mm, 14.4 * mm)  # x, y, size (quiet zone included)
QR_QUIET_ZONE = 4  # modules of white around the symbol (ISO/IEC 18004)

NO_EXPIRY_TEXT = "Không thời hạn"
SEX_TEXT = {"M": "Nam", "F": "Nữ"}
QR_SEPARATOR = "|"

MRZ_PITCH = 2.54 * mm  # ICAO 9303: ten MRZ characters per 25.4 mm
MRZ_LEFT = 4.6 * mm
MRZ_BASELINES = (11.6 * mm, 7.4 * mm, 3.2 * mm)

_INK = Color(0.1, 0.1, 0.12)
_RED = Color(0.78, 0.1, 0.12)
_LABEL = Color(0.25, 0.25, 0.3)
_TINT = Color(0.93, 0.95, 0.97)
_GOLD = Color(0.85, 0.72, 0.35)
_GOLD_LINE = Color(0.55, 0.43, 0.15)
_YELLOW = Color(1.0, 0.85, 0.0)
_RIDGE = Color(0.7, 0.7, 0.72)
_WHITE = Color(1, 1, 1)
_DARK_RUN = re.compile(rb"[\x01]+")
_EXIF_ORIENTATION = 0x0112


PHOTO_UNREADABLE = "print.photo_unreadable"
DATA_INVALID = "print.data_invalid"


class FaceRenderError(CardlineError):
    """A card face cannot be rendered (unreadable photo, unprintable field)."""

    def __init__(self, message: str, *, reason_code: str, card_serial: str | None) -> None:
        super().__init__(message, reason_code=reason_code, card_serial=card_serial)
        self.reason_code = reason_code
        self.card_serial = card_serial


@dataclass(frozen=True, slots=True)
class Refusal:
    """A card the printer refused to print: its data cannot make a face (``print.*``)."""

    card_serial: str
    reason_code: str
    message: str  # no personal data: safe for logs


@dataclass(frozen=True, slots=True)
class RenderedBatch:
    """A batch rendered into one PDF: the pages of each card printed, and the cards refused."""

    pages: tuple[tuple[str, int, int], ...]  # card serial, front page, back page (0-based)
    refused: tuple[Refusal, ...] = ()


def face_date(day: date) -> str:
    """A date as printed on the face: ``dd/mm/yyyy``."""
    return day.strftime("%d/%m/%Y")


def expiry_text(card: CardData) -> str:
    return NO_EXPIRY_TEXT if card.expiry_date is None else face_date(card.expiry_date)


def qr_payload(card: CardData) -> str:
    """The QR code's text: ID, old ID (may be empty), name, birth, sex, residence, issue date.

    Dates are ``DDMMYYYY``, sex ``Nam``/``Nữ`` as on the printed cards; fields joined by ``|``.
    """
    fields = (
        card.id_number,
        card.old_id_number or "",
        card.full_name,
        card.date_of_birth.strftime("%d%m%Y"),
        SEX_TEXT[card.sex],
        card.place_of_residence,
        card.issue_date.strftime("%d%m%Y"),
    )
    if any(QR_SEPARATOR in field for field in fields):
        raise FaceRenderError(
            "a QR field contains the separator '|'",
            reason_code="print.qr_field",
            card_serial=card.card_serial,
        )
    return QR_SEPARATOR.join(fields)


_DARK = bytes.maketrans(bytes(range(256)), bytes([1]) + bytes(255))  # pixel 0 is dark


def qr_matrix(payload: str) -> tuple[bytearray, ...]:
    """QR modules (1 = dark) for ``payload``: error correction M, UTF-8 bytes.

    zxing-cpp's encoder (C++) picks the mask by the standard's penalty rules, as ISO/IEC
    18004 asks, at about 0.2 ms a symbol: five times faster than segno with a fixed mask,
    and ReportLab's own widget manages ~40 symbols a second.
    """
    code = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = code.to_image(scale=1, add_quiet_zones=False)
    pixels = memoryview(image)  # type: ignore[arg-type]  # zxing's Image is a 2-D buffer
    assert pixels.shape is not None
    height, width = pixels.shape
    modules = bytes(pixels.cast("B")).translate(_DARK)
    return tuple(bytearray(modules[row * width : (row + 1) * width]) for row in range(height))


# -- photos -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Photo:
    """An image ready to be an XObject: stream bytes and how to read them."""

    key: str
    width: int
    height: int
    color_space: str
    filters: tuple[str, ...]
    data: bytes


@lru_cache(maxsize=512)
def _load_photo(path: str, mtime_ns: int, size: int) -> tuple[_Photo, str]:
    """The prepared photo and the SHA-256 of the file it came from."""
    raw = Path(path).read_bytes()
    return _prepare_photo(raw), hashlib.sha256(raw).hexdigest()


def _prepare_photo(raw: bytes) -> _Photo:
    from PIL import Image, ImageOps

    key = hashlib.blake2b(raw, digest_size=12).hexdigest()
    with Image.open(io.BytesIO(raw)) as opened:
        upright = opened.getexif().get(_EXIF_ORIENTATION, 1) in (None, 1)
        if opened.format == "JPEG" and opened.mode in ("RGB", "L") and upright:
            space = "DeviceRGB" if opened.mode == "RGB" else "DeviceGray"
            return _Photo(key, opened.width, opened.height, space, ("DCTDecode",), raw)
        # Turned upright as intake judged it (and as DG2 stores it): EXIF orientation.
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA", "P", "PA"):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
        else:
            flat = image.convert("RGB")
        data = zlib.compress(flat.tobytes(), 6)
        return _Photo(key, flat.width, flat.height, "DeviceRGB", ("FlateDecode",), data)


def _photo(card: CardData) -> _Photo:
    """The card's photo, ready to place (:func:`preflight` has checked it is the file intake
    recorded and that it passes ``line.portrait``'s rules)."""
    try:
        stat = card.photo_path.stat()
        photo, _ = _load_photo(str(card.photo_path.resolve()), stat.st_mtime_ns, stat.st_size)
    except Exception as exc:  # noqa: BLE001  (OSError, PIL's ValueErrors, its bomb error...)
        raise FaceRenderError(
            f"photo unreadable ({type(exc).__name__})",
            reason_code=PHOTO_UNREADABLE,
            card_serial=card.card_serial,
        ) from None
    return photo


def _place_photo(canvas: Canvas, photo: _Photo, box: tuple[float, float, float, float]) -> None:
    """Draw ``photo`` to cover ``box`` (centred, cropped to the box, aspect kept).

    Registers the prepared image as an XObject the way ``Canvas.drawImage`` does, minus
    the per-call decoding and hashing of the image.
    """
    doc: Any = canvas._doc
    name = f"photo{photo.key}"
    reg_name = doc.getXObjectName(name)
    if not doc.idToObject.get(reg_name):
        xobject = pdfdoc.PDFImageXObject(name)
        xobject.width, xobject.height = photo.width, photo.height
        xobject.bitsPerComponent = 8
        xobject.colorSpace = photo.color_space
        xobject._filters = photo.filters
        xobject.streamContent = photo.data
        xobject.mask = None
        doc.Reference(xobject, reg_name)
        doc.addForm(name, xobject)
    x, y, width, height = box
    scale = max(width / photo.width, height / photo.height)
    shown_w, shown_h = photo.width * scale, photo.height * scale
    canvas.saveState()
    clip = canvas.beginPath()
    clip.rect(x, y, width, height)
    canvas.clipPath(clip, stroke=0, fill=0)
    canvas.translate(x + (width - shown_w) / 2, y + (height - shown_h) / 2)
    canvas.scale(shown_w, shown_h)
    canvas.addLiteral(f"/{reg_name} Do")
    canvas.restoreState()
    canvas._formsinuse.append(name)


# -- drawing helpers ----------------------------------------------------------------------


def _centred(canvas: Canvas, x: float, y: float, text: str, font: str, size: float) -> None:
    canvas.setFont(font, size)
    canvas.drawCentredString(x, y, text)


def _fitted(
    canvas: Canvas, x: float, y: float, text: str, font: str, size: float, width: float
) -> None:
    """Draw ``text`` on one line, shrinking the font until it fits ``width``."""
    natural = stringWidth(text, font, size)
    if natural > width:
        size = max(3.0, size * width / natural)
    canvas.setFont(font, size)
    canvas.drawString(x, y, text)


def _wrapped(
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


def _border(canvas: Canvas) -> None:
    canvas.setFillColor(_TINT)
    canvas.setStrokeColor(_LABEL)
    canvas.setLineWidth(0.4)
    inset = 0.2
    canvas.roundRect(
        inset, inset, CARD_WIDTH - 2 * inset, CARD_HEIGHT - 2 * inset, CORNER_RADIUS, 1, 1
    )


def _star(canvas: Canvas, cx: float, cy: float, radius: float) -> None:
    import math

    path = canvas.beginPath()
    for index in range(10):
        r = radius if index % 2 == 0 else radius * 0.382
        angle = math.pi / 2 + index * math.pi / 5
        px, py = cx + r * math.cos(angle), cy + r * math.sin(angle)
        path.moveTo(px, py) if index == 0 else path.lineTo(px, py)
    path.close()
    canvas.drawPath(path, stroke=0, fill=1)


def _chip(canvas: Canvas, x: float, y: float, width: float, height: float) -> None:
    """ISO 7816-2 style contact pad: eight contacts around a central area."""
    canvas.setFillColor(_GOLD)
    canvas.setStrokeColor(_GOLD_LINE)
    canvas.setLineWidth(0.35)
    canvas.roundRect(x, y, width, height, 1.2 * mm, 1, 1)
    mid_x = x + width / 2
    canvas.line(x + width * 0.34, y, x + width * 0.34, y + height)
    canvas.line(x + width * 0.66, y, x + width * 0.66, y + height)
    for fraction in (0.25, 0.5, 0.75):
        canvas.line(x, y + height * fraction, x + width * 0.34, y + height * fraction)
        canvas.line(x + width * 0.66, y + height * fraction, x + width, y + height * fraction)
    canvas.line(mid_x, y + height * 0.5, mid_x, y + height)


def _fingerprint(canvas: Canvas, x: float, y: float, width: float, height: float) -> None:
    """A fingerprint placeholder: the box and a whorl of ridges."""
    canvas.setStrokeColor(_LABEL)
    canvas.setFillColor(_WHITE)
    canvas.setLineWidth(0.4)
    canvas.roundRect(x, y, width, height, 1.0 * mm, 1, 1)
    canvas.setStrokeColor(_RIDGE)
    canvas.setLineWidth(0.5)
    cx, cy = x + width / 2, y + height / 2
    for ring in range(1, 9):
        rx, ry = ring * width / 20, ring * height / 19
        canvas.ellipse(cx - rx, cy - ry, cx + rx, cy + ry, stroke=1, fill=0)


def _label(canvas: Canvas, x: float, y: float, text: str, fonts: FontNames) -> None:
    canvas.setFillColor(_LABEL)
    canvas.setFont(fonts.sans, 3.6)
    canvas.drawString(x, y, text)


# -- static artwork (one form XObject per PDF) --------------------------------------------

_FRONT_FORM = "cardFront"
_BACK_FORM = "cardBack"
_FIELD_X = 25.0 * mm
_FIELD_WIDTH = 58.5 * mm


def _front_artwork(canvas: Canvas, fonts: FontNames) -> None:
    _border(canvas)
    canvas.setFillColor(_RED)
    canvas.circle(8.8 * mm, 46.6 * mm, 5.0 * mm, stroke=0, fill=1)
    canvas.setFillColor(_YELLOW)
    _star(canvas, 8.8 * mm, 46.4 * mm, 3.2 * mm)
    canvas.setFillColor(_INK)
    centre = 40.7 * mm
    _centred(canvas, centre, 50.3 * mm, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", fonts.bold, 5.3)
    _centred(canvas, centre, 48.0 * mm, "Độc lập - Tự do - Hạnh phúc", fonts.bold, 4.6)
    _centred(canvas, centre, 46.0 * mm, "SOCIALIST REPUBLIC OF VIET NAM", fonts.sans, 3.7)
    _centred(canvas, centre, 44.5 * mm, "Independence - Freedom - Happiness", fonts.sans, 3.7)
    canvas.setFillColor(_RED)
    _centred(canvas, centre, 40.4 * mm, "CĂN CƯỚC CÔNG DÂN", fonts.bold, 8.0)
    canvas.setFillColor(_INK)
    _centred(canvas, centre, 38.3 * mm, "Citizen Identity Card", fonts.sans, 4.2)
    _chip(canvas, _FIELD_X, 27.8 * mm, 10.8 * mm, 8.6 * mm)
    canvas.setStrokeColor(_LABEL)
    canvas.setLineWidth(0.3)
    canvas.rect(*PHOTO_BOX, stroke=1, fill=0)
    _label(canvas, 38.0 * mm, 34.0 * mm, "Số / No.:", fonts)
    _label(canvas, _FIELD_X, 24.9 * mm, "Họ và tên / Full name:", fonts)
    _label(canvas, _FIELD_X, 18.9 * mm, "Ngày sinh / Date of birth:", fonts)
    _label(canvas, 60.5 * mm, 18.9 * mm, "Giới tính / Sex:", fonts)
    _label(canvas, _FIELD_X, 16.0 * mm, "Quốc tịch / Nationality:", fonts)
    _label(canvas, _FIELD_X, 13.1 * mm, "Quê quán / Place of origin:", fonts)
    _label(canvas, _FIELD_X, 8.4 * mm, "Nơi thường trú / Place of residence:", fonts)
    _label(canvas, 3.5 * mm, 7.3 * mm, "Có giá trị đến:", fonts)
    _label(canvas, 3.5 * mm, 5.7 * mm, "Date of expiry", fonts)


def _back_artwork(canvas: Canvas, fonts: FontNames) -> None:
    _border(canvas)
    canvas.setFillColor(_WHITE)
    canvas.rect(0.6 * mm, 0.9 * mm, CARD_WIDTH - 1.2 * mm, 15.6 * mm, stroke=0, fill=1)
    canvas.setFillColor(_INK)
    for left, title, english in (
        (48.0 * mm, "Ngón trỏ trái", "Left index finger"),
        (66.0 * mm, "Ngón trỏ phải", "Right index finger"),
    ):
        _fingerprint(canvas, left, 22.5 * mm, 16.0 * mm, 20.0 * mm)
        canvas.setFillColor(_INK)
        _centred(canvas, left + 8.0 * mm, 46.5 * mm, title, fonts.bold, 3.9)
        _centred(canvas, left + 8.0 * mm, 44.3 * mm, english, fonts.sans, 3.4)
    canvas.setFillColor(_INK)
    _label(canvas, 4.0 * mm, 40.6 * mm, "Ngày, tháng, năm / Date, month, year:", fonts)
    canvas.setStrokeColor(_RED)
    canvas.setLineWidth(0.5)
    canvas.circle(14.0 * mm, 24.0 * mm, 5.5 * mm, stroke=1, fill=0)
    canvas.circle(14.0 * mm, 24.0 * mm, 4.3 * mm, stroke=1, fill=0)
    canvas.setFillColor(_RED)
    _star(canvas, 14.0 * mm, 24.0 * mm, 2.0 * mm)


def _define_forms(canvas: Canvas, fonts: FontNames) -> None:
    canvas.beginForm(_FRONT_FORM, 0, 0, CARD_WIDTH, CARD_HEIGHT)
    _front_artwork(canvas, fonts)
    canvas.endForm()
    canvas.beginForm(_BACK_FORM, 0, 0, CARD_WIDTH, CARD_HEIGHT)
    _back_artwork(canvas, fonts)
    canvas.endForm()


# -- per-card content ---------------------------------------------------------------------


def _draw_qr(canvas: Canvas, payload: str) -> None:
    matrix = qr_matrix(payload)
    x, y, size = QR_BOX
    count = len(matrix)
    module = size / (count + 2 * QR_QUIET_ZONE)
    canvas.setFillColor(_WHITE)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    runs = [
        f"{run.start()} {row} {run.end() - run.start()} 1 re"
        for row, modules in enumerate(matrix)
        for run in _DARK_RUN.finditer(modules)
    ]
    # Module grid: origin at the symbol's top-left corner, y downwards, one unit a module.
    origin_x = x + QR_QUIET_ZONE * module
    origin_y = y + size - QR_QUIET_ZONE * module
    canvas.addLiteral(
        f"q {module:.5f} 0 0 {-module:.5f} {origin_x:.4f} {origin_y:.4f} cm 0 g\n"
        + "\n".join(runs)
        + "\nf Q"
    )


def _draw_front(canvas: Canvas, card: CardData, fonts: FontNames) -> None:
    canvas.doForm(_FRONT_FORM)
    _place_photo(canvas, _photo(card), PHOTO_BOX)
    _draw_qr(canvas, qr_payload(card))
    canvas.setFillColor(_RED)
    canvas.setFont(fonts.bold, 8.5)
    canvas.drawString(38.0 * mm, 30.0 * mm, card.id_number)
    canvas.setFillColor(_INK)
    _fitted(canvas, _FIELD_X, 21.6 * mm, card.full_name.upper(), fonts.bold, 7.2, _FIELD_WIDTH)
    canvas.setFont(fonts.bold, 5.4)
    canvas.drawString(43.5 * mm, 18.9 * mm, face_date(card.date_of_birth))
    canvas.drawString(72.5 * mm, 18.9 * mm, SEX_TEXT[card.sex])
    _fitted(canvas, 42.0 * mm, 16.0 * mm, card.nationality, fonts.bold, 5.4, 40.0 * mm)
    _fitted(canvas, _FIELD_X, 10.9 * mm, card.place_of_origin, fonts.bold, 5.4, _FIELD_WIDTH)
    _wrapped(
        canvas,
        _FIELD_X,
        6.2 * mm,
        card.place_of_residence,
        fonts.bold,
        5.4,
        _FIELD_WIDTH,
        lines=2,
        leading=2.2 * mm,
    )
    _fitted(canvas, 3.5 * mm, 3.2 * mm, expiry_text(card), fonts.bold, 5.4, 20.0 * mm)


def _draw_back(canvas: Canvas, card: CardData, fonts: FontNames, issuers: dict[str, str]) -> None:
    canvas.doForm(_BACK_FORM)
    canvas.setFillColor(_INK)
    canvas.setFont(fonts.bold, 5.6)
    canvas.drawString(4.0 * mm, 37.6 * mm, face_date(card.issue_date))
    form = issuers.get(card.issuer)
    if form is None:  # the issuer block is the same for a whole batch: draw it once
        form = f"cardIssuer{len(issuers)}"
        issuers[card.issuer] = form
        canvas.beginForm(form, 0, 0, CARD_WIDTH, CARD_HEIGHT)
        canvas.setFillColor(_INK)
        _wrapped(
            canvas, 21.0 * mm, 33.4 * mm, card.issuer, fonts.bold, 4.2, 25.0 * mm,
            lines=5, leading=2.0 * mm,
        )  # fmt: skip
        canvas.endForm()
    canvas.doForm(form)
    canvas.setFillColor(_INK)
    canvas.setFont(fonts.mrz, mrz_font_size(fonts))
    for baseline, line in zip(MRZ_BASELINES, mrz_lines(card), strict=True):
        canvas.drawString(MRZ_LEFT, baseline, line)


def mrz_font_size(fonts: FontNames) -> float:
    """OCR-B size giving the ICAO character pitch (about 9.96 pt: OCR-B advances 0.723 em)."""
    return float(MRZ_PITCH / stringWidth("<", fonts.mrz, 1.0))


def render_cards(cards: Sequence[CardData], out: Path | BinaryIO) -> list[tuple[int, int]]:
    """Write one PDF to ``out``: front then back page of each card, in order.

    Returns the 0-based (front, back) page indices of each card. Raises
    :class:`FaceRenderError` (with the card serial) for a card that cannot be rendered,
    ``printers.mrz.MrzError`` for a name with no MRZ form, ``FontMissing`` for fonts.
    """
    fonts = register_fonts()
    target: Any = str(out) if isinstance(out, Path) else out
    canvas = Canvas(
        target,
        pagesize=PAGE_SIZE,
        pageCompression=0,
        invariant=1,
        initialFontName=fonts.sans,  # else every page names Helvetica, a font not embedded
        initialFontSize=6,
    )
    canvas.setTitle("cardline print batch")
    canvas.setCreator("cardline")
    _define_forms(canvas, fonts)
    issuers: dict[str, str] = {}
    pages = []
    for index, card in enumerate(cards):
        try:
            _draw_front(canvas, card, fonts)
            canvas.showPage()
            _draw_back(canvas, card, fonts, issuers)
            canvas.showPage()
        except FaceRenderError:
            raise
        except CardlineError as exc:  # MrzError...: this card's data has no printed form
            raise FaceRenderError(
                f"card cannot be drawn: {exc.message}",
                reason_code=DATA_INVALID,
                card_serial=card.card_serial,
            ) from exc
        pages.append((2 * index, 2 * index + 1))
    canvas.save()
    return pages


def preflight(card: CardData) -> Refusal | None:
    """Why ``card`` cannot be printed (its photo, its QR fields, its MRZ), or None.

    What the printer checks before a card body goes in: a card whose data cannot make a
    face is refused alone, and the rest of its batch is printed."""
    problem = check_portrait(card.photo_path, card.photo_sha256, stage="print")
    if problem is not None:
        return Refusal(card.card_serial, problem.reason_code, problem.message)
    try:
        _photo(card)
        qr_payload(card)
        mrz_lines(card)
    except FaceRenderError as exc:
        return Refusal(card.card_serial, exc.reason_code, exc.message)
    except CardlineError as exc:
        return Refusal(card.card_serial, DATA_INVALID, exc.message)
    except Exception as exc:  # noqa: BLE001  (one card's data never stops the batch)
        return Refusal(card.card_serial, DATA_INVALID, f"unprintable data ({type(exc).__name__})")
    return None


def render_batch(cards: Sequence[CardData], path: Path) -> RenderedBatch:
    """Render the cards that can be printed into the PDF at ``path``; refuse the others.

    Each card is checked first (:func:`preflight`); a card that still fails while it is
    drawn is refused too and the PDF made again without it. With no card left, nothing
    is written. Errors that are not one card's (a missing font) are raised."""
    refused = [refusal for card in cards if (refusal := preflight(card)) is not None]
    good = [card for card in cards if card.card_serial not in {r.card_serial for r in refused}]
    while good:
        try:
            pages = render_cards(good, path)
        except FaceRenderError as exc:
            if exc.card_serial is None or exc.card_serial not in {c.card_serial for c in good}:
                raise
            refused.append(Refusal(exc.card_serial, exc.reason_code, exc.message))
            good = [card for card in good if card.card_serial != exc.card_serial]
            continue
        return RenderedBatch(
            tuple(
                (card.card_serial, front, back)
                for card, (front, back) in zip(good, pages, strict=True)
            ),
            tuple(refused),
        )
    return RenderedBatch((), tuple(refused))


def render_card(card: CardData) -> bytes:
    """One card's PDF (front, back) as bytes."""
    buffer = io.BytesIO()
    render_cards([card], buffer)
    return buffer.getvalue()
