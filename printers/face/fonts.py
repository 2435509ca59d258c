"""Fonts of the card face, registered with ReportLab once per process.

- **DejaVu Sans** and **DejaVu Sans Bold** (Debian ``fonts-dejavu-core``, a permissive
  licence) carry every Vietnamese letter with its diacritics (``ễ``, ``Ự``, ``Đ``...).
- **OCR-B** (Debian ``fonts-ocr-b``, public domain) for the machine-readable zone. The
  package ships it as OpenType with PostScript (CFF) outlines, which ReportLab cannot
  embed; it is converted in memory, once, to TrueType outlines (fontTools: subset to the
  MRZ alphabet, cubic curves to quadratic) and registered from that.

Registration is idempotent and thread-safe: call :func:`register_fonts` as often as you
like; the work is done the first time.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from line.errors import CardlineError
from printers.errors import PrintersError

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
OCRB_PATH = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")
MRZ_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789< "


class FontMissing(PrintersError):
    """A font file the card face needs is not installed; names the Debian package to install."""

    def __init__(self, path: Path, *, package: str) -> None:
        super().__init__(
            f"font file {path} is missing: install the Debian package {package} "
            f"(apt-get install {package})",
            path=str(path),
            package=package,
            reason_code="print.font_missing",
        )
        self.path = path
        self.package = package
        self.reason_code = "print.font_missing"


@dataclass(frozen=True, slots=True)
class FontNames:
    """The names to pass to ``canvas.setFont``."""

    sans: str = "CardSans"
    bold: str = "CardSans-Bold"
    mrz: str = "CardOCRB"


FONTS = FontNames()
_lock = threading.Lock()
_registered: FontNames | None = None


def _require(path: Path, package: str) -> Path:
    if not path.is_file():
        raise FontMissing(path, package=package)
    return path


def font_files(
    *, dejavu_dir: Path = DEJAVU_DIR, ocrb_path: Path = OCRB_PATH
) -> tuple[Path, Path, Path]:
    """The sans, bold and OCR-B font files; :class:`FontMissing` if one is not installed."""
    return (
        _require(dejavu_dir / "DejaVuSans.ttf", "fonts-dejavu-core"),
        _require(dejavu_dir / "DejaVuSans-Bold.ttf", "fonts-dejavu-core"),
        _require(ocrb_path, "fonts-ocr-b"),
    )


def ocrb_truetype(otf: Path) -> bytes:
    """OCR-B's MRZ glyphs as a TrueType font (quadratic outlines ReportLab can embed)."""
    try:
        from fontTools.ttLib import TTFont  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:  # pragma: no cover - a set-up error
        raise CardlineError(
            "the OCR-B font needs fontTools to convert it: pip install fonttools",
            reason_code="print.font_missing",
        ) from exc

    font = TTFont(str(otf))
    _keep_mrz_glyphs(font)
    _quadratic_outlines(font)
    _truetype_tables(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _keep_mrz_glyphs(font: Any) -> None:
    """Subset ``font`` to the MRZ alphabet (names kept, no layout features, no FFTM)."""
    from fontTools import subset  # type: ignore[import-untyped, unused-ignore]

    options = subset.Options()
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.drop_tables += ["FFTM"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=MRZ_CHARACTERS)
    subsetter.subset(font)


def _quadratic_outlines(font: Any) -> None:
    """Replace the CFF outlines with quadratic ``glyf`` ones (what TrueType holds)."""
    from fontTools.pens.cu2quPen import Cu2QuPen  # type: ignore[import-untyped, unused-ignore]
    from fontTools.pens.ttGlyphPen import TTGlyphPen  # type: ignore[import-untyped, unused-ignore]
    from fontTools.ttLib import newTable  # type: ignore[import-untyped, unused-ignore]

    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
        glyf[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]


def _truetype_tables(font: Any) -> None:
    """The sfnt version, maxp 1.0, head and post 2.0 of a TrueType-outline font."""
    font.sfntVersion = "\x00\x01\x00\x00"
    maxp = font["maxp"]
    maxp.tableVersion = 0x00010000
    for attribute in (
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, attribute, 0)
    maxp.maxZones = 1
    font["head"].indexToLocFormat = 0
    font["head"].glyphDataFormat = 0
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}


def register_fonts(
    *, dejavu_dir: Path = DEJAVU_DIR, ocrb_path: Path = OCRB_PATH, names: FontNames = FONTS
) -> FontNames:
    """Register the card fonts with ReportLab (once) and return their names.

    Raises :class:`FontMissing` naming the Debian package when a font file is absent.
    Later calls return the names registered first, whatever their arguments.
    """
    global _registered
    if _registered is not None:
        return _registered
    with _lock:
        if _registered is not None:
            return _registered
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        sans, bold, ocrb = font_files(dejavu_dir=dejavu_dir, ocrb_path=ocrb_path)
        pdfmetrics.registerFont(TTFont(names.sans, str(sans)))
        pdfmetrics.registerFont(TTFont(names.bold, str(bold)))
        pdfmetrics.registerFont(TTFont(names.mrz, io.BytesIO(ocrb_truetype(ocrb))))
        _registered = names
        return names
