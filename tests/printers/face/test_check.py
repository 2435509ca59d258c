"""QC of the printed face against the database: real PDFs, read back and decoded.

Each wrong card is rendered from the right card with one field changed, then checked
against the right card: the checks that see that field fail, and only those.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import pytest

from line.card import CardData
from printers.face.check import check_face
from printers.face.render import render_cards
from tests.conftest import TODAY
from tests.factories import card_for, photo_file


@pytest.fixture
def card(tmp_path: Path) -> CardData:
    return card_for(
        11,
        photo_file(tmp_path),
        id_number="079301123456",
        full_name="Nguyễn Thị Ánh Tuyết",
        date_of_birth=date(2001, 5, 17),
        sex="F",
        old_id_number="123456789",
        expiry_date=date(2026, 5, 17),
    )


def printed(tmp_path: Path, *cards: CardData) -> Path:
    pdf = tmp_path / "batch.pdf"
    render_cards(cards, pdf)
    return pdf


def test_a_correctly_printed_card_passes(tmp_path: Path, card: CardData) -> None:
    other = card_for(12, card.photo_path)
    pdf = printed(tmp_path, other, card)
    assert check_face(card, pdf, 2, 3, decode_qr=True) == []
    assert check_face(other, pdf, 0, 1, decode_qr=True) == []


def test_every_card_of_a_seeded_batch_passes(tmp_path: Path) -> None:
    photos = [photo_file(tmp_path, "a.jpg", seed=1), photo_file(tmp_path, "b.png", seed=2)]
    cards = [card_for(seed, photos[seed % 2]) for seed in range(100, 160)]
    assert any(c.expiry_date is None for c in cards) and any(c.expiry_date for c in cards)
    pdf = printed(tmp_path, *cards)
    failures = {
        c.card_serial: reasons
        for i, c in enumerate(cards)
        if (reasons := check_face(c, pdf, 2 * i, 2 * i + 1, decode_qr=True))
    }
    assert failures == {}


def test_a_card_without_expiry_passes(tmp_path: Path, card: CardData) -> None:
    old = dataclasses.replace(card, date_of_birth=date(1950, 5, 17), expiry_date=None)
    assert check_face(old, printed(tmp_path, old), 0, 1, decode_qr=True) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"full_name": "Nguyễn Thị Ánh Tuyến"}, ["qc.face.name", "qc.face.mrz", "qc.face.qr"]),
        ({"full_name": "Nguyen Thi Anh Tuyet"}, ["qc.face.name", "qc.face.qr"]),  # lost accents
        ({"id_number": "079301123457"}, ["qc.face.id_number", "qc.face.mrz", "qc.face.qr"]),
        ({"date_of_birth": date(2001, 5, 18)}, ["qc.face.dates", "qc.face.mrz", "qc.face.qr"]),
        ({"expiry_date": date(2041, 5, 17)}, ["qc.face.dates", "qc.face.mrz"]),
        ({"expiry_date": None}, ["qc.face.dates", "qc.face.mrz"]),
        ({"issue_date": TODAY - timedelta(days=1)}, ["qc.face.dates", "qc.face.qr"]),
        ({"old_id_number": "987654321"}, ["qc.face.qr"]),  # the old ID is only in the QR
    ],
)
def test_a_card_printed_with_other_data_fails_with_the_right_reasons(
    tmp_path: Path, card: CardData, change: dict[str, object], expected: list[str]
) -> None:
    wrong = dataclasses.replace(card, **change)  # type: ignore[arg-type]
    pdf = printed(tmp_path, wrong)
    assert check_face(card, pdf, 0, 1, decode_qr=True) == expected


def test_the_qr_check_runs_only_when_asked(tmp_path: Path, card: CardData) -> None:
    wrong = dataclasses.replace(card, old_id_number=None)
    pdf = printed(tmp_path, wrong)
    assert check_face(card, pdf, 0, 1, decode_qr=False) == []
    assert check_face(card, pdf, 0, 1, decode_qr=True) == ["qc.face.qr"]


def test_pages_of_another_card_fail(tmp_path: Path, card: CardData) -> None:
    other = card_for(12, card.photo_path)
    pdf = printed(tmp_path, card, other)
    reasons = check_face(card, pdf, 2, 3, decode_qr=True)
    assert {"qc.face.name", "qc.face.id_number", "qc.face.mrz", "qc.face.qr"} <= set(reasons)


def test_a_missing_pdf_or_page_is_unreadable(tmp_path: Path, card: CardData) -> None:
    pdf = printed(tmp_path, card)
    assert check_face(card, tmp_path / "nope.pdf", 0, 1, decode_qr=False) == ["qc.face.unreadable"]
    assert check_face(card, pdf, 0, 2, decode_qr=False) == ["qc.face.unreadable"]
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.4 not really")
    assert check_face(card, garbage, 0, 1, decode_qr=False) == ["qc.face.unreadable"]
