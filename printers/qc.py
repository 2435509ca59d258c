"""The QC station: reads every file of the chip back, verifies it, and inspects the printed face.

Implements ``line.devices.QcStation``. A card fails QC with the reason code of every check
that failed; the line's routing turns that into rework.
"""

from __future__ import annotations

import functools
import random
import secrets
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import BrokenExecutor, Executor, Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from line.card import CardData
from line.devices import ChipRecord, PrintedFace, QcVerdict
from line.logsetup import get_logger
from line.sealed import SPOOL_PDF, read_sealed
from printers import atrest
from printers.chip import lds
from printers.chip.bac import RandomBytes
from printers.chip.bodies import Connect
from printers.chip.checks import check_chip
from printers.chip.reader import ChipReading, active_authentication_problems, read_chip
from printers.face.check import PdfDocuments, check_face
from printers.mrz import access_data, mrz_lines, validate_td1

if TYPE_CHECKING:
    from printers.keys import KeyPaths

log = get_logger(__name__)


def verify_card(
    card: CardData,
    face: PrintedFace,
    files: Mapping[str, bytes],
    active_authentication: tuple[bytes, bytes] | None,
    *,
    decode_qr: bool,
    csca_pem: bytes,
    keys: KeyPaths | None = None,
) -> list[str]:
    """Every check of a card that needs no chip: Active Authentication's answer against DG15,
    passive authentication (the SOD against the CSCA, every data group's hash, DG1 and DG13
    against the card's data), the MRZ's own rules and the printed face. A pure function of
    its arguments (picklable): QC runs it in a helper process while it reads the next chip.
    ``keys``: the spool is sealed under their data key (unwrapped once per process)."""
    expected = mrz_lines(card)
    reasons = [f"qc.{problem.reason_code}" for problem in validate_td1(expected)]
    if files:
        if active_authentication is not None:
            reasons.extend(active_authentication_problems(dict(files), *active_authentication))
        reasons.extend(
            check_chip(
                files,
                csca_cert=_csca(csca_pem),
                expected_mrz=expected,
                expected_dg13=lds.national_data_of(card),
            )
        )
    reasons.extend(
        check_face(
            card,
            face.pdf,
            face.front_page,
            face.back_page,
            decode_qr=decode_qr,
            documents=_documents(keys),
        )
    )
    return reasons


@functools.cache
def _csca(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


@functools.cache
def _documents(keys: KeyPaths | None) -> PdfDocuments:
    """This process's open print batches (one per process: the line's, or a helper's)."""
    if keys is None:
        return PdfDocuments()
    sealer = atrest.sealer_for(keys)
    return PdfDocuments(opener=lambda path: read_sealed(path, role=SPOOL_PDF, sealer=sealer))


@dataclass(frozen=True, slots=True)
class _Reading:
    card: CardData
    face: PrintedFace
    chip: ChipRecord
    reading: ChipReading
    decode_qr: bool
    verified: Future[list[str]] | None


class Inspector:
    """Every card read back as an inspection system reads it (``printers.chip.reader``: BAC
    with the MRZ computed from the database, Chip Authentication, the files under secure
    messaging, Active Authentication with a fresh random challenge), then ``verify_card``:
    the chip's answer to Active Authentication, passive authentication (the SOD against the
    CSCA, every data group's hash, DG1 and DG13 against the database:
    ``printers.chip.checks``), the face text of every card, and the QR code rasterised and
    decoded on a seeded sample of ``qr_sample_rate`` of the cards.

    With ``verify_in`` (a process pool), ``inspect_all`` verifies each card in a helper
    process while it reads the next chip here (the chip is read where it is)."""

    def __init__(
        self,
        *,
        name: str,
        connect: Connect,
        csca: x509.Certificate,
        rng: random.Random,
        qr_sample_rate: float,
        random_bytes: RandomBytes = secrets.token_bytes,
        verify_in: Executor | None = None,
        keys: KeyPaths | None = None,
    ) -> None:
        if not 0.0 <= qr_sample_rate <= 1.0:
            raise ValueError(f"qr_sample_rate must be within [0, 1], got {qr_sample_rate}")
        self.name = name
        self.connect = connect
        self.csca = csca
        self.rng = rng
        self.qr_sample_rate = qr_sample_rate
        self.random_bytes = random_bytes  # BAC's RND.IFD and K.IFD, AA's challenge: fresh
        self.verify_in = verify_in
        self.keys = keys  # the spool's PDFs are sealed under their data key
        self._csca_pem = csca.public_bytes(serialization.Encoding.PEM)

    def inspect(self, card: CardData, face: PrintedFace, chip: ChipRecord) -> QcVerdict:
        return next(self.inspect_all([(card, face, chip)]))

    def inspect_all(
        self, cards: Iterable[tuple[CardData, PrintedFace, ChipRecord]]
    ) -> Iterator[QcVerdict]:
        """The verdict of each card, in order; each is yielded once the next chip is read (its
        verification ran meanwhile)."""
        previous: _Reading | None = None
        for card, face, chip in cards:
            current = self._read(card, face, chip)
            if previous is not None:
                yield self._verdict(previous)
            previous = current
        if previous is not None:
            yield self._verdict(previous)

    def _read(self, card: CardData, face: PrintedFace, chip: ChipRecord) -> _Reading:
        document_number, born, expires = access_data(card)
        with self.connect(card.card_serial) as transport:
            reading = read_chip(
                transport,
                document_number=document_number,
                date_of_birth=born,
                date_of_expiry=None if expires == "<" * 6 else expires,
                random_bytes=self.random_bytes,
                verify_signature=False,
            )
        decode_qr = self.rng.random() < self.qr_sample_rate
        verified = None
        if self.verify_in is not None:
            try:
                verified = self.verify_in.submit(
                    verify_card, card, face, reading.files, reading.active_authentication,
                    decode_qr=decode_qr, csca_pem=self._csca_pem, keys=self.keys,
                )  # fmt: skip
            except BrokenExecutor:
                self._lost_helper()
        return _Reading(card, face, chip, reading, decode_qr, verified)

    def _verdict(self, read: _Reading) -> QcVerdict:
        reading = read.reading
        reasons = list(reading.problems)
        if reading.uid is not None and reading.uid != read.chip.chip_uid:
            reasons.append("qc.chip.uid_mismatch")
        found: list[str] | None = None
        if read.verified is not None:
            try:
                found = read.verified.result()
            except BrokenExecutor:
                self._lost_helper()
        if found is None:
            found = verify_card(
                read.card, read.face, reading.files, reading.active_authentication,
                decode_qr=read.decode_qr, csca_pem=self._csca_pem, keys=self.keys,
            )  # fmt: skip
        reasons.extend(found)
        return QcVerdict(
            card_serial=read.card.card_serial,
            passed=not reasons,
            reasons=tuple(dict.fromkeys(reasons)),
            chip_uid=reading.uid,
            readback=reading.files,
        )

    def _lost_helper(self) -> None:
        log.error(
            "qc.verify_helper_lost",
            station=self.name,
            action="verifying in the line's own process from now on",
        )
        self.verify_in = None
