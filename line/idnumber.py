"""The 12-digit personal identification number (Decree 137/2015/ND-CP, Circular 07/2016/TT-BCA).

- digits 1-3: province code of birth registration (``line.provinces``);
- digit 4: century of birth and sex: 1900s male 0 / female 1, 2000s 2/3, 2100s 4/5,
  2200s 6/7, 2300s 8/9;
- digits 5-6: last two digits of the year of birth;
- digits 7-12: random.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from line.digits import digits_message
from line.provinces import PROVINCES

Sex = Literal["M", "F"]

_TWELVE_DIGITS = re.compile(r"[0-9]{12}")  # ASCII only: \d takes Arabic-Indic, full-width...
FIRST_CENTURY = 1900
LAST_YEAR = 2399


@dataclass(frozen=True, slots=True)
class IdProblem:
    """Why a number is refused: a reason code (``id_number.<code>``) and a message.

    Messages never repeat the full number: they may end up in a report or a log.
    """

    code: str
    message: str


def century_sex_digit(year: int, sex: Sex) -> int:
    """Digit 4 for a person born in ``year`` of ``sex``."""
    if not FIRST_CENTURY <= year <= LAST_YEAR:
        raise ValueError(f"year {year} is outside 1900-2399")
    return 2 * ((year - FIRST_CENTURY) // 100) + (1 if sex == "F" else 0)


def describe_century_sex_digit(digit: int) -> str:
    century = FIRST_CENTURY + 100 * (digit // 2)
    return f"born {century}-{century + 99}, {'female' if digit % 2 else 'male'}"


def check_id_number(id_number: str, *, date_of_birth: date, sex: Sex) -> list[IdProblem]:
    """Every way ``id_number`` disagrees with the rules and with the applicant; [] if valid."""
    if not _TWELVE_DIGITS.fullmatch(id_number):
        return [IdProblem("format", digits_message(id_number, "must be exactly 12 digits"))]
    problems: list[IdProblem] = []
    province = id_number[:3]
    if province not in PROVINCES:
        problems.append(IdProblem("province", f"digits 1-3 ({province}) are not a province code"))
    digit = int(id_number[3])
    year = date_of_birth.year
    if FIRST_CENTURY <= year <= LAST_YEAR:
        expected = century_sex_digit(year, sex)
        if digit != expected:
            problems.append(
                IdProblem(
                    "century_sex",
                    f"digit 4 is {digit} ({describe_century_sex_digit(digit)}) but the application "
                    f"says born {year}, {'female' if sex == 'F' else 'male'} (expected {expected})",
                )
            )
    else:
        problems.append(IdProblem("century_sex", f"birth year {year} is outside 1900-2399"))
    if id_number[4:6] != f"{year % 100:02d}":
        problems.append(
            IdProblem(
                "birth_year",
                f"digits 5-6 are {id_number[4:6]} but the year of birth is {year}",
            )
        )
    return problems


def make_id_number(province: str, date_of_birth: date, sex: Sex, rng: random.Random) -> str:
    """A valid number for a person: the six random digits come from ``rng``."""
    if province not in PROVINCES:
        raise ValueError(f"unknown province code {province!r}")
    digit = century_sex_digit(date_of_birth.year, sex)
    return f"{province}{digit}{date_of_birth.year % 100:02d}{rng.randrange(1_000_000):06d}"


def mask_id(id_number: str) -> str:
    """Keep the last four digits: ``********6789``. Safe for logs and reports."""
    if len(id_number) <= 4:
        return "*" * len(id_number)
    return "*" * (len(id_number) - 4) + id_number[-4:]
