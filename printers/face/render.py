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

The face's shared artwork and geometry live in :mod:`printers.face.artwork` (re-exported
here), the photo's preparation in :mod:`printers.face.photo`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import zxingcpp
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from line.card import CardData
from line.errors import CardlineError
from line.portrait import check_portrait
from printers.errors import PrintersError
from printers.face.artwork import (
    BACK_FORM,
    FIELD_WIDTH,
    FIELD_X,
    FRONT_FORM,
    INK,
    RED,
    WHITE,
    define_forms,
    fitted,
    wrapped,
)
from printers.face.artwork import CARD_HEIGHT as CARD_HEIGHT
from printers.face.artwork import CARD_WIDTH as CARD_WIDTH
from printers.face.artwork import CORNER_RADIUS as CORNER_RADIUS
from printers.face.artwork import MRZ_BASELINES as MRZ_BASELINES
from printers.face.artwork import MRZ_LEFT as MRZ_LEFT
from printers.face.artwork import MRZ_PITCH as MRZ_PITCH
from printers.face.artwork import PAGE_SIZE as PAGE_SIZE
from printers.face.artwork import PHOTO_BOX as PHOTO_BOX
from printers.face.artwork import QR_BOX as QR_BOX
from printers.face.artwork import QR_QUIET_ZONE as QR_QUIET_ZONE
from printers.face.fonts import FontNames, register_fonts
from printers.face.photo import PreparedPhoto, load_photo, place_photo
from printers.mrz import mrz_lines

NO_EXPIRY_TEXT = "Không thời hạn"
SEX_TEXT = {"M": "Nam", "F": "Nữ"}
QR_SEPARATOR = "|"

_DARK_RUN = re.compile(rb"[\x01]+")


PHOTO_UNREADABLE = "print.photo_unreadable"
DATA_INVALID = "print.data_invalid"


class FaceRenderError(PrintersError):
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


def _photo(card: CardData) -> PreparedPhoto:
    """The card's photo, ready to place (:func:`preflight` has checked it is the file intake
    recorded and that it passes ``line.portrait``'s rules)."""
    try:
        stat = card.photo_path.stat()
        photo, _ = load_photo(str(card.photo_path.resolve()), stat.st_mtime_ns, stat.st_size)
    except Exception as exc:  # noqa: BLE001  (OSError, PIL's ValueErrors, its bomb error...)
        raise FaceRenderError(
            f"photo unreadable ({type(exc).__name__})",
            reason_code=PHOTO_UNREADABLE,
            card_serial=card.card_serial,
        ) from None
    return photo


# -- per-card content ---------------------------------------------------------------------


def _draw_qr(canvas: Canvas, payload: str) -> None:
    matrix = qr_matrix(payload)
    x, y, size = QR_BOX
    count = len(matrix)
    module = size / (count + 2 * QR_QUIET_ZONE)
    canvas.setFillColor(WHITE)
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
    canvas.doForm(FRONT_FORM)
    place_photo(canvas, _photo(card), PHOTO_BOX)
    _draw_qr(canvas, qr_payload(card))
    canvas.setFillColor(RED)
    canvas.setFont(fonts.bold, 8.5)
    canvas.drawString(38.0 * mm, 30.0 * mm, card.id_number)
    canvas.setFillColor(INK)
    fitted(canvas, FIELD_X, 21.6 * mm, card.full_name.upper(), fonts.bold, 7.2, FIELD_WIDTH)
    canvas.setFont(fonts.bold, 5.4)
    canvas.drawString(43.5 * mm, 18.9 * mm, face_date(card.date_of_birth))
    canvas.drawString(72.5 * mm, 18.9 * mm, SEX_TEXT[card.sex])
    fitted(canvas, 42.0 * mm, 16.0 * mm, card.nationality, fonts.bold, 5.4, 40.0 * mm)
    fitted(canvas, FIELD_X, 10.9 * mm, card.place_of_origin, fonts.bold, 5.4, FIELD_WIDTH)
    wrapped(
        canvas,
        FIELD_X,
        6.2 * mm,
        card.place_of_residence,
        fonts.bold,
        5.4,
        FIELD_WIDTH,
        lines=2,
        leading=2.2 * mm,
    )
    fitted(canvas, 3.5 * mm, 3.2 * mm, expiry_text(card), fonts.bold, 5.4, 20.0 * mm)


def _draw_back(canvas: Canvas, card: CardData, fonts: FontNames, issuers: dict[str, str]) -> None:
    canvas.doForm(BACK_FORM)
    canvas.setFillColor(INK)
    canvas.setFont(fonts.bold, 5.6)
    canvas.drawString(4.0 * mm, 37.6 * mm, face_date(card.issue_date))
    form = issuers.get(card.issuer)
    if form is None:  # the issuer block is the same for a whole batch: draw it once
        form = f"cardIssuer{len(issuers)}"
        issuers[card.issuer] = form
        canvas.beginForm(form, 0, 0, CARD_WIDTH, CARD_HEIGHT)
        canvas.setFillColor(INK)
        wrapped(
            canvas, 21.0 * mm, 33.4 * mm, card.issuer, fonts.bold, 4.2, 25.0 * mm,
            lines=5, leading=2.0 * mm,
        )  # fmt: skip
        canvas.endForm()
    canvas.doForm(form)
    canvas.setFillColor(INK)
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
    define_forms(canvas, fonts)
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


def render_batch(cards: Sequence[CardData], path: Path | BinaryIO) -> RenderedBatch:
    """Render the cards that can be printed into the PDF at ``path`` (or into a buffer,
    for a PDF that is encrypted before it reaches the disk); refuse the others.

    Each card is checked first (:func:`preflight`); a card that still fails while it is
    drawn is refused too and the PDF made again without it. With no card left, nothing
    is written. Errors that are not one card's (a missing font) are raised."""
    refused = [refusal for card in cards if (refusal := preflight(card)) is not None]
    good = [card for card in cards if card.card_serial not in {r.card_serial for r in refused}]
    while good:
        if not isinstance(path, Path):
            path.seek(0)
            path.truncate()  # a retry starts from an empty buffer
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
