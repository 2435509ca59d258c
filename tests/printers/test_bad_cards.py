"""One card whose data cannot be printed or encoded fails alone: the printer refuses it with a
reason code and prints the rest of its batch (in process and through the render process
pool, which stays usable); the encoder refuses its chip data before touching the chip."""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import random
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from line.card import CardData
from line.errors import DeviceError
from line.synthetic import portrait
from printers.chip.encoder import LdsEncoder, Unpreparable, prepare_batch
from printers.face.printing import SpoolPrinter
from printers.keys import KeyPaths, init_test_keys, load_signer
from tests.badcards import gif_portrait, pixel_bomb
from tests.factories import card_for


def _card(seed: int, folder: Path, content: bytes | None = None, **changes: object) -> CardData:
    """A card with its own photo file, whose SHA-256 is the one recorded."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = folder / f"photo-{seed}.img"
    content = portrait(random.Random(seed)) if content is None else content
    photo.write_bytes(content)
    return card_for(seed, photo, photo_sha256=hashlib.sha256(content).hexdigest(), **changes)


def bad_batch(folder: Path) -> tuple[list[CardData], dict[str, str]]:
    """Good cards with every kind of unprintable one between them: card -> expected code."""
    good = [_card(seed, folder) for seed in (1, 2, 3)]
    gone = _card(10, folder)
    gone.photo_path.unlink()
    changed = _card(11, folder)
    changed.photo_path.write_bytes(portrait(random.Random(99)))
    corrupt = _card(12, folder, portrait(random.Random(12))[:300])
    bomb = _card(13, folder, pixel_bomb())
    separator = _card(14, folder, full_name="Nguyễn | Văn An")
    arabic_id = _card(15, folder, id_number="079070" + "٩٩٣٩٠٨")
    expected = {
        gone.card_serial: "print.photo_not_found",
        changed.card_serial: "print.photo_changed",
        corrupt.card_serial: "print.photo_unreadable",
        bomb.card_serial: "print.photo_too_large",
        separator.card_serial: "print.qr_field",
        arabic_id.card_serial: "print.data_invalid",
    }
    cards = [good[0], gone, changed, good[1], corrupt, bomb, separator, arabic_id, good[2]]
    return cards, expected


@pytest.fixture(scope="module")
def render_pool() -> Iterator[ProcessPoolExecutor]:
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize("where", ["in process", "render process"])
def test_the_printer_refuses_bad_cards_alone_and_prints_the_rest(
    where: str, tmp_path: Path, render_pool: ProcessPoolExecutor
) -> None:
    cards, expected = bad_batch(tmp_path / "photos")
    pool = render_pool if where == "render process" else None
    printer = SpoolPrinter(tmp_path / "spool", name="print-01", render_in=pool)
    job = printer.print_cards(cards)
    good = [c.card_serial for c in cards if c.card_serial not in expected]
    assert [face.card_serial for face in job.printed] == good
    assert dict(job.spoiled) == expected
    assert job.pdf is not None
    document = pdfium.PdfDocument(job.pdf)
    assert len(document) == 2 * len(good)  # a front and a back for each good card only
    document.close()
    # The pool survived: the next batch is rendered there again.
    again = printer.print_cards(cards[:1])
    assert [face.card_serial for face in again.printed] == [cards[0].card_serial]
    assert printer.render_in is pool


def test_a_batch_of_only_bad_cards_prints_nothing(tmp_path: Path) -> None:
    cards, expected = bad_batch(tmp_path / "photos")
    bad = [card for card in cards if card.card_serial in expected]
    printer = SpoolPrinter(tmp_path / "spool", name="print-01")
    job = printer.print_cards(bad)
    assert (job.pdf, job.printed, dict(job.spoiled)) == (None, (), expected)
    assert not [p for p in (tmp_path / "spool").iterdir() if p.suffix == ".pdf"]


def test_a_lost_render_process_is_said_and_the_printer_goes_on(tmp_path: Path) -> None:
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    pool.submit(_die).exception()  # the helper process is killed: the pool is broken
    printer = SpoolPrinter(tmp_path / "spool", name="print-01", render_in=pool)
    card = _card(1, tmp_path / "photos")
    job = printer.print_cards([card])
    assert [face.card_serial for face in job.printed] == [card.card_serial]
    assert printer.render_in is None
    pool.shutdown()


def _die() -> None:
    import os

    os._exit(9)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPaths:
    directory = tmp_path_factory.mktemp("keys")
    init_test_keys(directory, now=datetime(2026, 11, 1, tzinfo=UTC))  # DS key usage: 3 months
    return KeyPaths.in_directory(directory)


def test_chip_data_that_cannot_be_made_is_refused_per_card(tmp_path: Path, keys: KeyPaths) -> None:
    folder = tmp_path / "photos"
    good = _card(1, folder)
    changed = _card(2, folder)
    changed.photo_path.write_bytes(portrait(random.Random(98)))
    gif = _card(3, folder, gif_portrait(3))
    arabic_id = _card(4, folder, id_number="079070" + "٩٩٣٩٠٨")
    prepared = prepare_batch([good, changed, gif, arabic_id])
    assert isinstance(prepared[good.card_serial], dict)
    assert prepared[changed.card_serial] == Unpreparable(
        "encode.photo_changed", "photo is not the file recorded at intake (its SHA-256 differs)"
    )
    refused = {
        serial: result.reason_code
        for serial, result in prepared.items()
        if isinstance(result, Unpreparable)
    }
    assert refused == {
        changed.card_serial: "encode.photo_changed",
        gif.card_serial: "encode.photo_not_image",
        arabic_id.card_serial: "encode.data_invalid",
    }


def test_the_encoder_refuses_a_card_before_it_touches_the_chip(
    tmp_path: Path, keys: KeyPaths
) -> None:
    touched: list[str] = []

    def connect(serial: str) -> object:
        touched.append(serial)
        raise AssertionError("the chip must not be touched")

    card = _card(5, tmp_path / "photos", gif_portrait(5))
    encoder = LdsEncoder(
        name="encode-01",
        signer=load_signer(keys),
        connect=connect,  # type: ignore[arg-type]
        clock=lambda: datetime(2026, 11, 1, tzinfo=UTC),
    )
    with pytest.raises(DeviceError) as caught:
        encoder.encode(card)
    assert (caught.value.reason_code, caught.value.card_serial) == (
        "encode.photo_not_image",
        card.card_serial,
    )
    assert touched == []
    assert "Văn" not in caught.value.message and card.id_number not in caught.value.message


def test_a_photo_changed_after_printing_is_not_signed_into_the_chip(
    tmp_path: Path, keys: KeyPaths
) -> None:
    card = _card(6, tmp_path / "photos")
    card.photo_path.write_bytes(portrait(random.Random(97)))
    result = prepare_batch([dataclasses.replace(card)])
    assert isinstance(result[card.card_serial], Unpreparable)
