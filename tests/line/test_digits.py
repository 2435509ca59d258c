"""Only ASCII 0-9 is a digit: every other script's decimal digits are refused."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from line.digits import foreign_digit, is_digits, iso_date, parse_iso_date
from tests.line.helpers import NON_ASCII_ZEROS, in_script, zeros


def test_the_trap_is_real_and_there_are_many_scripts() -> None:
    assert len(NON_ASCII_ZEROS) > 50
    arabic = "079070٩٩٣٩٠٨"  # the number
    assert arabic.isdigit() and int(arabic) == 79070993908  # what str and int accept
    assert not is_digits(arabic) and not is_digits(arabic, 12)
    assert foreign_digit(arabic) == "ARABIC-INDIC DIGIT NINE"


@given(zeros, st.integers(min_value=0, max_value=9))
def test_no_other_digit_is_a_digit(zero: int, value: int) -> None:
    char = chr(zero + value)
    assert char.isdigit() and unicodedata.digit(char) == value
    assert not is_digits(char)
    assert not is_digits(f"07{char}", 3)
    assert foreign_digit(f"07{char}") == unicodedata.name(char)


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_ascii_digits_are_digits(text: str) -> None:
    assert is_digits(text) and is_digits(text, len(text))
    assert not is_digits(text, len(text) + 1)
    assert foreign_digit(text) is None


@pytest.mark.parametrize("text", ["", " 1", "1 ", "+1", "-1", "1_000", "1.0", "²", "12³"])
def test_what_int_or_isdigit_take_is_not_digits(text: str) -> None:
    assert not is_digits(text)


def test_iso_dates_are_strict() -> None:
    assert iso_date("2026-11-01") == date(2026, 11, 1)
    for text in (
        "20261101",  # date.fromisoformat takes these three
        "2026-W44-1",
        "2026-306",
        "２０２６-11-01",
        "2026-11-0١",
        "2026-02-30",
        "2026-13-01",
        " 2026-11-01",
        "1/11/2026",
    ):
        assert iso_date(text) is None, text


@given(zeros, st.dates(min_value=date(1900, 1, 1), max_value=date(2399, 12, 31)))
def test_a_date_with_one_foreign_digit_is_no_date(zero: int, day: date) -> None:
    text = day.isoformat()
    assert iso_date(text) == day
    assert iso_date(in_script(text, zero, {len(text) - 1})) is None


def test_parse_iso_date_says_why() -> None:
    assert parse_iso_date(" 2026-11-01 ") == date(2026, 11, 1)
    with pytest.raises(
        ValueError,
        match=r"'2026-11-0١' is not a date \(YYYY-MM-DD\); it holds ARABIC-INDIC DIGIT ONE",
    ):
        parse_iso_date("2026-11-0١")
    with pytest.raises(ValueError, match=r"'someday' is not a date \(YYYY-MM-DD\)$"):
        parse_iso_date("someday")
