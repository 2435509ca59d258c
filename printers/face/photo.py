"""The card's photo made ready for the PDF: prepared once per file (a JPEG passed through as
DCT data, anything else turned upright, flattened and deflated), kept in a small LRU cache
keyed by path, mtime and size, and placed on a page as an image XObject."""

from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from reportlab.pdfbase import pdfdoc
from reportlab.pdfgen.canvas import Canvas

EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True, slots=True)
class PreparedPhoto:
    """An image ready to be an XObject: stream bytes and how to read them."""

    key: str
    width: int
    height: int
    color_space: str
    filters: tuple[str, ...]
    data: bytes


@lru_cache(maxsize=512)
def load_photo(path: str, mtime_ns: int, size: int) -> tuple[PreparedPhoto, str]:
    """The prepared photo and the SHA-256 of the file it came from."""
    raw = Path(path).read_bytes()
    return prepare_photo(raw), hashlib.sha256(raw).hexdigest()


def prepare_photo(raw: bytes) -> PreparedPhoto:
    from PIL import Image, ImageOps

    key = hashlib.blake2b(raw, digest_size=12).hexdigest()
    with Image.open(io.BytesIO(raw)) as opened:
        upright = opened.getexif().get(EXIF_ORIENTATION, 1) in (None, 1)
        if opened.format == "JPEG" and opened.mode in ("RGB", "L") and upright:
            space = "DeviceRGB" if opened.mode == "RGB" else "DeviceGray"
            return PreparedPhoto(key, opened.width, opened.height, space, ("DCTDecode",), raw)
        # Turned upright as intake judged it (and as DG2 stores it): EXIF orientation.
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA", "P", "PA"):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
        else:
            flat = image.convert("RGB")
        data = zlib.compress(flat.tobytes(), 6)
        return PreparedPhoto(key, flat.width, flat.height, "DeviceRGB", ("FlateDecode",), data)


def place_photo(
    canvas: Canvas, photo: PreparedPhoto, box: tuple[float, float, float, float]
) -> None:
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
