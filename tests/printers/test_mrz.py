"""TD1 MRZ: ICAO check digits, the Vietnamese layout, names in A-Z, cards without expiry.

Generated MRZs are held against an independent implementation, the PyPI ``mrz``
package's TD1 checker, over seeded synthetic applicants and Hypothesis-made names.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mrz.checker.td1 import TD1CodeChecker

from printers.mrz import (
    ALPHABET,
    MrzError,
    check_digit,
    mrz_lines,
    name_field,
    transliterate,
    validate_td1,
)
from tests.factories import card_for

SPECIMEN = (
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
)
# Positions (0-based) each check digit covers, per line: ICAO 9303 part 5.
CHECKED = {
    0: range(5, 30),  # document number, its digit, optional data (composite)
    1: [*range(0, 7), *range(8, 15), *range(18, 30)],  # birth, expiry, optional data 2, composite
}


def reasons(lines: tuple[str, ...] | list[str]) -> list[str]:
    return [problem.reason_code for problem in validate_td1(lines)]


def altered(lines: tuple[str, ...], line: int, position: int, char: str) -> list[str]:
    changed = list(lines)
    text = changed[line]
    changed[line] = text[:position] + char + text[position + 1 :]
    return changed


# -- the ICAO specimen --------------------------------------------------------------------


def test_specimen_check_digits() -> None:
    assert check_digit("D23145890") == "7"
    assert check_digit("740812") == "2"
    assert check_digit("120415") == "9"
    composite = SPECIMEN[0][5:30] + SPECIMEN[1][0:7] + SPECIMEN[1][8:15] + SPECIMEN[1][18:29]
    assert check_digit(composite) == "6"


def test_specimen_validates() -> None:
    assert validate_td1(SPECIMEN) == []


VALUE = {c: (int(c) if c.isdigit() else 0 if c == "<" else ord(c) - 55) for c in ALPHABET}


def test_any_change_in_a_checked_position_breaks_a_check_digit() -> None:
    # A change shifts the weighted sum by weight x delta; weights 7, 3, 1 are prime to 10,
    # so every change is seen except between characters whose values agree mod 10
    # ('<' = '0' = 0, 'A' = 10, 'K' = 20, 'U' = 30, 'D' = 13 and '3'): the scheme's blind spot.
    for line, positions in CHECKED.items():
        for position in positions:
            original = SPECIMEN[line][position]
            for char in sorted(ALPHABET):
                if VALUE[char] % 10 == VALUE[original] % 10:
                    continue
                changed = altered(SPECIMEN, line, position, char)
                assert validate_td1(changed), f"line {line + 1} pos {position + 1} -> {char}"


def test_a_digit_anywhere_else_breaks_a_rule() -> None:
    # Document code, issuing state, sex, nationality and the name take no digits.
    unchecked = [(0, p) for p in range(5)] + [(1, p) for p in range(15, 18)] + [(1, 7)]
    unchecked += [(2, p) for p in range(30)]
    for line, position in unchecked:
        for digit in "0123456789":
            changed = altered(SPECIMEN, line, position, digit)
            assert validate_td1(changed), f"line {line + 1} pos {position + 1} -> {digit}"


def test_structure_problems_are_reported_with_their_codes() -> None:
    assert reasons(SPECIMEN[:2]) == ["mrz.length"]
    assert reasons((SPECIMEN[0] + "<", *SPECIMEN[1:])) == ["mrz.length"]
    assert reasons((SPECIMEN[0].lower(), *SPECIMEN[1:])) == ["mrz.alphabet"]
    assert reasons(altered(SPECIMEN, 0, 14, "8")) == [
        "mrz.check_digit.document_number",
        "mrz.composite",
    ]
    assert reasons(altered(SPECIMEN, 1, 6, "3")) == [
        "mrz.check_digit.date_of_birth",
        "mrz.composite",
    ]
    assert reasons(altered(SPECIMEN, 1, 14, "3")) == [
        "mrz.check_digit.date_of_expiry",
        "mrz.composite",
    ]
    assert reasons(altered(SPECIMEN, 1, 29, "7")) == ["mrz.composite"]
    assert reasons(altered(SPECIMEN, 1, 7, "Q")) == ["mrz.sex"]
    assert reasons(altered(SPECIMEN, 2, 0, "<")) == ["mrz.name"]  # name starts with a filler
    assert reasons(altered(SPECIMEN, 2, 10, "<")) == [
        "mrz.name"
    ]  # ERIKSSON<<<NNA: empty given name


def test_check_digit_refuses_characters_outside_the_alphabet() -> None:
    with pytest.raises(MrzError) as caught:
        check_digit("AB-1")
    assert caught.value.reason_code == "mrz.alphabet"


# -- the Vietnamese card ------------------------------------------------------------------


def test_layout_of_a_vietnamese_card() -> None:
    card = card_for(
        1,
        id_number="079301123456",
        full_name="Nguyễn Thị Ánh Tuyết",
        date_of_birth=date(2001, 5, 17),
        sex="F",
        expiry_date=date(2026, 5, 17),
    )
    line1, line2, line3 = mrz_lines(card)
    id_digit = check_digit("079301123456")
    assert line1 == f"IDVNM301123456{check_digit('301123456')}079301123456{id_digit}<<"
    assert line2[:18] == f"010517{check_digit('010517')}F260517{check_digit('260517')}VNM"
    assert line2[18:29] == "<" * 11
    assert line3 == "NGUYEN<<THI<ANH<TUYET<<<<<<<<<"
    assert validate_td1((line1, line2, line3)) == []


def test_the_id_number_in_the_optional_data_is_checked() -> None:
    lines = mrz_lines(card_for(2))
    wrong_digit = str((int(lines[0][27]) + 1) % 10)
    assert "mrz.check_digit.id_number" in reasons(altered(lines, 0, 27, wrong_digit))
    # An ID that does not end with the document number.
    assert "mrz.id_number" in reasons(altered(lines, 0, 20, "9" if lines[0][20] != "9" else "8"))


def test_card_without_expiry_has_fillers_and_a_zero_check_digit() -> None:
    card = card_for(3, date_of_birth=date(1950, 3, 1), expiry_date=None)
    lines = mrz_lines(card)
    assert lines[1][8:15] == "<<<<<<0"
    assert validate_td1(lines) == []
    assert "mrz.check_digit.date_of_expiry" in reasons(altered(lines, 1, 14, "<"))
    assert "mrz.date.date_of_expiry" in reasons(altered(lines, 1, 8, "0"))
    checker = TD1CodeChecker("\n".join(lines))
    # The mrz package knows no MRZ without expiry: its date rule fails, every hash agrees.
    assert checker.document_number_hash and checker.birth_date_hash
    assert checker.expiry_date_hash and checker.final_hash


@pytest.mark.parametrize("seed", range(300))
def test_generated_cards_pass_the_mrz_package(seed: int) -> None:
    card = card_for(seed)
    lines = mrz_lines(card)
    assert validate_td1(lines) == []
    if card.expiry_date is not None:
        checker = TD1CodeChecker("\n".join(lines))
        assert checker, checker.report
        fields = checker.fields()
        assert fields.document_number == card.id_number[-9:]
        assert fields.birth_date == card.date_of_birth.strftime("%y%m%d")
        assert fields.nationality == "VNM"
        assert fields.country == "VNM"
        wrong = str((int(lines[1][29]) + 1) % 10)  # the checker is not a rubber stamp
        assert not TD1CodeChecker("\n".join(altered(lines, 1, 29, wrong)))


VIETNAMESE_LETTERS = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"
)
words = st.text(alphabet=VIETNAMESE_LETTERS, min_size=1, max_size=12).map(str.capitalize)
names = st.lists(words, min_size=2, max_size=6).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(name=names, seed=st.integers(0, 10_000))
def test_any_vietnamese_name_gives_an_mrz_the_mrz_package_accepts(name: str, seed: int) -> None:
    card = card_for(seed, full_name=name, expiry_date=date(2040, 1, 1))
    lines = mrz_lines(card)
    assert validate_td1(lines) == []
    checker = TD1CodeChecker("\n".join(lines))
    assert checker, checker.report
    surname, given_names = checker.fields().surname, checker.fields().name
    components = transliterate(name)
    full = components[0] + "<<" + "<".join(components[1:])
    if len(full) <= 30:  # not truncated: the name reads back whole
        assert surname == components[0]
        assert given_names == " ".join(components[1:])


# -- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("Nguyễn Thị Ánh Tuyết", "NGUYEN<<THI<ANH<TUYET"),
        ("Đặng Văn Đức", "DANG<<VAN<DUC"),
        ("đỗ thị thuỷ", "DO<<THI<THUY"),
        ("Trương Ưng Ơn", "TRUONG<<UNG<ON"),
        ("Huỳnh Ngọc Diệp", "HUYNH<<NGOC<DIEP"),
        ("Lê  Thu-Hà", "LE<<THU<HA"),  # double space, hyphen
        ("Phạm O'Neil", "PHAM<<ONEIL"),  # apostrophe dropped
        ("Mai", "MAI"),  # one word: primary identifier only
    ],
)
def test_transliteration(name: str, field: str) -> None:
    assert name_field(name) == field.ljust(30, "<")


def test_a_letter_with_no_latin_form_is_refused() -> None:
    with pytest.raises(MrzError) as caught:
        name_field("Lý 李")
    assert caught.value.reason_code == "mrz.transliteration"


@pytest.mark.parametrize(
    ("name", "field"),
    [
        # cut at position 30 inside a component: the field ends with a letter
        ("Tôn Nữ Hoàng Phương Thảo Nguyên Khánh", "TON<<NU<HOANG<PHUONG<THAO<NGUY"),
        # exactly 30 characters: no filler, nothing cut
        ("Nguyễn Hoàng Phương Thảo Linh", "NGUYEN<<HOANG<PHUONG<THAO<LINH"),
        # a family name too long for '<<' and a letter of the given names
        ("Abcdefghijklmnopqrstuvwxyzabcd Văn", "ABCDEFGHIJKLMNOPQRSTUVWXYZA<<V"),
    ],
)
def test_long_names_are_truncated(name: str, field: str) -> None:
    assert name_field(name) == field
    assert len(field) == 30


@settings(max_examples=300, deadline=None)
@given(name=names)
def test_name_field_is_the_name_padded_or_cut_at_30(name: str) -> None:
    field = name_field(name)
    components = transliterate(name)  # family names here have at most 12 letters
    full = components[0] + "<<" + "<".join(components[1:])
    assert set(field) <= ALPHABET
    assert field == (full.ljust(30, "<") if len(full) <= 30 else full[:30])
    assert field.startswith(components[0] + "<<")
