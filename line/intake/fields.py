"""An application row's fields, and one small checker per field.

A checker takes the field's stripped text, what the row's earlier checkers found
(:class:`Seen`: the ID is checked against the date of birth and sex) and the row's column
values, which it fills in; it returns None, or the :class:`FieldError` (or errors) that say
why the field is refused, with the reason code the reject report carries. The rules are
listed in the ``line.intake`` package docstring; ``line.intake.validator`` runs the chain.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from line.digits import digits_message, foreign_digit, is_digits, iso_date
from line.idnumber import Sex, check_id_number
from line.portrait import MAX_BYTES
from line.provinces import PROVINCES

FIELDS: tuple[str, ...] = (
    "id_number",
    "full_name",
    "date_of_birth",
    "sex",
    "nationality",
    "place_of_origin",
    "place_of_residence",
    "old_id_number",
    "photo",
    "destination",
    "priority_group",
    "due_date",
)
OPTIONAL_FIELDS: frozenset[str] = frozenset({"old_id_number", "priority_group", "due_date"})
REQUIRED_FIELDS: tuple[str, ...] = tuple(f for f in FIELDS if f not in OPTIONAL_FIELDS)

MAX_PHOTO_BYTES = MAX_BYTES
DUE_DATE_PAST = timedelta(days=366)
"""A due date further back than this is refused (``due_date.past``)."""
DUE_DATE_AHEAD = timedelta(days=731)
"""A due date further ahead than this (about two years) is refused (``due_date.future``)."""

NATIONALITY = "Việt Nam"
_NATIONALITY_SPELLINGS = {"vnm", "việt nam", "viet nam", "vietnam", "vn"}
_DESTINATION_RE = re.compile(r"([0-9]{3})-([0-9]{4})")  # [0-9], never \d: ASCII digits only
_PRIORITY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# A name holds letters, spaces, apostrophes (Ê Đê names: H'Hen Niê) and hyphens. Here \d is
# meant to be Unicode: a digit of any script has no place in a name.
_NAME_BAD_RE = re.compile(r"[^\w '\-]|[\d_]")


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    code: str
    message: str

    @property
    def reason_code(self) -> str:
        return f"{self.field}.{self.code}" if self.field != "(row)" else f"row.{self.code}"


def _text(value: str) -> str:
    if not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    return " ".join(value.split())


@functools.cache
def control_characters() -> re.Pattern[str]:
    """Control and invisible formatting characters (Unicode categories Cc and Cf), as ranges."""
    codes = [c for c in range(0x110000) if unicodedata.category(chr(c)) in ("Cc", "Cf")]
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    parts = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"[{parts}]")


def _has_control(value: str) -> bool:
    return control_characters().search(value) is not None


def _format_error(field: str, value: str, message: str) -> FieldError:
    """A ``<field>.format`` error; it says so when the value holds non-ASCII digits."""
    foreign = foreign_digit(value)
    if foreign is not None:
        message = f"{message}, in ASCII digits 0-9 (it holds {foreign})"
    return FieldError(field, "format", message)


@dataclass(slots=True)
class Seen:
    """What the row's earlier checkers found, for the later ones that cross-check."""

    date_of_birth: date | None = None
    sex: Sex | None = None


Problem = FieldError | list[FieldError] | None
"""A checker's answer: None (it has set its columns in ``out``), or why the field is
refused. Checkers write into ``out`` rather than return columns: intake validates tens of
thousands of rows a second, and a dict per field was a third of the time."""
Check = Callable[[str, Seen, dict[str, Any]], Problem]

WHEN_EMPTY: dict[str, str] = {
    "old_id_number": "old_id_number",
    "priority_group": "priority_group",
    "due_date": "due_date",
}
"""The column (set to None) of an optional field left empty."""


def check_date_of_birth(value: str, seen: Seen, out: dict[str, Any], *, today: date) -> Problem:
    """A real date, not after today, not before 1900 (where the ID's century codes start)."""
    dob = iso_date(value)
    if dob is None:
        return _format_error("date_of_birth", value, "must be a real date as YYYY-MM-DD")
    if dob > today:
        return FieldError("date_of_birth", "future", f"is after today ({today})")
    if dob.year < 1900:
        return FieldError("date_of_birth", "range", "is before 1900")
    seen.date_of_birth = out["date_of_birth"] = dob
    return None


def check_sex(value: str, seen: Seen, out: dict[str, Any]) -> Problem:
    """M or F, in either case: the ID number's fourth digit encodes one of the two."""
    upper = value.upper()
    if upper == "M":
        seen.sex = out["sex"] = "M"
    elif upper == "F":
        seen.sex = out["sex"] = "F"
    else:
        return FieldError("sex", "invalid", "must be M or F")
    return None


def check_id(value: str, seen: Seen, out: dict[str, Any]) -> Problem:
    """The 12-digit ID, held against the date of birth and sex when both passed (else only
    its format and province, so that the row names the ID's own faults too)."""
    if seen.date_of_birth is not None and seen.sex is not None:
        problems = check_id_number(value, date_of_birth=seen.date_of_birth, sex=seen.sex)
    else:  # cannot cross-check: check what the number says on its own
        problems = [
            p
            for p in check_id_number(value, date_of_birth=date(2000, 1, 1), sex="M")
            if p.code in ("format", "province")
        ]
    if problems:
        return [FieldError("id_number", p.code, p.message) for p in problems]
    out["id_number"] = value
    return None


def check_full_name(value: str, seen: Seen, out: dict[str, Any]) -> Problem:
    """Letters, spaces, apostrophes (H'Hen Niê) and hyphens, in NFC, up to 120 characters
    (what the card face and the MRZ can carry)."""
    name = _text(value)
    if len(name) > 120:
        return FieldError("full_name", "too_long", "is longer than 120 characters")
    if _NAME_BAD_RE.search(name):
        return FieldError(
            "full_name",
            "invalid_characters",
            "may hold only letters, spaces, apostrophes and hyphens",
        )
    out["full_name"] = name
    return None


def check_nationality(value: str, seen: Seen, out: dict[str, Any]) -> Problem:
    """Only Vietnamese nationals get a citizen ID card; every usual spelling is one value."""
    if _text(value).casefold() in _NATIONALITY_SPELLINGS:
        out["nationality"] = NATIONALITY
        return None
    return FieldError(
        "nationality",
        "not_vietnamese",
        "citizen ID cards are issued to Vietnamese nationals only (expected Việt Nam or VNM)",
    )


def check_place(field: str) -> Check:
    """The checker of a place (origin, residence): up to 250 characters, no control
    characters (they would print as nothing, or break the card's layout)."""

    def check(value: str, seen: Seen, out: dict[str, Any]) -> Problem:
        text = _text(value)
        if len(text) > 250:
            return FieldError(field, "too_long", "is longer than 250 characters")
        if _has_control(text):
            return FieldError(field, "invalid_characters", "holds control characters")
        out[field] = text
        return None

    return check


def check_old_id_number(value: str, seen: Seen, out: dict[str, Any]) -> Problem:
    """The old 9-digit ID the QR code carries, in ASCII digits."""
    if is_digits(value, 9):
        out["old_id_number"] = value
        return None
    return FieldError("old_id_number", "format", digits_message(value, "must be exactly 9 digits"))


def check_destination(value: str, seen: Seen, out: dict[str, Any]) -> Problem:
    """The police station the card goes back to: a known province code and a station code."""
    match = _DESTINATION_RE.fullmatch(value)
    if match is None:
        return _format_error(
            "destination",
            value,
            "must be a province code, a dash and a 4-digit station code (079-0112)",
        )
    if match.group(1) not in PROVINCES:
        return FieldError("destination", "province", f"{match.group(1)} is not a province code")
    out["destination"] = value
    return None


def check_priority_group(value: str, seen: Seen, out: dict[str, Any]) -> Problem:
    """A short slug: allocation policies name groups by it (``priority_groups``)."""
    group = value.lower()
    if _PRIORITY_RE.fullmatch(group):
        out["priority_group"] = group
        return None
    return FieldError(
        "priority_group",
        "format",
        "must be 1-32 of a-z, 0-9, '_' or '-', starting with a letter or digit",
    )


def check_due_date(value: str, seen: Seen, out: dict[str, Any], *, today: date) -> Problem:
    """A deadline within the window around today (older or further ahead: a typo); a due
    date already passed is taken, the card is late."""
    due = iso_date(value)
    if due is None:
        return _format_error("due_date", value, "must be a real date as YYYY-MM-DD")
    if due < today - DUE_DATE_PAST:
        return FieldError(
            "due_date",
            "past",
            f"{due} is more than {DUE_DATE_PAST.days} days before today ({today}): "
            "a typo, not a deadline",
        )
    if due > today + DUE_DATE_AHEAD:
        return FieldError(
            "due_date",
            "future",
            f"{due} is more than {DUE_DATE_AHEAD.days} days (about two years) after "
            f"today ({today})",
        )
    out["due_date"] = due
    return None
