"""The chip's data: ICAO 9303-10 LDS1 files EF.COM, DG1, DG2, DG13, their builders and parsers.

Every builder returns the whole file as written to the chip (outer tag included); every parser
takes such a file, checks its structure strictly and raises ``LdsError`` (never another
exception) for bytes it cannot accept. Data group contents are personal data: no message here
ever quotes them.

EF.COM (tag ``60``)::

    60 { 5F01 "0107"  LDS version 1.7      5F36 "040000"  Unicode version 4.0.0
         5C  tags of the data groups present, in DG order (61 75 6D) }

DG1 (tag ``61``)::

    61 { 5F1F  the 90 characters of the TD1 MRZ, the three lines concatenated }

DG2 (tag ``75``): see ``dg2``. DG13 (tag ``6D``): see ``encode_dg13``.
"""

from __future__ import annotations

import io
import struct
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from line.card import CardData
from line.errors import CardlineError
from line.portrait import MAX_PIXELS
from printers.chip import tlv

if TYPE_CHECKING:
    from PIL import Image

AID = bytes.fromhex("A0000002471001")
"""The LDS1 eMRTD application."""

EF_COM = 0x011E
DG1 = 0x0101
DG2 = 0x0102
DG13 = 0x010D
DG14 = 0x010E
DG15 = 0x010F
SOD = 0x011D
"""File identifiers (ISO 7816-4 FIDs) of the elementary files this line writes (DG14 and
DG15, Chip and Active Authentication, are built by ``printers.chip.secinfo``)."""

TAG_EF_COM = 0x60
TAG_SOD = 0x77

DG_TAGS: Mapping[int, int] = {
    1: 0x61, 2: 0x75, 3: 0x63, 4: 0x76, 5: 0x65, 6: 0x66, 7: 0x67, 8: 0x68,
    9: 0x69, 10: 0x6A, 11: 0x6B, 12: 0x6C, 13: 0x6D, 14: 0x6E, 15: 0x6F, 16: 0x70,
}  # fmt: skip
"""Data group number -> tag of its file, for all sixteen LDS1 data groups (9303-10, 4.6)."""

DG_NUMBERS: Mapping[int, int] = {tag: number for number, tag in DG_TAGS.items()}
"""Tag of a data group's file -> its number."""

DG_FIDS: Mapping[int, int] = {number: 0x0100 + number for number in DG_TAGS}
"""Data group number -> file identifier (EF.DGn is ``01 0n``)."""

LDS_VERSION = "0107"
UNICODE_VERSION = "040000"

TD1_LINE = 30
MRZ_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")


class LdsError(CardlineError):
    """A data group that cannot be built or parsed. ``reason_code`` is ``lds.<file>.<what>``;
    ``data_group`` names the file (``EF.COM``, ``DG1``...) when there is one."""

    def __init__(self, message: str, *, reason_code: str, data_group: str | None = None) -> None:
        where = f"{data_group}: " if data_group else ""
        super().__init__(f"{where}{message}", reason_code=reason_code, data_group=data_group)
        self.reason_code = reason_code
        self.data_group = data_group


def _unwrap(data: bytes, tag: int, name: str) -> bytes:
    try:
        return tlv.decode_single(data, tag)
    except tlv.TlvError as exc:
        raise LdsError(str(exc), reason_code=f"lds.{name.lower()}.format", data_group=name) from exc


def _children(value: bytes, tags: Iterable[int], name: str) -> list[bytes]:
    try:
        return tlv.decode_children(value, tags)
    except tlv.TlvError as exc:
        raise LdsError(str(exc), reason_code=f"lds.{name.lower()}.format", data_group=name) from exc


# --- EF.COM ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EfCom:
    """What EF.COM says: LDS and Unicode versions, and the numbers of the data groups present."""

    lds_version: str
    unicode_version: str
    data_groups: tuple[int, ...]


def ef_com(data_groups: Iterable[int]) -> bytes:
    """EF.COM listing ``data_groups`` (numbers, e.g. ``(1, 2, 13)``)."""
    numbers = sorted(set(data_groups))
    unknown = [n for n in numbers if n not in DG_TAGS]
    if unknown:
        raise LdsError(f"no such data group {unknown}", reason_code="lds.ef_com.data_group")
    body = tlv.encode_all(
        [
            (0x5F01, LDS_VERSION.encode("ascii")),
            (0x5F36, UNICODE_VERSION.encode("ascii")),
            (0x5C, bytes(DG_TAGS[n] for n in numbers)),
        ]
    )
    return tlv.encode(TAG_EF_COM, body)


def parse_ef_com(data: bytes) -> EfCom:
    """The contents of EF.COM; raises ``LdsError`` for anything but a well-formed one."""
    name = "EF.COM"
    version, unicode_version, tag_list = _children(
        _unwrap(data, TAG_EF_COM, name), (0x5F01, 0x5F36, 0x5C), name
    )
    if len(version) != 4 or len(unicode_version) != 6:
        raise LdsError("bad version fields", reason_code="lds.ef_com.format", data_group=name)
    try:
        numbers = [DG_NUMBERS[tag] for tag in tag_list]
    except KeyError:
        raise LdsError(
            "tag list holds a tag of no data group",
            reason_code="lds.ef_com.format",
            data_group=name,
        ) from None
    if len(set(numbers)) != len(numbers):
        raise LdsError("tag list repeats a tag", reason_code="lds.ef_com.format", data_group=name)
    try:
        return EfCom(version.decode("ascii"), unicode_version.decode("ascii"), tuple(numbers))
    except UnicodeDecodeError:
        raise LdsError(
            "version fields are not ASCII", reason_code="lds.ef_com.format", data_group=name
        ) from None


# --- DG1: the MRZ ---------------------------------------------------------------------------


def _check_td1(lines: tuple[str, ...], name: str = "DG1") -> None:
    if len(lines) != 3 or any(len(line) != TD1_LINE for line in lines):
        raise LdsError("a TD1 MRZ is 3 lines of 30", reason_code="lds.dg1.mrz", data_group=name)
    if not all(set(line) <= MRZ_ALPHABET for line in lines):
        raise LdsError(
            "MRZ holds characters outside A-Z 0-9 <", reason_code="lds.dg1.mrz", data_group=name
        )


def dg1(mrz_lines: tuple[str, str, str]) -> bytes:
    """DG1 holding a TD1 MRZ (three lines of 30 characters of ``A-Z 0-9 <``)."""
    _check_td1(tuple(mrz_lines))
    return tlv.encode(DG_TAGS[1], tlv.encode(0x5F1F, "".join(mrz_lines).encode("ascii")))


def parse_dg1(data: bytes) -> tuple[str, str, str]:
    """The three MRZ lines DG1 holds."""
    (mrz,) = _children(_unwrap(data, DG_TAGS[1], "DG1"), (0x5F1F,), "DG1")
    try:
        text = mrz.decode("ascii")
    except UnicodeDecodeError:
        raise LdsError("MRZ is not ASCII", reason_code="lds.dg1.mrz", data_group="DG1") from None
    lines = (text[0:30], text[30:60], text[60:90])
    if len(text) != 3 * TD1_LINE:
        raise LdsError("MRZ is not 90 characters", reason_code="lds.dg1.mrz", data_group="DG1")
    _check_td1(lines)
    return lines


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
    (group,) = _children(_unwrap(data, DG_TAGS[2], "DG2"), (0x7F61,), "DG2")
    try:
        items = tlv.decode(group)
    except tlv.TlvError as exc:
        raise _dg2_error(str(exc)) from exc
    if len(items) < 2 or items[0].tag != 0x02 or any(i.tag != 0x7F60 for i in items[1:]):
        raise _dg2_error("biometric information group template is malformed")
    if int.from_bytes(items[0].value, "big") != len(items) - 1:
        raise _dg2_error("number of instances does not match the templates")
    header, record = _children(items[1].value, (0xA1, 0x5F2E), "DG2")
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
                    f"photo is {opened.width}x{opened.height} pixels, more than "
                    f"{MAX_PIXELS:,}",
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


# --- DG13: national data --------------------------------------------------------------------

DG13_VERSION = 1
DG13_FIELDS: Mapping[str, int] = {
    "id_number": 1,
    "full_name": 2,
    "date_of_birth": 3,
    "sex": 4,
    "nationality": 5,
    "place_of_origin": 6,
    "place_of_residence": 7,
    "issue_date": 8,
    "expiry_date": 9,
    "old_id_number": 10,
}
"""cardline's DG13 field numbers (its own layout, version 1; see ``encode_dg13``)."""
DG13_NAMES: Mapping[int, str] = {number: name for name, number in DG13_FIELDS.items()}
SEX_TEXT: Mapping[str, str] = {"M": "Nam", "F": "Nữ"}
"""Sex as the card prints it."""


def _card_date(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def national_data(
    *,
    id_number: str,
    full_name: str,
    date_of_birth: date,
    sex: Literal["M", "F"],
    nationality: str,
    place_of_origin: str,
    place_of_residence: str,
    issue_date: date,
    expiry_date: date | None = None,
    old_id_number: str | None = None,
) -> dict[str, str]:
    """The DG13 fields as text, the way the card face writes them: dates ``DD/MM/YYYY``,
    sex ``Nam``/``Nữ``, text in Unicode NFC. A card without an expiry date and a citizen
    without an old ID number have no such field."""
    fields = {
        "id_number": id_number,
        "full_name": full_name,
        "date_of_birth": _card_date(date_of_birth),
        "sex": SEX_TEXT[sex],
        "nationality": nationality,
        "place_of_origin": place_of_origin,
        "place_of_residence": place_of_residence,
        "issue_date": _card_date(issue_date),
        "expiry_date": _card_date(expiry_date) if expiry_date else "",
        "old_id_number": old_id_number or "",
    }
    return {name: unicodedata.normalize("NFC", text) for name, text in fields.items() if text}


def national_data_of(card: CardData) -> dict[str, str]:
    """``national_data`` of one card's record."""
    return national_data(
        id_number=card.id_number,
        full_name=card.full_name,
        date_of_birth=card.date_of_birth,
        sex=card.sex,
        nationality=card.nationality,
        place_of_origin=card.place_of_origin,
        place_of_residence=card.place_of_residence,
        issue_date=card.issue_date,
        expiry_date=card.expiry_date,
        old_id_number=card.old_id_number,
    )


def encode_dg13(fields: Mapping[str, str]) -> bytes:
    """DG13 holding ``fields`` (names of ``DG13_FIELDS``). Vietnam's own DG13 layout is not
    public, so cardline defines one, a single DER value::

        NationalData ::= [APPLICATION 13] IMPLICIT SEQUENCE {   -- tag 6D
            version  INTEGER (1),
            fields   SEQUENCE OF Field }    -- ascending number, each at most once
        Field ::= SEQUENCE { number INTEGER (1..127), value UTF8String }  -- NFC, not empty

        6D L { 02 01 01   30 L { 30 L { 02 01 nn  0C L <UTF-8> } ... } }

    Numbering (``DG13_FIELDS``): 1 ID number, 2 full name, 3 date of birth, 4 sex,
    5 nationality, 6 place of origin, 7 place of residence, 8 issue date, 9 expiry date,
    10 old ID number. The number-plus-string pairs follow what public readers report of the
    chips Vietnam issues; the numbers are cardline's own. Readers must skip numbers they do
    not know, so fields can be added without a new version.
    """
    unknown = sorted(set(fields) - set(DG13_FIELDS))
    if unknown:
        raise LdsError(
            f"unknown DG13 fields {unknown}", reason_code="lds.dg13.field", data_group="DG13"
        )
    entries = []
    for name, number in DG13_FIELDS.items():
        text = fields.get(name, "")
        if not text:
            continue
        value = unicodedata.normalize("NFC", text).encode("utf-8")
        entries.append(
            tlv.encode(0x30, tlv.encode(0x02, bytes([number])) + tlv.encode(0x0C, value))
        )
    body = tlv.encode(0x02, bytes([DG13_VERSION])) + tlv.encode(0x30, b"".join(entries))
    return tlv.encode(DG_TAGS[13], body)


def dg13(
    *,
    id_number: str,
    full_name: str,
    date_of_birth: date,
    sex: Literal["M", "F"],
    nationality: str,
    place_of_origin: str,
    place_of_residence: str,
    issue_date: date,
    expiry_date: date | None = None,
    old_id_number: str | None = None,
) -> bytes:
    """DG13 of one citizen: ``encode_dg13(national_data(...))``."""
    return encode_dg13(
        national_data(
            id_number=id_number,
            full_name=full_name,
            date_of_birth=date_of_birth,
            sex=sex,
            nationality=nationality,
            place_of_origin=place_of_origin,
            place_of_residence=place_of_residence,
            issue_date=issue_date,
            expiry_date=expiry_date,
            old_id_number=old_id_number,
        )
    )


def _dg13_error(message: str) -> LdsError:
    return LdsError(message, reason_code="lds.dg13.format", data_group="DG13")


def _small_integer(value: bytes) -> int:
    if len(value) != 1 or value[0] > 0x7F:
        raise _dg13_error("field number is not an INTEGER of 1..127")
    return value[0]


def parse_dg13(data: bytes) -> dict[str, str]:
    """The DG13 fields by name (see ``encode_dg13``); numbers this version does not know are
    skipped."""
    version, fields = _children(_unwrap(data, DG_TAGS[13], "DG13"), (0x02, 0x30), "DG13")
    if _small_integer(version) != DG13_VERSION:
        raise _dg13_error("unknown DG13 layout version")
    result: dict[str, str] = {}
    last = 0
    try:
        entries = tlv.decode(fields)
    except tlv.TlvError as exc:
        raise _dg13_error(str(exc)) from exc
    for entry in entries:
        if entry.tag != 0x30:
            raise _dg13_error("a field is not a SEQUENCE")
        number_bytes, value = _children(entry.value, (0x02, 0x0C), "DG13")
        number = _small_integer(number_bytes)
        if number <= last:
            raise _dg13_error("field numbers not in ascending order")
        last = number
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise _dg13_error("a field is not UTF-8") from None
        if not text:
            raise _dg13_error("an empty field")
        if number in DG13_NAMES:
            result[DG13_NAMES[number]] = text
    return result
