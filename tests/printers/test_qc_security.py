"""QC reads every card as an inspection system: a genuine card passes; a clone, a chip that
answers in clear, a chip opened with another card's MRZ each fail with their reason code.

The card is made the way the line makes it: the face printed by the spool printer, the
chip personalised by the encoder (access data, key pairs made on the chip, DG14/DG15, the
SOD signed by the Document Signer in its token), in process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from line.card import CardData
from line.devices import ChipRecord, PrintedFace
from printers.chip.apdu import KEY_AA, KEY_CA, Apdu
from printers.chip.encoder import LdsEncoder
from printers.chip.transport import ChipTransport, InProcessTransport
from printers.chip.vchip import VirtualChip
from printers.chip.vimage import ChipImages, chip_from_image, image_of
from printers.face.printing import SpoolPrinter
from printers.keys import KeyPaths, init_test_keys, load_csca, load_signer
from printers.qc import Inspector
from tests.factories import card_for, photo_file

UID = bytes.fromhex("04C0FFEE000001")
NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPaths:
    return init_test_keys(tmp_path_factory.mktemp("keys"), now=datetime(2026, 10, 1, tzinfo=UTC))


class Reader:
    """One card reader slot: whatever chip is in it."""

    def __init__(self, chip: VirtualChip) -> None:
        self.chip = chip

    @contextmanager
    def connect(self, card_serial: str) -> Iterator[ChipTransport]:
        self.chip.power_on()
        try:
            yield InProcessTransport(self.chip)
        finally:
            self.chip.power_off()


@dataclasses.dataclass
class Made:
    card: CardData
    face: PrintedFace
    record: ChipRecord
    chip: VirtualChip


@pytest.fixture(scope="module")
def made(keys: KeyPaths, tmp_path_factory: pytest.TempPathFactory) -> Made:
    folder = tmp_path_factory.mktemp("card")
    photo = photo_file(folder, "photo.jpg", seed=5)
    card = card_for(5, photo, photo_sha256=hashlib.sha256(photo.read_bytes()).hexdigest())
    face = SpoolPrinter(folder / "spool", name="print-01").print_cards([card]).printed[0]
    chip = VirtualChip(UID)
    encoder = LdsEncoder(
        name="encode-01", signer=load_signer(keys), connect=Reader(chip).connect, clock=lambda: NOW
    )
    return Made(card, face, encoder.encode(card), chip)


def inspect(
    keys: KeyPaths, made: Made, chip: VirtualChip, card: CardData | None = None
) -> tuple[str, ...]:
    inspector = Inspector(
        name="qc-01",
        connect=Reader(chip).connect,
        csca=load_csca(keys.csca_cert),
        rng=random.Random(1),
        qr_sample_rate=0.0,
    )
    return inspector.inspect(card or made.card, made.face, made.record).reasons


def clone(chip: VirtualChip, *, new_aa: bool, new_ca: bool) -> VirtualChip:
    """A copy of ``chip``: its files, UID and BAC keys (all an attacker can read or compute),
    with its own key pairs where a clone cannot copy the original's."""
    copy = chip_from_image(image_of(chip))
    if new_aa:
        copy.secrets.keys[KEY_AA] = ec.generate_private_key(ec.SECP256R1())
    if new_ca:
        copy.secrets.keys[KEY_CA] = ec.generate_private_key(ec.SECP256R1())
    return copy


def test_a_genuine_card_passes_bac_ca_aa_and_passive_authentication(
    keys: KeyPaths, made: Made
) -> None:
    assert made.chip.locked
    assert inspect(keys, made, made.chip) == ()


def test_a_clone_with_the_files_but_another_aa_key_fails_active_authentication(
    keys: KeyPaths, made: Made
) -> None:
    assert inspect(keys, made, clone(made.chip, new_aa=True, new_ca=False)) == ("qc.aa.signature",)


def test_a_clone_without_the_ca_private_key_fails_chip_authentication(
    keys: KeyPaths, made: Made
) -> None:
    assert "qc.ca" in inspect(keys, made, clone(made.chip, new_aa=True, new_ca=True))


def test_another_cards_mrz_does_not_open_the_chip(keys: KeyPaths, made: Made) -> None:
    other = dataclasses.replace(
        made.card,
        date_of_birth=made.card.date_of_birth.replace(day=made.card.date_of_birth.day % 28 + 1),
    )
    reasons = inspect(keys, made, made.chip, other)
    assert reasons[0] == "qc.bac"


class Skimmable(VirtualChip):
    """A chip that answers everything in clear once locked: its files can be skimmed."""

    @staticmethod
    def _open_in_clear(apdu: Apdu) -> bool:
        return True


def test_a_chip_that_answers_plain_reads_fails_qc(keys: KeyPaths, made: Made) -> None:
    skimmable = Skimmable(UID)
    original = made.chip
    skimmable.restore(files=original.files(), locked=True)
    skimmable.secrets.kenc, skimmable.secrets.kmac = original.secrets.kenc, original.secrets.kmac
    skimmable.secrets.keys.update(original.secrets.keys)
    assert inspect(keys, made, skimmable) == ("qc.bac.plain_access",)


def test_a_virtual_chip_image_is_the_same_chip_and_owner_only(
    keys: KeyPaths, made: Made, tmp_path: Path
) -> None:
    images = ChipImages(tmp_path / "chips")
    path = images.save(made.card.card_serial, made.chip)
    assert path.stat().st_mode & 0o077 == 0
    assert path.read_text().startswith(
        '{\n "format": "cardline.virtual-chip-image/1",\n "warning": "VIRTUAL CHIP'
    )
    again = images.load(made.card.card_serial)
    assert (again.uid, again.locked, again.files()) == (UID, True, made.chip.files())
    assert inspect(keys, made, again) == ()
