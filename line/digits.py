"""Digits in an ID, an old ID, a destination code, a date or a number typed at the command
line are the ASCII digits ``0-9``, nothing else.

Python is generous with digits: ``str.isdigit()``, ``str.isdecimal()``, ``int()`` and ``\\d``
in a ``str`` pattern accept every Unicode decimal digit (Arabic-Indic ``٠-٩``, full-width
``０-９``, Devanagari, Thai...). ``"079070٩٩٣٩٠٨".isdigit()`` is true and ``int()`` of it is
79070993908, so such an ID got past the format check and, being a different string, past
the duplicate check beside the ASCII form of the same number. ``date.fromisoformat`` takes
``20261101`` and ``2026-W44-1`` as well as ``2026-11-01``. Use these instead.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
"""``YYYY-MM-DD`` in ASCII digits (``[0-9]``, never ``\\d``)."""


def is_digits(text: str, length: int | None = None) -> bool:
    """``text`` is one or more ASCII digits ``0-9`` (exactly ``length`` of them if given)."""
    if not text or not (text.isascii() and text.isdigit()):
        return False
    return length is None or len(text) == length


def foreign_digit(text: str) -> str | None:
    """The Unicode name of the first digit in ``text`` that is not ASCII 0-9, or None.

    For messages: ``"ARABIC-INDIC DIGIT NINE"`` says what is wrong without repeating the
    value (which may be a personal ID)."""
    for char in text:
        if char.isdigit() and not char.isascii():
            return unicodedata.name(char, f"U+{ord(char):04X}")
    return None


def digits_message(text: str, what: str) -> str:
    """``what`` (e.g. "must be exactly 12 digits"), and why ``text`` is not that."""
    foreign = foreign_digit(text)
    if foreign is not None:
        return f"{what} 0-9 (it holds {foreign}: only ASCII digits count)"
    return f"{what} (got {len(text)} characters)"


def iso_date(text: str) -> date | None:
    """The real date ``YYYY-MM-DD`` (ASCII digits) that ``text`` is, or None."""
    if not ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2026-02-30, month 13...
        return None


def parse_iso_date(text: str) -> date:
    """:func:`iso_date`, raising ``ValueError`` with the reason when ``text`` is not one."""
    parsed = iso_date(text.strip())
    if parsed is None:
        foreign = foreign_digit(text)
        extra = f"; it holds {foreign}, only ASCII digits 0-9 count" if foreign else ""
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD){extra}")
    return parsed
