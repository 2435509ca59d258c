"""The 12-digit personal ID number agrees with province, century/sex and birth year."""

from __future__ import annotations

import random
from datetime import date

from hypothesis import assume, given
from hypothesis import strategies as st

from line.idnumber import (
    century_sex_digit,
    check_id_number,
    make_id_number,
    mask_id,
)
from line.provinces import PROVINCES
from tests.line.helpers import in_script, zeros

births = st.dates(min_value=date(1900, 1, 1), max_value=date(2399, 12, 31))
sexes = st.sampled_from(["M", "F"])
provinces = st.sampled_from(sorted(PROVINCES))


def codes(problems: list) -> list[str]:
    return [p.code for p in problems]


def test_century_sex_digit_follows_the_decree_table() -> None:
    # Decree 137/2015 art. 7: 20th century 0/1, 21st 2/3, 22nd 4/5, 23rd 6/7, 24th 8/9.
    assert [century_sex_digit(y, "M") for y in (1900, 1999, 2000, 2099, 2100, 2200, 2300)] == [
        0, 0, 2, 2, 4, 6, 8,
    ]  # fmt: skip
    assert [century_sex_digit(y, "F") for y in (1985, 2001, 2150, 2250, 2399)] == [1, 3, 5, 7, 9]


def test_a_known_number_passes() -> None:
    # Ho Chi Minh City, female born 2001: 079 3 01 ......
    assert check_id_number("079301123456", date_of_birth=date(2001, 5, 17), sex="F") == []


@given(provinces, births, sexes, st.integers(0, 2**32))
def test_generated_valid_numbers_pass(province: str, born: date, sex: str, seed: int) -> None:
    number = make_id_number(province, born, sex, random.Random(seed))  # type: ignore[arg-type]
    assert len(number) == 12 and number.isdigit()
    assert check_id_number(number, date_of_birth=born, sex=sex) == []  # type: ignore[arg-type]


@given(provinces, births, sexes, st.integers(0, 2**32))
def test_wrong_sex_fails_on_century_sex(province: str, born: date, sex: str, seed: int) -> None:
    number = make_id_number(province, born, sex, random.Random(seed))  # type: ignore[arg-type]
    other = "F" if sex == "M" else "M"
    assert codes(check_id_number(number, date_of_birth=born, sex=other)) == ["century_sex"]  # type: ignore[arg-type]


@given(provinces, births, sexes, st.integers(0, 2**32), st.integers(1, 4))
def test_wrong_century_fails_on_century_sex(
    province: str, born: date, sex: str, seed: int, centuries: int
) -> None:
    number = make_id_number(province, born, sex, random.Random(seed))  # type: ignore[arg-type]
    shifted_year = born.year + 100 * centuries
    assume(shifted_year <= 2399)
    shifted = born.replace(year=shifted_year, day=min(born.day, 28))
    assert codes(check_id_number(number, date_of_birth=shifted, sex=sex)) == ["century_sex"]  # type: ignore[arg-type]


@given(provinces, births, sexes, st.integers(0, 2**32), st.integers(1, 99))
def test_wrong_birth_year_fails_on_birth_year(
    province: str, born: date, sex: str, seed: int, delta: int
) -> None:
    number = make_id_number(province, born, sex, random.Random(seed))  # type: ignore[arg-type]
    # Same century, other year: only digits 5-6 disagree.
    century = born.year - born.year % 100
    other_year = century + (born.year % 100 + delta) % 100
    assume(other_year != born.year)
    other = born.replace(year=other_year, day=min(born.day, 28))
    assert codes(check_id_number(number, date_of_birth=other, sex=sex)) == ["birth_year"]  # type: ignore[arg-type]


@given(st.text(alphabet="0123456789", min_size=3, max_size=3).filter(lambda c: c not in PROVINCES))
def test_unknown_province_code_fails(code: str) -> None:
    number = f"{code}085123456"
    assert codes(check_id_number(number, date_of_birth=date(1985, 1, 1), sex="M")) == ["province"]


@given(st.text(max_size=20).filter(lambda s: not (len(s) == 12 and s.isascii() and s.isdigit())))
def test_anything_but_twelve_digits_fails_on_format(text: str) -> None:
    assert codes(check_id_number(text, date_of_birth=date(1985, 1, 1), sex="M")) == ["format"]


def test_messages_never_repeat_the_number() -> None:
    number = "001085123456"
    for problem in check_id_number(number, date_of_birth=date(2003, 1, 1), sex="F"):
        assert number not in problem.message


def test_mask_keeps_the_last_four_digits() -> None:
    assert mask_id("079301123456") == "********3456"
    assert mask_id("123") == "***"


def test_the_issue_s_arabic_indic_number_is_refused_on_format() -> None:
    # 079070٩٩٣٩٠٨: str.isdigit() and \d took it; it passed beside 079070993908.
    (problem,) = check_id_number("079070٩٩٣٩٠٨", date_of_birth=date(1970, 3, 1), sex="M")
    assert problem.code == "format"
    assert "ARABIC-INDIC DIGIT NINE" in problem.message and "0-9" in problem.message
    assert check_id_number("079070993908", date_of_birth=date(1970, 3, 1), sex="M") == []


@given(
    provinces,
    births,
    sexes,
    st.integers(0, 2**32),
    zeros,
    st.sets(st.integers(0, 11), min_size=1),
)
def test_a_valid_number_with_any_digit_of_another_script_fails_on_format(
    province: str, born: date, sex: str, seed: int, zero: int, positions: set[int]
) -> None:
    number = make_id_number(province, born, sex, random.Random(seed))  # type: ignore[arg-type]
    foreign = in_script(number, zero, positions)
    problems = check_id_number(foreign, date_of_birth=born, sex=sex)  # type: ignore[arg-type]
    assert codes(problems) == ["format"]
    assert foreign not in problems[0].message and number not in problems[0].message
