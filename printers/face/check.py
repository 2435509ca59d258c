"""QC of a printed face: does what is on the card say what the database says?

A chain of small checks, each turning one failed condition into a reason code:

- ``qc.face.unreadable``: the PDF or one of the card's pages cannot be read;
- ``qc.face.name``: the full name (in capitals, diacritics kept, as printed) is not a line
  of the front;
- ``qc.face.id_number``: the 12-digit ID number is not a word of the front;
- ``qc.face.dates``: date of birth or date of expiry (or "Không thời hạn") is not on the
  front, or the issue date is not on the back (``dd/mm/yyyy``);
- ``qc.face.mrz``: one of the three MRZ lines is not a line of the back's text;
- ``qc.face.qr``: (when asked) the QR code on the front cannot be decoded, or its text
  differs from :func:`printers.face.render.qr_payload`.

Text comes from the PDF's text layer (pdfium), compared in Unicode NFC; the QR code is
read from the front page rasterised at :data:`QR_DPI` with zxing-cpp.
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped, unused-ignore]
import zxingcpp

from line.card import CardData
from line.sealed import NoDataKey, SealedFileError
from printers.face.render import NO_EXPIRY_TEXT, FaceRenderError, face_date, qr_payload
from printers.mrz import MrzError, mrz_lines

QR_DPI = 300


def _qr_only() -> zxingcpp.BarcodeFormats:
    # Made per call, not kept at module level: nanobind reports a module-level instance as
    # leaked at interpreter exit when threads (Prefect's) keep the module alive to the end.
    return zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


@dataclass(frozen=True, slots=True)
class FaceText:
    """What the pages of one card show: text of front and back, and the QR texts found."""

    front: str
    back: str
    qr_texts: tuple[str, ...] | None  # None when the QR was not decoded


def _normal(text: str) -> str:
    return unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")


class PdfDocuments:
    """Keeps the last few print batches open: QC reads the cards of a batch one after the
    other, and reopening a batch's PDF for each card costs a page-tree walk every time.
    A file replaced on disk (other size or modification time) is opened afresh."""

    def __init__(self, keep: int = 2, *, opener: Callable[[Path], bytes] | None = None) -> None:
        self.keep = keep
        self.opener = opener  # a sealed spool: the PDF's plaintext, decrypted in memory
        self._open: OrderedDict[tuple[str, int, int], pdfium.PdfDocument] = OrderedDict()

    def get(self, path: Path) -> pdfium.PdfDocument:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        document = self._open.get(key)
        if document is None:
            source: str | bytes = str(path) if self.opener is None else self.opener(path)
            document = pdfium.PdfDocument(source)
            self._open[key] = document
            while len(self._open) > self.keep:
                _, oldest = self._open.popitem(last=False)
                oldest.close()
        else:
            self._open.move_to_end(key)
        return document

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()


def read_face(
    pdf_path: Path,
    front_page: int,
    back_page: int,
    *,
    decode_qr: bool,
    documents: PdfDocuments | None = None,
) -> FaceText:
    """Extract the text of both pages (and decode the front's QR codes if asked)."""
    document = documents.get(pdf_path) if documents else pdfium.PdfDocument(str(pdf_path))
    try:
        texts = []
        for index in (front_page, back_page):
            if not 0 <= index < len(document):
                raise IndexError(f"page {index} of {len(document)}")
            page = document[index]
            texts.append(_normal(str(page.get_textpage().get_text_bounded())))
        qr_texts: tuple[str, ...] | None = None
        if decode_qr:
            image = document[front_page].render(scale=QR_DPI / 72).to_pil()
            found = zxingcpp.read_barcodes(image, formats=_qr_only())
            qr_texts = tuple(_normal(result.text) for result in found)
        return FaceText(front=texts[0], back=texts[1], qr_texts=qr_texts)
    finally:
        if documents is None:
            document.close()


Check = Callable[[CardData, FaceText], str | None]


def _lines(text: str) -> set[str]:
    return {" ".join(line.split()) for line in text.split("\n")}


def check_name(card: CardData, face: FaceText) -> str | None:
    """The name, in capitals with its diacritics, is a line of its own on the front."""
    name = " ".join(_normal(card.full_name.upper()).split())
    return None if name in _lines(face.front) else "qc.face.name"


def check_id_number(card: CardData, face: FaceText) -> str | None:
    return None if card.id_number in face.front.split() else "qc.face.id_number"


def check_dates(card: CardData, face: FaceText) -> str | None:
    front, back = face.front.split(), face.back.split()
    expiry = card.expiry_date
    expiry_ok = face_date(expiry) in front if expiry else NO_EXPIRY_TEXT in " ".join(front)
    if face_date(card.date_of_birth) in front and expiry_ok and face_date(card.issue_date) in back:
        return None
    return "qc.face.dates"


def check_mrz(card: CardData, face: FaceText) -> str | None:
    try:
        expected = mrz_lines(card)
    except MrzError:  # the database holds a name no MRZ can carry: nothing printed is right
        return "qc.face.mrz"
    lines = _lines(face.back)
    return None if all(line in lines for line in expected) else "qc.face.mrz"


def check_qr(card: CardData, face: FaceText) -> str | None:
    if face.qr_texts is None:
        return None
    try:
        expected = _normal(qr_payload(card))
    except FaceRenderError:
        return "qc.face.qr"
    return None if face.qr_texts == (expected,) else "qc.face.qr"


CHECKS: tuple[Check, ...] = (check_name, check_id_number, check_dates, check_mrz, check_qr)


def check_face(
    card: CardData,
    pdf_path: Path,
    front_page: int,
    back_page: int,
    *,
    decode_qr: bool,
    documents: PdfDocuments | None = None,
) -> list[str]:
    """Reason codes of every failed check of ``card``'s printed faces; ``[]`` if it passes."""
    try:
        face = read_face(pdf_path, front_page, back_page, decode_qr=decode_qr, documents=documents)
    except NoDataKey:
        raise  # QC wired without the centre's data key: every card would fail, say so
    except (pdfium.PdfiumError, OSError, IndexError, SealedFileError):
        return ["qc.face.unreadable"]  # a sealed batch changed on disk is unreadable too
    return [reason for check in CHECKS if (reason := check(card, face)) is not None]
