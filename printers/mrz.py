"""The TD1 machine-readable zone of the card (ICAO Doc 9303 part 5): build it and check it.

Layout of the three 30-character lines (alphabet ``A-Z 0-9 <``)::

    line 1  ID VNM ddddddddd c  <optional data, 15>
    line 2  YYMMDD c S YYMMDD c VNM <optional data, 11> C
    line 3  SURNAME<<GIVEN<NAMES<<<<<<<<<<<

Vietnamese conventions (DESIGN.md):

- the document number is the last 9 digits of the 12-digit personal ID number;
- line 1's optional data is the full 12-digit ID followed by its own check digit, padded
  with ``<``;
- issuing state and nationality are ``VNM``.

**A card without expiry** (issued from age 58 on, ``CardData.expiry_date is None``): the
expiry field is six fillers ``<<<<<<`` and its check digit is the one the ICAO algorithm
gives for them, ``0`` (a filler counts 0). The composite check digit covers the fillers
like any other character. :func:`validate_td1` accepts this form and nothing else in
place of a date.

**Names** are transliterated to ``A-Z``: diacritics are stripped (Unicode NFD, combining
marks dropped), ``Đ``/``đ`` become ``D``, hyphens and spaces separate name components,
apostrophes are dropped. The primary identifier is the first word of the full name (the
family name, ho), the secondary identifier the rest:
``Nguyễn Thị Ánh Tuyết -> NGUYEN<<THI<ANH<TUYET``.

**Truncation** of a name longer than the 30 positions follows ICAO Doc 9303 part 3:
characters are deleted from the end of the secondary identifier, so the field is cut at
position 30 and, where the cut falls inside a name component, the field ends with a
letter (the sign to a reader that the name may be truncated). A family name too long to
leave room for ``<<`` and one letter of the given names is itself cut to 27 characters,
followed by ``<<`` and the initial of the first given name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from line.card import CardData
from line.digits import is_digits
from printers.errors import PrintersError

LINE_LENGTH = 30
FILLER = "<"
ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")
DOCUMENT_CODE = "ID"
VIETNAM = "VNM"
NO_EXPIRY = FILLER * 6
"""The expiry field of a card without a date of expiry."""

_WEIGHTS = (7, 3, 1)
_VALUES = {
    **{str(digit): digit for digit in range(10)},
    **{chr(ord("A") + index): 10 + index for index in range(26)},
    FILLER: 0,
}
# Letters NFD does not decompose (ICAO Doc 9303 part 3, transliteration of Latin letters).
_LATIN_EXTRA = {
    "Đ": "D", "đ": "D", "Ð": "D", "ð": "D",
    "Æ": "AE", "æ": "AE", "Œ": "OE", "œ": "OE", "Ø": "OE", "ø": "OE",
    "ß": "SS", "Þ": "TH", "þ": "TH", "Ł": "L", "ł": "L", "Ħ": "H", "ħ": "H", "ı": "I",
}  # fmt: skip
_SEPARATORS = re.compile(r"[\s\-‐‑–,.]+")
_APOSTROPHES = re.compile(r"['’ʼ`]")
_DOCUMENT_CODE = re.compile(r"[ACI][A-Z<]")
_STATE = re.compile(r"[A-Z][A-Z<]{2}")

_DIGITS = frozenset("0123456789")


class MrzError(PrintersError):
    """An MRZ cannot be made for this card; ``reason_code`` names why (``mrz.*``)."""

    def __init__(self, message: str, *, reason_code: str) -> None:
        super().__init__(message, reason_code=reason_code)
        self.reason_code = reason_code


@dataclass(frozen=True, slots=True)
class MrzProblem:
    """One failed rule of a TD1 MRZ: a reason code (``mrz.*``), where, and what is wrong.

    Messages name positions and fields, never the holder's data.
    """

    reason_code: str
    message: str
    line: int | None = None  # 1-based


def check_digit(value: str) -> str:
    """ICAO 9303 check digit of ``value``: weights 7, 3, 1; ``<`` = 0, ``A-Z`` = 10-35."""
    total = 0
    for index, char in enumerate(value):
        try:
            total += _VALUES[char] * _WEIGHTS[index % 3]
        except KeyError:
            raise MrzError(
                f"character {char!r} at position {index + 1} is not in the MRZ alphabet",
                reason_code="mrz.alphabet",
            ) from None
    return str(total % 10)


def transliterate(text: str) -> list[str]:
    """Name components of ``text`` in ``A-Z``: ``'Đặng Thu-Hà' -> ['DANG', 'THU', 'HA']``.

    Raises :class:`MrzError` (``mrz.transliteration``) for a letter with no Latin form.
    """
    text = _APOSTROPHES.sub("", text)
    text = "".join(_LATIN_EXTRA.get(char, char) for char in text)
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char)).upper()
    components = [part for part in _SEPARATORS.split(stripped) if part]
    for part in components:
        bad = [char for char in part if not ("A" <= char <= "Z")]
        if bad:
            raise MrzError(
                f"character U+{ord(bad[0]):04X} of a name has no transliteration to A-Z",
                reason_code="mrz.transliteration",
            )
    return components


def name_field(full_name: str, *, width: int = LINE_LENGTH) -> str:
    """The name line: ``SURNAME<<GIVEN<NAMES`` padded or truncated to ``width`` (see module doc)."""
    components = transliterate(full_name)
    if not components:
        raise MrzError("the full name is empty", reason_code="mrz.name")
    primary, secondary = components[0], components[1:]
    if not secondary:
        return primary[:width].ljust(width, FILLER)
    if len(primary) + 3 > width:  # no room for '<<' and one letter of the given names
        return f"{primary[: width - 3]}{FILLER * 2}{secondary[0][0]}"
    field = f"{primary}{FILLER * 2}{FILLER.join(secondary)}"
    return field[:width].ljust(width, FILLER)


def _yymmdd(day: date) -> str:
    return day.strftime("%y%m%d")


def mrz_lines(card: CardData) -> tuple[str, str, str]:
    """The three TD1 lines of ``card`` (Vietnamese convention, see the module docstring)."""
    id_number = card.id_number
    if not is_digits(id_number, 12):
        raise MrzError("the ID number is not 12 digits", reason_code="mrz.id_number")
    document_number = id_number[-9:]
    optional = f"{id_number}{check_digit(id_number)}".ljust(15, FILLER)
    line1 = f"{DOCUMENT_CODE}{VIETNAM}{document_number}{check_digit(document_number)}{optional}"

    birth = _yymmdd(card.date_of_birth)
    expiry = NO_EXPIRY if card.expiry_date is None else _yymmdd(card.expiry_date)
    head = f"{birth}{check_digit(birth)}{card.sex}{expiry}{check_digit(expiry)}{VIETNAM}"
    body = head + FILLER * 11
    line2 = body + check_digit(_composite_input(line1, body))
    return line1, line2, name_field(card.full_name)


def _composite_input(line1: str, line2: str) -> str:
    """Line 1 positions 6-30 and line 2 positions 1-7, 9-15, 19-29."""
    return line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]


def _valid_yymmdd(value: str) -> bool:
    if not is_digits(value):
        return False
    month, day = int(value[2:4]), int(value[4:6])
    try:  # a leap year for the day check: YY alone does not say which century
        date(2000, month, day)
    except ValueError:
        return False
    return True


def validate_td1(lines: Sequence[str]) -> list[MrzProblem]:
    """Every way ``lines`` break ICAO 9303 part 5 TD1 (and, for VNM, the national convention).

    Returns ``[]`` for a valid MRZ. Structure comes first: with a wrong line count, length
    or alphabet, the check digits are not computed. The expiry field may be ``<<<<<<``
    (card without expiry) with check digit ``0``.
    """
    if len(lines) != 3:
        return [MrzProblem("mrz.length", f"a TD1 MRZ has 3 lines, not {len(lines)}")]
    problems: list[MrzProblem] = []
    for number, line in enumerate(lines, start=1):
        if len(line) != LINE_LENGTH:
            problems.append(
                MrzProblem("mrz.length", f"{len(line)} characters, not 30", line=number)
            )
        outside = [i + 1 for i, char in enumerate(line) if char not in ALPHABET]
        if outside:
            problems.append(
                MrzProblem(
                    "mrz.alphabet",
                    f"position(s) {outside[:5]} outside A-Z 0-9 <",
                    line=number,
                )
            )
    if problems:
        return problems
    line1, line2, line3 = lines
    problems.extend(_check_digits(line1, line2))
    problems.extend(_check_fields(line1, line2, line3))
    return problems


def _check_digits(line1: str, line2: str) -> list[MrzProblem]:
    problems = []
    fields = (
        ("document_number", 1, line1[5:14], line1[14]),
        ("date_of_birth", 2, line2[0:6], line2[6]),
        ("date_of_expiry", 2, line2[8:14], line2[14]),
    )
    for name, line, value, digit in fields:
        if check_digit(value) != digit:
            problems.append(
                MrzProblem(f"mrz.check_digit.{name}", f"check digit of {name} is wrong", line=line)
            )
    if check_digit(_composite_input(line1, line2)) != line2[29]:
        problems.append(MrzProblem("mrz.composite", "composite check digit is wrong", line=2))
    return problems


def _check_fields(line1: str, line2: str, line3: str) -> list[MrzProblem]:
    problems = []
    if not _DOCUMENT_CODE.fullmatch(line1[0:2]):
        problems.append(MrzProblem("mrz.document_code", "document code is not A, C or I", 1))
    if not _STATE.fullmatch(line1[2:5]):
        problems.append(MrzProblem("mrz.issuing_state", "issuing state is not a code", 1))
    if not _STATE.fullmatch(line2[15:18]):
        problems.append(MrzProblem("mrz.nationality", "nationality is not a code", 2))
    if not _valid_yymmdd(line2[0:6]):
        problems.append(MrzProblem("mrz.date.date_of_birth", "date of birth is not YYMMDD", 2))
    if line2[8:14] != NO_EXPIRY and not _valid_yymmdd(line2[8:14]):
        problems.append(
            MrzProblem("mrz.date.date_of_expiry", "date of expiry is not YYMMDD or <<<<<<", 2)
        )
    if line2[7] not in "MFX<":
        problems.append(MrzProblem("mrz.sex", "sex must be M, F, X or <", 2))
    problems.extend(_check_name(line3))
    if line1[2:5] == VIETNAM:
        problems.extend(_check_vietnamese_id(line1))
    return problems


def _check_name(line3: str) -> list[MrzProblem]:
    name = line3.rstrip(FILLER)
    primary, separator, secondary = name.partition(FILLER * 2)
    if (
        not name
        or any(char in _DIGITS for char in line3)
        or name.startswith(FILLER)
        or (separator and (not secondary or secondary.startswith(FILLER)))
        or FILLER * 2 in secondary
    ):
        return [MrzProblem("mrz.name", "name is not SURNAME<<GIVEN<NAMES in A-Z", 3)]
    return []


def _check_vietnamese_id(line1: str) -> list[MrzProblem]:
    """Optional data holds the 12-digit ID (ending in the document number) and its check digit."""
    optional = line1[15:30]
    id_number, digit, rest = optional[:12], optional[12], optional[13:]
    if (
        not (is_digits(id_number, 12) and is_digits(digit, 1))
        or rest.strip(FILLER)
        or id_number[-9:] != line1[5:14]
    ):
        return [MrzProblem("mrz.id_number", "optional data is not the 12-digit ID number", 1)]
    if check_digit(id_number) != digit:
        return [MrzProblem("mrz.check_digit.id_number", "check digit of the ID number", 1)]
    return []


def access_data(card: CardData) -> tuple[str, str, str]:
    """What BAC is opened with, as the MRZ printed on the card gives it: the document number
    (its 9 characters), the date of birth and the date of expiry (``YYMMDD``; ``<<<<<<`` for
    a card without one). The chip derives its keys from the same three."""
    line1, line2, _ = mrz_lines(card)
    return line1[5:14], line2[0:6], line2[8:14]
