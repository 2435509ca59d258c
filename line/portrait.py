"""The portrait photo: the rules intake holds it to, and the check print makes again.

What the photo becomes, and the minimums that follow from it:

- **DG2, the chip's face image.** ICAO Doc 9303 Part 10 stores in DG2 a face image encoded
  per ISO/IEC 19794-5 (Part 9 points to that standard for the facial biometric). Its
  *token* face image, the kind a document carries, is 3:4 (width:height), at least 240
  pixels wide, with the eye centres a quarter of the width apart (60 px at 240 px); its
  *full frontal* image asks for at least 90 px between the eye centres. cardline writes DG2
  as a 240x320 token image (``printers.chip.lds.PORTRAIT_SIZE``): a smaller photo would have
  to be enlarged, inventing detail the chip then signs.
- **The printed portrait**: 20 x 30 mm on the card front (2:3). At 300 dpi, the
  resolution of common card printers, that is 236 x 354 px. A 240 x 320 token image
  cropped to the box gives 213 x 320 px, about 271 dpi.

So the minimum is the ICAO token image: **240 x 320 px** (:data:`MIN_WIDTH`,
:data:`MIN_HEIGHT`). It meets DG2 exactly and prints at ~271 dpi, 10 % under 300 dpi;
refusing it would refuse the standard's own minimum photo. The **aspect** (width / height,
after the EXIF orientation) must lie in 0.64-0.80 (:data:`MIN_ASPECT`, :data:`MAX_ASPECT`):
the 2:3 print box (0.667) and the 3:4 DG2 image (0.75) with a few per cent either way, the
35 x 45 mm passport photo (0.78) and 4:5 prints (0.80); wider or narrower photos lose a
fifth of their height or width to one of the two crops. The distance between the eyes is
not measured here (that needs a face detector).

**Pixel bombs** are refused from the image header, before any pixel is decoded: a photo of
more than :data:`MAX_PIXELS` (40 million) pixels is too large (a 20000 x 20000 PNG is
389 KB on disk and 1.2 GB decoded). ``Image.open`` reads only the header; Pillow's own
``MAX_IMAGE_PIXELS`` (89 million, an error at twice that) stays as a second line: it is a
process-wide setting and is not changed here. Only then is the image decoded in full, so
that a truncated or corrupt file is refused (a PNG's chunk checksums are verified first:
Pillow's decoder does not check them; a JPEG is decoded at 1/8 scale, which still reads
every scan to its end). That decode is most of the cost of a photo at intake: about 0.7 ms
for a 900 x 1200 JPEG, 17 ms for the same as a PNG, on the machine the benchmarks ran on.

``inspect_portrait`` applies the rules to a file's bytes (intake records the result as
``photo.<code>``). ``check_portrait`` is what print calls before a card body goes in: the
file must still be the one intake recorded (``print.photo_changed``: held for a manager,
never printed) and still pass the rules. Messages never hold the path or other personal
data: they go to logs and stage events.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

MIN_WIDTH = 240
MIN_HEIGHT = 320
MIN_ASPECT = 0.64
MAX_ASPECT = 0.80
MAX_PIXELS = 40_000_000
MAX_BYTES = 5 * 1024 * 1024

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_ORIENTATION = 0x0112  # EXIF tag; values 5-8 turn the image a quarter
_QUARTER_TURNS = frozenset({5, 6, 7, 8})

CODES = (
    "not_found",
    "empty",
    "unreadable",
    "not_image",
    "too_large",
    "too_small",
    "aspect",
    "changed",
)
"""Every ``PortraitProblem.code``; print's reason codes are ``print.photo_<code>``."""


@dataclass(frozen=True, slots=True)
class PortraitProblem:
    """Why a photo is refused: ``code`` (one of :data:`CODES`), a message without personal
    data, and the stage that refused it (``None`` at intake)."""

    code: str
    message: str
    stage: str | None = None

    @property
    def reason_code(self) -> str:
        """``photo.<code>`` at intake, ``<stage>.photo_<code>`` (``print.photo_changed``)."""
        return f"{self.stage}.photo_{self.code}" if self.stage else f"photo.{self.code}"


@dataclass(frozen=True, slots=True)
class PortraitInfo:
    """A photo that passed: its format and upright size in pixels."""

    format: str
    width: int
    height: int


def read_portrait(path: Path, *, max_bytes: int = MAX_BYTES) -> bytes | PortraitProblem:
    """The file's bytes, or why it cannot be a photo (gone, empty, unreadable, too big)."""
    try:
        if not path.is_file():
            return PortraitProblem("not_found", "no such file")
        size = path.stat().st_size
        if size == 0:
            return PortraitProblem("empty", "file is empty")
        if size > max_bytes:
            return PortraitProblem("too_large", f"{size} bytes, more than {max_bytes}")
        return path.read_bytes()
    except OSError as exc:
        return PortraitProblem("unreadable", exc.strerror or type(exc).__name__)


def inspect_portrait(content: bytes) -> PortraitInfo | PortraitProblem:
    """The photo in ``content`` if it passes the rules of this module's docstring."""
    from PIL import Image, UnidentifiedImageError

    if not content:
        return PortraitProblem("empty", "file is empty")
    if content.startswith(JPEG_MAGIC):
        fmt = "JPEG"
    elif content.startswith(PNG_MAGIC):
        fmt = "PNG"
    else:
        return PortraitProblem("not_image", "is neither a JPEG nor a PNG")
    try:
        with Image.open(io.BytesIO(content), formats=(fmt,)) as image:  # the header only
            width, height = image.size
            if width * height > MAX_PIXELS:
                return PortraitProblem(
                    "too_large",
                    f"{width}x{height} pixels, more than {MAX_PIXELS:,} (refused unread)",
                )
            if image.getexif().get(_ORIENTATION) in _QUARTER_TURNS:
                width, height = height, width
            if min(width, height) < MIN_WIDTH or max(width, height) < MIN_HEIGHT:
                return PortraitProblem(
                    "too_small",
                    f"{width}x{height} pixels, smaller than the {MIN_WIDTH}x{MIN_HEIGHT} of an "
                    "ICAO token face image",
                )
            aspect = width / height
            if not MIN_ASPECT <= aspect <= MAX_ASPECT:
                return PortraitProblem(
                    "aspect",
                    f"{width}x{height} pixels (width/height {aspect:.2f}); a portrait is "
                    f"{MIN_ASPECT:.2f}-{MAX_ASPECT:.2f} (2:3 to 4:5)",
                )
        if fmt == "PNG":
            with Image.open(io.BytesIO(content), formats=(fmt,)) as image:
                image.verify()  # chunk checksums and the end of the file
        with Image.open(io.BytesIO(content), formats=(fmt,)) as image:
            if fmt == "JPEG":  # every scan decoded, at 1/8 scale: 2-3 times faster
                image.draft(None, (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()  # every pixel: a truncated or corrupt file fails here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own limit (the warning is raised when warnings are errors)
        counted = re.search(r"\(([0-9]+) pixels\)", str(exc))
        size = f"{int(counted.group(1)):,} pixels" if counted else "pixels"
        return PortraitProblem("too_large", f"{size}, more than {MAX_PIXELS:,} (refused unread)")
    except UnidentifiedImageError:
        return PortraitProblem("not_image", f"is not a readable {fmt}")
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # PIL's ways of saying broken
        return PortraitProblem("unreadable", f"{fmt} is truncated or corrupt ({exc})"[:200])
    return PortraitInfo(fmt, width, height)


def check_portrait(
    path: Path, expected_sha256: str | None, *, stage: str = "print"
) -> PortraitProblem | None:
    """Why the photo at ``path`` must not go on a card now, or None.

    For print (and encode: ``stage="encode"``) before a card body goes in. The file must
    hash to ``expected_sha256``, the SHA-256 intake recorded (``None``: nothing was
    recorded, only the rules apply), and still pass the rules. Reason codes:
    ``<stage>.photo_changed`` (not the file intake accepted: hold it for a manager, never
    print it), ``_not_found``, ``_empty``, ``_unreadable`` (truncated, corrupt, an I/O
    error), ``_not_image``, ``_too_large`` (bytes, or pixels from the header),
    ``_too_small`` and ``_aspect``."""
    content = read_portrait(path)
    if isinstance(content, PortraitProblem):
        return PortraitProblem(content.code, content.message, stage)
    if expected_sha256 is not None and hashlib.sha256(content).hexdigest() != expected_sha256:
        return PortraitProblem(
            "changed", "photo is not the file recorded at intake (its SHA-256 differs)", stage
        )
    inspected = inspect_portrait(content)
    if isinstance(inspected, PortraitProblem):
        return PortraitProblem(inspected.code, inspected.message, stage)
    return None
