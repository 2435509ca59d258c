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

The files' shared vocabulary (FIDs, tags, ``LdsError``) lives in :mod:`printers.chip.ldscore`,
DG2 in :mod:`printers.chip.ldsface`; both are re-exported here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from line.card import CardData
from printers.chip import tlv
from printers.chip.ldscore import AID as AID
from printers.chip.ldscore import DG1 as DG1
from printers.chip.ldscore import DG2 as DG2
from printers.chip.ldscore import DG13 as DG13
from printers.chip.ldscore import DG14 as DG14
from printers.chip.ldscore import DG15 as DG15
from printers.chip.ldscore import DG_FIDS as DG_FIDS
from printers.chip.ldscore import DG_NUMBERS as DG_NUMBERS
from printers.chip.ldscore import DG_TAGS as DG_TAGS
from printers.chip.ldscore import EF_COM as EF_COM
from printers.chip.ldscore import LDS_VERSION as LDS_VERSION
from printers.chip.ldscore import MRZ_ALPHABET as MRZ_ALPHABET
from printers.chip.ldscore import SOD as SOD
from printers.chip.ldscore import TAG_EF_COM as TAG_EF_COM
from printers.chip.ldscore import TAG_SOD as TAG_SOD
from printers.chip.ldscore import TD1_LINE as TD1_LINE
from printers.chip.ldscore import UNICODE_VERSION as UNICODE_VERSION
from printers.chip.ldscore import LdsError as LdsError
from printers.chip.ldscore import children, unwrap
from printers.chip.ldsface import BIOMETRIC_TYPE_FACE as BIOMETRIC_TYPE_FACE
from printers.chip.ldsface import FORMAT_OWNER_ISO_SC37 as FORMAT_OWNER_ISO_SC37
from printers.chip.ldsface import FORMAT_TYPE_FACE as FORMAT_TYPE_FACE
from printers.chip.ldsface import GENDER_CODES as GENDER_CODES
from printers.chip.ldsface import IMAGE_DATA_JPEG as IMAGE_DATA_JPEG
from printers.chip.ldsface import IMAGE_DATA_JPEG2000 as IMAGE_DATA_JPEG2000
from printers.chip.ldsface import PORTRAIT_MAX_BYTES as PORTRAIT_MAX_BYTES
from printers.chip.ldsface import PORTRAIT_SIZE as PORTRAIT_SIZE
from printers.chip.ldsface import FacialImage as FacialImage
from printers.chip.ldsface import dg2 as dg2
from printers.chip.ldsface import facial_record as facial_record
from printers.chip.ldsface import parse_dg2 as parse_dg2
from printers.chip.ldsface import parse_dg2_record as parse_dg2_record
from printers.chip.ldsface import parse_facial_record as parse_facial_record
from printers.chip.ldsface import photo_to_jpeg as photo_to_jpeg

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
    version, unicode_version, tag_list = children(
        unwrap(data, TAG_EF_COM, name), (0x5F01, 0x5F36, 0x5C), name
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
    (mrz,) = children(unwrap(data, DG_TAGS[1], "DG1"), (0x5F1F,), "DG1")
    try:
        text = mrz.decode("ascii")
    except UnicodeDecodeError:
        raise LdsError("MRZ is not ASCII", reason_code="lds.dg1.mrz", data_group="DG1") from None
    lines = (text[0:30], text[30:60], text[60:90])
    if len(text) != 3 * TD1_LINE:
        raise LdsError("MRZ is not 90 characters", reason_code="lds.dg1.mrz", data_group="DG1")
    _check_td1(lines)
    return lines


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
    version, fields = children(unwrap(data, DG_TAGS[13], "DG13"), (0x02, 0x30), "DG13")
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
        number_bytes, value = children(entry.value, (0x02, 0x0C), "DG13")
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
