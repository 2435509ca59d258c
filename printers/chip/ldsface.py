"""DG2, the facial image (ICAO 9303-10 4.7.2, ISO/IEC 19794-5:2005): the biometric data
block around one JPEG portrait, its builder and parsers, and the portrait itself made from
the applicant's photo (``photo_to_jpeg``)."""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from line.portrait import MAX_PIXELS
from printers.chip import tlv
from printers.chip.ldscore import DG_TAGS, LdsError, children, unwrap

if TYPE_CHECKING:
    from PIL import Image

# --- DG2: the facial image ------------------------------------------------------------------

FORMAT_OWNER_ISO_SC37 = 0x0101
"""CBEFF format owner of ISO/IEC JTC 1/SC 37 (biometrics)."""
FORMAT_TYPE_FACE = 0x0008
"""CBEFF format type of an ISO/IEC 19794-5 face image record."""
BIOMETRIC_TYPE_FACE = 0x02
"""CBEFF biometric type "facial features"."""

GENDER_CODES: Mapping[str | None, int] = {None: 0x00, "M": 0x01, "F": 0x02}
"""ISO 19794-5 5.5.3 gender: 0 unspecified, 1 male, 2 female (FF unknown)."""

_GENERAL_HEADER = struct.Struct(">4s4sIH")  # format id, version, record length, face count
_FACIAL_INFO = struct.Struct(">IHBBB3sH3s3s")  # 5.5: 20 bytes
_IMAGE_INFO = struct.Struct(">BBHHBBHH")  # 5.7: 12 bytes
IMAGE_DATA_JPEG = 0x00
IMAGE_DATA_JPEG2000 = 0x01


@dataclass(frozen=True, slots=True)
class FacialImage:
    """The parts of DG2's ISO 19794-5 record that matter here. ``image`` is personal data."""

    image: bytes
    image_data_type: int
    width: int
    height: int
    gender: int
    face_count: int

    def __repr__(self) -> str:
        return (
            f"FacialImage({len(self.image)} bytes, type={self.image_data_type}, "
            f"{self.width}x{self.height})"
        )


def facial_record(
    jpeg: bytes, *, width: int, height: int, sex: Literal["M", "F"] | None = None
) -> bytes:
    """An ISO/IEC 19794-5:2005 Facial Record Data block holding one JPEG image.

    General header (14 bytes): ``"FAC\\0"``, version ``"010\\0"``, record length (4),
    number of facial images = 1 (2). Facial information block (5.5, 20 bytes): facial record
    data length (4, this block + image information + image), feature points 0, gender (from
    ``sex``: 1 male, 2 female, 0 unspecified), eye colour 0 and hair colour 0 (unspecified),
    feature mask 0 (none specified), expression 0 (unspecified), pose angle 0 0 0 and its
    uncertainty 0 0 0 (unspecified). Image information block (5.7, 12 bytes): face image type
    1 (full frontal: an ICAO portrait), image data type 0 (JPEG), width, height, colour space
    1 (24-bit RGB), source type 1 (static photograph, unknown source: the photo comes from the
    application), device type 0 and quality 0 (unspecified). Then the JPEG bytes.
    """
    if not (0 < width <= 0xFFFF and 0 < height <= 0xFFFF):
        raise LdsError("image size out of range", reason_code="lds.dg2.image", data_group="DG2")
    facial_length = _FACIAL_INFO.size + _IMAGE_INFO.size + len(jpeg)
    record_length = _GENERAL_HEADER.size + facial_length
    return (
        _GENERAL_HEADER.pack(b"FAC\0", b"010\0", record_length, 1)
        + _FACIAL_INFO.pack(
            facial_length, 0, GENDER_CODES[sex], 0, 0, b"\0\0\0", 0, b"\0\0\0", b"\0\0\0"
        )
        + _IMAGE_INFO.pack(1, IMAGE_DATA_JPEG, width, height, 1, 1, 0, 0)
        + jpeg
    )


def dg2(jpeg: bytes, *, width: int, height: int, sex: Literal["M", "F"] | None = None) -> bytes:
    """DG2 holding one facial image, as ICAO 9303-10 4.7.2 lays it out::

        75 {
          7F61 {                       Biometric Information Group Template
            02 01 01                   number of instances: 1
            7F60 {                     Biometric Information Template
              A1 {                     Biometric Header Template (ISO 7816-11)
                80 02 0101             ICAO header version 1.1
                81 01 02               biometric type: facial features
                82 01 00               biometric subtype: none (no subtype for a face)
                87 02 0101             format owner: ISO/IEC JTC 1/SC 37
                88 02 0008             format type: ISO/IEC 19794-5 face image
              }
              5F2E  ISO/IEC 19794-5 Facial Record Data (see ``facial_record``)
            }
          }
        }

    The optional header elements (83 creation date, 85 validity period, 86 creator) are left
    out: they would carry nothing the SOD and the card do not already say.
    """
    header = tlv.encode_all(
        [
            (0x80, b"\x01\x01"),
            (0x81, bytes([BIOMETRIC_TYPE_FACE])),
            (0x82, b"\x00"),
            (0x87, FORMAT_OWNER_ISO_SC37.to_bytes(2, "big")),
            (0x88, FORMAT_TYPE_FACE.to_bytes(2, "big")),
        ]
    )
    template = tlv.encode(0xA1, header) + tlv.encode(
        0x5F2E, facial_record(jpeg, width=width, height=height, sex=sex)
    )
    group = tlv.encode(0x02, b"\x01") + tlv.encode(0x7F60, template)
    return tlv.encode(DG_TAGS[2], tlv.encode(0x7F61, group))


def _dg2_error(message: str, what: str = "format") -> LdsError:
    return LdsError(message, reason_code=f"lds.dg2.{what}", data_group="DG2")


def _parse_header(header: bytes) -> None:
    try:
        elements = {item.tag: item.value for item in tlv.decode(header)}
    except tlv.TlvError as exc:
        raise _dg2_error(str(exc)) from exc
    owner = elements.get(0x87, b"")
    kind = elements.get(0x88, b"")
    if int.from_bytes(owner, "big") != FORMAT_OWNER_ISO_SC37 or len(owner) != 2:
        raise _dg2_error("biometric header: format owner is not ISO/IEC JTC 1/SC 37")
    if int.from_bytes(kind, "big") != FORMAT_TYPE_FACE or len(kind) != 2:
        raise _dg2_error("biometric header: format type is not an ISO 19794-5 face")


def parse_facial_record(record: bytes) -> FacialImage:
    """The first facial image of an ISO/IEC 19794-5:2005 Facial Record Data block."""
    fixed = _GENERAL_HEADER.size + _FACIAL_INFO.size
    if len(record) < fixed + _IMAGE_INFO.size:
        raise _dg2_error("facial record too short")
    magic, version, record_length, faces = _GENERAL_HEADER.unpack_from(record, 0)
    if magic != b"FAC\0" or version != b"010\0":
        raise _dg2_error("not an ISO 19794-5:2005 facial record")
    if record_length != len(record) or faces < 1:
        raise _dg2_error("facial record length or face count is wrong")
    facial_length, points, gender, *_ = _FACIAL_INFO.unpack_from(record, _GENERAL_HEADER.size)
    image_at = fixed + 8 * points + _IMAGE_INFO.size
    image_end = _GENERAL_HEADER.size + facial_length
    if image_end > len(record) or image_at > image_end or (faces == 1 and image_end != len(record)):
        raise _dg2_error("facial record data length is wrong")
    _kind, data_type, width, height, *_ = _IMAGE_INFO.unpack_from(record, image_at - 12)
    if data_type != IMAGE_DATA_JPEG:
        raise _dg2_error(f"image data type {data_type} is not JPEG", "image_type")
    return FacialImage(record[image_at:image_end], data_type, width, height, gender, faces)


def parse_dg2_record(data: bytes) -> FacialImage:
    """The facial image of DG2 (the first instance if there are several)."""
    (group,) = children(unwrap(data, DG_TAGS[2], "DG2"), (0x7F61,), "DG2")
    try:
        items = tlv.decode(group)
    except tlv.TlvError as exc:
        raise _dg2_error(str(exc)) from exc
    if len(items) < 2 or items[0].tag != 0x02 or any(i.tag != 0x7F60 for i in items[1:]):
        raise _dg2_error("biometric information group template is malformed")
    if int.from_bytes(items[0].value, "big") != len(items) - 1:
        raise _dg2_error("number of instances does not match the templates")
    header, record = children(items[1].value, (0xA1, 0x5F2E), "DG2")
    _parse_header(header)
    return parse_facial_record(record)


def parse_dg2(data: bytes) -> bytes:
    """The JPEG image DG2 holds."""
    return parse_dg2_record(data).image


PORTRAIT_SIZE = (240, 320)
"""ICAO-like portrait size (3:4) for the chip."""
PORTRAIT_MAX_BYTES = 20_000
_QUALITIES = (90, 85, 80, 75, 70, 65, 60, 55, 50)


def _flat_rgb(image: Image.Image) -> Image.Image:
    """``image`` in RGB, transparency flattened on white."""
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def photo_to_jpeg(
    path: Path | BinaryIO,
    *,
    size: tuple[int, int] = PORTRAIT_SIZE,
    max_bytes: int = PORTRAIT_MAX_BYTES,
) -> tuple[bytes, int, int]:
    """The application's photo (PNG or JPEG) as a baseline JPEG for DG2: ``(jpeg, width,
    height)``.

    The photo is turned upright (EXIF orientation), flattened on white if it has
    transparency, cropped to the 3:4 portrait shape around its centre and scaled to ``size``;
    then saved baseline (not progressive, 4:2:0, Huffman-optimised, no metadata) at the
    highest quality of 90, 85, ... 50 that fits ``max_bytes`` (the smallest if none does).
    Plain synthetic portraits come out well under the limit at quality 90.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            if opened.format not in ("JPEG", "PNG"):
                raise LdsError(
                    f"photo is {opened.format}, not PNG or JPEG", reason_code="lds.photo"
                )
            if opened.width * opened.height > MAX_PIXELS:  # refused before decoding
                raise LdsError(
                    f"photo is {opened.width}x{opened.height} pixels, more than {MAX_PIXELS:,}",
                    reason_code="lds.photo",
                )
            image = ImageOps.exif_transpose(opened)
            image.load()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError) as exc:
        raise LdsError(
            f"photo cannot be read ({type(exc).__name__})", reason_code="lds.photo"
        ) from None
    try:
        portrait = ImageOps.fit(_flat_rgb(image), size, method=Image.Resampling.LANCZOS)
    except (ValueError, OSError) as exc:  # modes Pillow cannot turn into RGB (16-bit grey...)
        raise LdsError(
            f"photo cannot be converted ({type(exc).__name__})", reason_code="lds.photo"
        ) from None
    jpeg = b""
    for quality in _QUALITIES:
        out = io.BytesIO()
        portrait.save(
            out, format="JPEG", quality=quality, optimize=True, progressive=False, subsampling=2
        )
        jpeg = out.getvalue()
        if len(jpeg) <= max_bytes:
            break
    return jpeg, portrait.width, portrait.height
