"""Images of virtual chips: a personalised virtual chip's whole memory, kept so that the same
chip can be presented again (``cardline chip serve --card SERIAL``) or picked up by a later
run after a crash.

**Virtual chips only.** A real chip's private keys never leave it and nothing here could
read them; the image exists because a virtual chip's memory would otherwise die with the
process that holds it. An image holds the chip's private keys (Active and Chip
Authentication) and its BAC keys: it is written owner-only (0600, in a 0700 directory
under ``$CARDLINE_HOME/chips``), its first field says what it is, and it is never part
of an archive or an export (``cardline card export`` writes the chip's files as read).

Given a ``line.sealed`` sealer the image is encrypted at rest (``chip-image``); ``cardline
chip serve`` opens it with the centre's data key.

Format (JSON, ``cardline.virtual-chip-image/1``): the UID, capacity, defect flag and lock;
each EF (FID -> hex); the BAC keys (hex); each private key (reference -> PKCS#8 DER, hex).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from line.files import private_dir
from line.sealed import CHIP_IMAGE, Sealer, read_sealed, write_sealed
from printers.chip.vchip import VirtualChip
from printers.errors import PrintersError

FORMAT = "cardline.virtual-chip-image/1"
WARNING = (
    "VIRTUAL CHIP IMAGE - a test chip's whole memory, private keys included; "
    "never made for a real chip, never to leave this machine"
)


class ChipImageError(PrintersError):
    """A virtual chip image that is missing or cannot be read."""


def image_of(chip: VirtualChip) -> bytes:
    """The chip's memory as an image (see the module's docstring)."""
    secrets_ = chip.secrets
    document: dict[str, Any] = {
        "format": FORMAT,
        "warning": WARNING,
        "uid": chip.uid.hex().upper(),
        "capacity": chip.capacity,
        "defective": chip.defective,
        "locked": chip.locked,
        "files": {f"{fid:04X}": content.hex() for fid, content in chip.files().items()},
        "access": None
        if secrets_.kenc is None or secrets_.kmac is None
        else {"kenc": secrets_.kenc.hex(), "kmac": secrets_.kmac.hex()},
        "keys": {
            f"{reference:02X}": key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).hex()
            for reference, key in sorted(secrets_.keys.items())
        },
    }
    return json.dumps(document, indent=1).encode("utf-8")


def chip_from_image(image: bytes) -> VirtualChip:
    """The virtual chip an image was made of (unpowered); ``ChipImageError`` if it is not one."""
    try:
        document = json.loads(image)
        if document.get("format") != FORMAT:
            raise ValueError(f"format is {document.get('format')!r}, not {FORMAT}")
        chip = VirtualChip(
            bytes.fromhex(document["uid"]),
            capacity=int(document["capacity"]),
            defective=bool(document["defective"]),
        )
        files = {int(fid, 16): bytes.fromhex(data) for fid, data in document["files"].items()}
        chip.restore(files=files, locked=bool(document["locked"]))
        access = document["access"]
        if access is not None:
            chip.secrets.kenc = bytes.fromhex(access["kenc"])
            chip.secrets.kmac = bytes.fromhex(access["kmac"])
        for reference, der in document["keys"].items():
            key = serialization.load_der_private_key(bytes.fromhex(der), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"key {reference} is not an EC key")
            chip.secrets.keys[int(reference, 16)] = key
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ChipImageError(f"not a virtual chip image: {exc}"[:200]) from None
    return chip


class ChipImages:
    """The images of the virtual chips of a home, one file per card serial."""

    def __init__(self, directory: Path, *, sealer: Sealer | None = None) -> None:
        self.directory = directory
        self.sealer = sealer  # None: plaintext (unit tests, set-ups with no keys)

    def path(self, card_serial: str) -> Path:
        if not card_serial.replace("-", "").isalnum() or not card_serial.isascii():
            raise ChipImageError(f"{card_serial[:40]!r} is not a card serial")
        return self.directory / f"{card_serial}.vchip.json"

    def save(self, card_serial: str, chip: VirtualChip) -> Path:
        private_dir(self.directory)
        path = self.path(card_serial)
        # a crash may lose it: no sync
        write_sealed(path, image_of(chip), role=CHIP_IMAGE, sealer=self.sealer, durable=False)
        return path

    def load(self, card_serial: str) -> VirtualChip:
        path = self.path(card_serial)
        try:
            image = read_sealed(path, role=CHIP_IMAGE, sealer=self.sealer)
        except FileNotFoundError:
            raise ChipImageError(
                f"no virtual chip image of card {card_serial} in {self.directory} (only cards "
                "personalised on virtual chips by this home have one)"
            ) from None
        return chip_from_image(image)

    def has(self, card_serial: str) -> bool:
        return self.path(card_serial).is_file()
