"""The chip-encode station: gives the chip its access keys and key pairs, builds and signs the
LDS of the card, writes it to the chip, locks it.

Implements ``line.devices.ChipEncoder`` over any chip transport (in process, or PC/SC).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Executor, Future
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from line.card import CardData
from line.devices import ChipRecord
from line.errors import CardlineError, DeviceError
from line.logsetup import get_logger
from line.portrait import check_portrait
from line.types import Clock
from printers.chip import lds, secinfo
from printers.chip.apdu import ChipError
from printers.chip.bodies import Connect
from printers.chip.personalise import ChipKeys, initialise, personalise
from printers.chip.sod import build_sod
from printers.keys import DocumentSigner, KeyPaths, load_signer
from printers.mrz import access_data, mrz_lines

# The order the files are written in: EF.COM, the data groups, then the SOD that signs them.
FILE_ORDER = (
    lds.EF_COM,
    lds.DG_FIDS[1],
    lds.DG_FIDS[2],
    lds.DG_FIDS[13],
    lds.DG_FIDS[14],
    lds.DG_FIDS[15],
    lds.SOD,
)
DATA_GROUPS = (1, 2, 13, 14, 15)
"""What the chip holds, as EF.COM lists it and the SOD hashes it."""

DATA_INVALID = "encode.data_invalid"

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Unpreparable:
    """A card whose chip data cannot be made (its photo, its MRZ...): why, without personal
    data. Travels back from a preparation process in place of the card's data groups."""

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


def card_data_groups(card: CardData) -> dict[int, bytes]:
    """DG1 (the MRZ), DG2 (the face, from the photo intake recorded) and DG13 (national
    data): what can be made before the chip is in the encoder."""
    jpeg, width, height = lds.photo_to_jpeg(io.BytesIO(_photo_bytes(card)))
    return {
        1: lds.dg1(mrz_lines(card)),
        2: lds.dg2(jpeg, width=width, height=height, sex=card.sex),
        13: lds.encode_dg13(lds.national_data_of(card)),
    }


def chip_files(
    groups: dict[int, bytes],
    keys: ChipKeys,
    signer: DocumentSigner,
    *,
    signing_time: datetime,
) -> dict[int, bytes]:
    """FID -> content of every file of the chip, in ``FILE_ORDER``: the card's data groups,
    DG14 and DG15 with the public keys the chip made, EF.COM, and the SOD over all five data
    groups signed by ``signer``."""
    groups = {**groups, 14: secinfo.dg14(keys.ca), 15: secinfo.dg15(keys.aa)}
    files = {lds.EF_COM: lds.ef_com(groups)}
    files.update({lds.DG_FIDS[number]: content for number, content in groups.items()})
    files[lds.SOD] = build_sod(groups, signer, signing_time=signing_time)
    return {fid: files[fid] for fid in FILE_ORDER}


def prepare_card(card: CardData) -> dict[int, bytes] | Unpreparable:
    """The card's data groups; or why its data cannot make a chip (never raises for one
    card's data: the rest of its batch goes on)."""
    try:
        return card_data_groups(card)
    except CardlineError as exc:
        code = str(exc.fields.get("reason_code") or "")
        return Unpreparable(code if code.startswith("encode.photo_") else DATA_INVALID, exc.message)
    except Exception as exc:  # noqa: BLE001  (a photo Pillow cannot open, a value out of range)
        return Unpreparable(DATA_INVALID, f"chip data cannot be made ({type(exc).__name__})")


def prepare_batch(cards: Sequence[CardData]) -> dict[str, dict[int, bytes] | Unpreparable]:
    """Data preparation of a batch, in a helper process: each card's DG1, DG2 and DG13 (the
    photo's conversion to DG2 is the expensive part). No key is needed here: the chip's own
    key pairs are made on the chip and the SOD is signed at personalisation."""
    return {card.card_serial: prepare_card(card) for card in cards}


class LdsEncoder:
    """Personalises the chip of each card: a ``ChipEncoder``.

    For each card: the chip gets its access data (it derives its BAC keys) and makes its
    Active and Chip Authentication key pairs; their public keys go into DG15 and DG14; the
    SOD over every data group is signed (``signer``: the Document Signer in its token);
    the files are written and the chip locked.

    With ``prepare_in`` (a process pool), ``prepare`` makes a batch's DG1, DG2 and DG13 ahead
    of time on another core, as a personalisation bureau's data preparation does.
    """

    def __init__(
        self,
        *,
        name: str,
        signer: DocumentSigner,
        connect: Connect,
        clock: Clock,
        prepare_in: Executor | None = None,
        sign_in: Executor | None = None,
        keys: KeyPaths | None = None,
    ) -> None:
        if (sign_in is None) != (keys is None):
            raise ValueError("sign_in and keys go together")
        self.name = name
        self.signer = signer
        self.connect = connect
        self.clock = clock
        self.prepare_in = prepare_in
        self.sign_in = sign_in
        self.keys = keys
        self._prepared: dict[str, Future[dict[str, dict[int, bytes] | Unpreparable]]] = {}

    def prepare(self, cards: Sequence[CardData]) -> None:
        """Start preparing the data groups of ``cards`` (no-op without a pool)."""
        if self.prepare_in is None or not cards:
            return
        try:
            future = self.prepare_in.submit(prepare_batch, list(cards))
        except BrokenExecutor as exc:  # the helper process died: prepare each card here
            log.error(
                "encode.prepare_helper_lost",
                encoder=self.name,
                error=type(exc).__name__,
                action="preparing chip data in the line's own process from now on",
            )
            self.prepare_in = None
            return
        for card in cards:
            self._prepared[card.card_serial] = future

    def _groups(self, card: CardData) -> dict[int, bytes] | Unpreparable:
        future = self._prepared.pop(card.card_serial, None)
        if future is not None:
            try:
                return future.result()[card.card_serial]
            except Exception:  # noqa: BLE001  (a worker's failure: prepare here, and see why)
                pass
        return prepare_card(card)

    def encode(self, card: CardData) -> ChipRecord:
        (result,) = (result for _, result in self.encode_all([card]))
        if isinstance(result, DeviceError):
            raise result
        return result

    def encode_all(
        self, cards: Sequence[CardData]
    ) -> Iterator[tuple[CardData, ChipRecord | DeviceError]]:
        """Each card's chip personalised, or the fault that spoiled it (``DeviceError`` with
        the card's serial), as each one is done: first every chip gets its access data and
        key pairs; their files are built and signed (in ``sign_in``, a helper process with
        its own session of the token, when given), and written as they come back. A fault
        that is not one card's (the token, the reader gone) is raised."""
        staged: list[tuple[CardData, bytes, dict[int, bytes], ChipKeys]] = []
        for card in cards:
            groups = self._groups(card)
            if isinstance(groups, Unpreparable):
                # Nothing was written: the card is spoiled with its printed face, and its
                # application waits for a manager (a new card body would fail the same way).
                yield (
                    card,
                    DeviceError(
                        f"{self.name}: card {card.card_serial}: {groups.message}",
                        device=self.name,
                        reason_code=groups.reason_code,
                        card_serial=card.card_serial,
                    ),
                )
                continue
            with self.connect(card.card_serial) as transport:
                uid = transport.uid()
                try:
                    staged.append((card, uid, groups, initialise(transport, *access_data(card))))
                except ChipError as error:
                    yield card, self._spoiled(card, uid, error)
        signed = self._sign_all([(groups, keys) for _, _, groups, keys in staged])
        for (card, uid, _, _), files in zip(staged, signed, strict=True):
            with self.connect(card.card_serial) as transport:
                try:
                    personalise(transport, files())
                except ChipError as error:
                    yield card, self._spoiled(card, uid, error)
                    continue
            yield card, ChipRecord(card_serial=card.card_serial, chip_uid=uid.hex().upper())

    def _sign_all(
        self, work: Sequence[tuple[dict[int, bytes], ChipKeys]]
    ) -> list[Callable[[], dict[int, bytes]]]:
        """Each card's files, built and signed: futures of the helper process, or, without
        one, made here when asked for."""
        signing_time = self.clock()
        if self.sign_in is not None and self.keys is not None and work:
            try:
                futures = [
                    self.sign_in.submit(sign_files, groups, _points(keys), signing_time, self.keys)
                    for groups, keys in work
                ]
                return [future.result for future in futures]
            except BrokenExecutor:
                self._lost_helper("sign_in")
        return [
            functools.partial(chip_files, groups, keys, self.signer, signing_time=signing_time)
            for groups, keys in work
        ]

    def _spoiled(self, card: CardData, uid: bytes, error: ChipError) -> DeviceError:
        """The chip is spoiled with its card body; say which card and which chip."""
        spoiled = DeviceError(
            f"{self.name}: card {card.card_serial}: {error}",
            device=self.name,
            reason_code=error.reason_code,
            card_serial=card.card_serial,
            chip_uid=uid.hex().upper(),
            sw=error.fields.get("sw"),
        )
        spoiled.__cause__ = error
        return spoiled

    def _lost_helper(self, which: str) -> None:
        log.error(
            "encode.helper_lost",
            encoder=self.name,
            helper=which,
            action="doing its work in the line's own process from now on",
        )
        setattr(self, which, None)


def _points(keys: ChipKeys) -> tuple[bytes, bytes]:
    """The chip's public keys as uncompressed points (keys do not cross processes)."""
    encoding, form = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    return keys.aa.public_bytes(encoding, form), keys.ca.public_bytes(encoding, form)


@functools.cache
def _signer(keys: KeyPaths) -> DocumentSigner:
    """This process's Document Signer: its own session of the token (opened once, kept for
    every card, closed at exit by ``printers.hsm``)."""
    return load_signer(keys)


def sign_files(
    groups: dict[int, bytes],
    points: tuple[bytes, bytes],
    signing_time: datetime,
    keys: KeyPaths,
) -> dict[int, bytes]:
    """``chip_files`` in a helper process: the chip's public keys as points, the Document
    Signer from ``keys`` (which names the token, and holds no secret)."""
    curve = ec.SECP256R1()
    chip_keys = ChipKeys(
        aa=ec.EllipticCurvePublicKey.from_encoded_point(curve, points[0]),
        ca=ec.EllipticCurvePublicKey.from_encoded_point(curve, points[1]),
    )
    return chip_files(groups, chip_keys, _signer(keys), signing_time=signing_time)
