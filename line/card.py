"""What a card carries: the record the devices personalise, and the card's validity rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from line.types import ApplicationId, CardSerial, IdNumber, StationCode

ISSUER = "CỤC TRƯỞNG CỤC CẢNH SÁT QUẢN LÝ HÀNH CHÍNH VỀ TRẬT TỰ XÃ HỘI"
"""The issuing authority printed on the back of the 2021 chip card."""

RENEWAL_AGES = (25, 40, 60)
"""Law on Citizen Identification 2014, art. 21: the card is renewed at 25, 40 and 60."""


def _birthday(date_of_birth: date, age: int) -> date:
    try:
        return date_of_birth.replace(year=date_of_birth.year + age)
    except ValueError:  # born on 29 February
        return date(date_of_birth.year + age, 3, 1)


def expiry_date(date_of_birth: date, issue_date: date) -> date | None:
    """The card's date of expiry, or ``None`` for a card without one (issued from age 58 on).

    A card is valid until the holder's next renewal age (25, 40, 60); one issued within
    the two years before a renewal age stays valid until the renewal age after it.
    """
    for age, following in zip(RENEWAL_AGES, (*RENEWAL_AGES[1:], None), strict=True):
        birthday = _birthday(date_of_birth, age)
        if issue_date < _birthday(date_of_birth, age - 2):
            return birthday
        if issue_date < birthday:
            return _birthday(date_of_birth, following) if following is not None else None
    return None


@dataclass(frozen=True, slots=True)
class CardData:
    """Everything the devices need to make one card. Holds personal data: never log it."""

    application_id: ApplicationId
    card_serial: CardSerial
    id_number: IdNumber
    full_name: str
    date_of_birth: date
    sex: Literal["M", "F"]
    nationality: str
    place_of_origin: str
    place_of_residence: str
    old_id_number: str | None
    photo_path: Path
    issue_date: date
    expiry_date: date | None
    destination: StationCode
    issuer: str = ISSUER
    photo_sha256: str | None = None  # recorded at intake: print and encode check the photo

    def __repr__(self) -> str:  # keep personal data out of tracebacks and logs
        return f"CardData(application_id={self.application_id}, card_serial={self.card_serial!r})"
