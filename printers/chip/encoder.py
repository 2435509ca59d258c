"""The chip-encode station: builds the LDS of a card, signs it, writes it to the chip, locks it.

Implements ``line.devices.ChipEncoder`` over any chip transport (in process, or PC/SC).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import datetime

from line.card import CardData
from line.devices import ChipRecord
from line.errors import CardlineError, DeviceError
from line.portrait import check_portrait
from line.types import Clock
from printers.chip import lds
from printers.chip.apdu import ChipError
from printers.chip.bodies import Connect
from printers.chip.personalise import personalise
from printers.chip.sod import build_sod
from printers.keys import DocumentSigner, KeyPaths, load_signer
from printers.mrz import mrz_lines

# The order the files are written in: EF.COM, the data groups, then the SOD that signs them.
FILE_ORDER = (lds.EF_COM, lds.DG_FIDS[1], lds.DG_FIDS[2], lds.DG_FIDS[13], lds.SOD)


DATA_INVALID = "encode.data_invalid"


@dataclass(frozen=True, slots=True)
class Unpreparable:
    """A card whose chip data cannot be made (its photo, its MRZ...): why, without personal
    data. Travels back from a preparation process in place of the card's files."""

    reason_code: str
    message: str


def _photo_bytes(card: CardData) -> bytes:
    """The card's photo, still the file intake recorded and passing ``line.portrait``'s rules
    (a photo changed after printing is never signed into the chip); else ``LdsError`` with
    the ``encode.photo_*`` reason code."""
    problem = check_portrait(card.photo_path, card.photo_sha256, stage="encode")
    if problem is not None:
        raise lds.LdsError(problem.message, reason_code=problem.reason_code)
    return card.photo_path.read_bytes()


def lds_files(
    card: CardData, signer: DocumentSigner, *, signing_time: datetime
) -> dict[int, bytes]:
    """FID -> content of every elementary file of the card's chip, the SOD signed by ``signer``.

    The photo is the file recorded at intake (its SHA-256), or nothing is made."""
    jpeg, width, height = lds.photo_to_jpeg(io.BytesIO(_photo_bytes(card)))
    groups = {
        1: lds.dg1(mrz_lines(card)),
        2: lds.dg2(jpeg, width=width, height=height, sex=card.sex),
        13: lds.encode_dg13(lds.national_data_of(card)),
    }
    files = {lds.EF_COM: lds.ef_com(groups)}
    files.update({lds.DG_FIDS[number]: content for number, content in groups.items()})
    files[lds.SOD] = build_sod(groups, signer, signing_time=signing_time)
    return {fid: files[fid] for fid in FILE_ORDER}


@functools.cache
def _signer(keys: KeyPaths) -> DocumentSigner:
    """This process's Document Signer: its own session of the token (opened once, kept for
    every batch, closed at exit by ``printers.hsm``)."""
    return load_signer(keys)


def prepare_card(
    card: CardData, signer: DocumentSigner, *, signing_time: datetime
) -> dict[int, bytes] | Unpreparable:
    """The card's files, signed; or why its data cannot make a chip (never raises for one
    card's data: the rest of its batch goes on)."""
    try:
        return lds_files(card, signer, signing_time=signing_time)
    except CardlineError as exc:
        code = str(exc.fields.get("reason_code") or "")
        return Unpreparable(code if code.startswith("encode.photo_") else DATA_INVALID, exc.message)
    except Exception as exc:  # noqa: BLE001  (a photo Pillow cannot open, a value out of range)
        return Unpreparable(DATA_INVALID, f"chip data cannot be made ({type(exc).__name__})")


def prepare_batch(
    cards: Sequence[CardData], keys: KeyPaths, signing_time: datetime
) -> dict[str, dict[int, bytes] | Unpreparable]:
    """Data preparation of a batch: each card's files, signed. Runs in a worker process, which
    opens its own session of the token named by ``keys`` once (``keys`` holds no secret; the
    private key never leaves the token)."""
    signer = _signer(keys)
    return {
        card.card_serial: prepare_card(card, signer, signing_time=signing_time) for card in cards
    }


class LdsEncoder:
    """Personalises the chip of each card: a ``ChipEncoder``.

    With ``prepare_in`` (a process pool) and ``keys``, ``prepare`` builds and signs a batch's
    files ahead of time on another core, as a personalisation bureau's data preparation
    does; ``encode`` then only writes them. Without, ``encode`` prepares each card itself.
    """

    def __init__(
        self,
        *,
        name: str,
        signer: DocumentSigner,
        connect: Connect,
        clock: Clock,
        prepare_in: Executor | None = None,
        keys: KeyPaths | None = None,
    ) -> None:
        if (prepare_in is None) != (keys is None):
            raise ValueError("prepare_in and keys go together")
        self.name = name
        self.signer = signer
        self.connect = connect
        self.clock = clock
        self.prepare_in = prepare_in
        self.keys = keys
        self._prepared: dict[str, Future[dict[str, dict[int, bytes] | Unpreparable]]] = {}

    def prepare(self, cards: Sequence[CardData]) -> None:
        """Start preparing the files of ``cards`` (no-op without a pool)."""
        if self.prepare_in is None or self.keys is None or not cards:
            return
        future = self.prepare_in.submit(prepare_batch, list(cards), self.keys, self.clock())
        for card in cards:
            self._prepared[card.card_serial] = future

    def _files(self, card: CardData) -> dict[int, bytes] | Unpreparable:
        future = self._prepared.pop(card.card_serial, None)
        if future is not None:
            try:
                return future.result()[card.card_serial]
            except Exception:  # noqa: BLE001  (a worker's failure: prepare here, and see why)
                pass
        return prepare_card(card, self.signer, signing_time=self.clock())

    def encode(self, card: CardData) -> ChipRecord:
        files = self._files(card)
        if isinstance(files, Unpreparable):
            # Nothing was written: the card is spoiled with its printed face, and its
            # application waits for a manager (a new card body would fail the same way).
            raise DeviceError(
                f"{self.name}: card {card.card_serial}: {files.message}",
                device=self.name,
                reason_code=files.reason_code,
                card_serial=card.card_serial,
            )
        with self.connect(card.card_serial) as transport:
            uid = transport.uid()
            try:
                personalise(transport, files)
            except ChipError as error:
                # The chip is spoiled with its card body; say which card and which chip.
                raise DeviceError(
                    f"{self.name}: card {card.card_serial}: {error}",
                    device=self.name,
                    reason_code=error.reason_code,
                    card_serial=card.card_serial,
                    chip_uid=uid.hex().upper(),
                    sw=error.fields.get("sw"),
                ) from error
        return ChipRecord(card_serial=card.card_serial, chip_uid=uid.hex().upper())
