"""The QC station: reads every file of the chip back, verifies it, and inspects the printed face.

Implements ``line.devices.QcStation``. A card fails QC with the reason code of every check
that failed; the line's routing turns that into rework.
"""

from __future__ import annotations

import random
import secrets

from cryptography import x509

from line.card import CardData
from line.devices import ChipRecord, PrintedFace, QcVerdict
from printers.chip import lds
from printers.chip.bac import RandomBytes
from printers.chip.bodies import Connect
from printers.chip.checks import check_chip
from printers.chip.reader import read_chip
from printers.face.check import PdfDocuments, check_face
from printers.mrz import access_data, mrz_lines, validate_td1


class Inspector:
    """Every card read back as an inspection system reads it (``printers.chip.reader``: BAC
    with the MRZ computed from the database, Chip Authentication, the files under secure
    messaging, Active Authentication with a fresh random challenge), then passive
    authentication (the SOD against the CSCA, every data group's hash, DG1 and DG13
    against the database: ``printers.chip.checks``), the face text of every card, and the
    QR code rasterised and decoded on a seeded sample of ``qr_sample_rate`` of the cards."""

    def __init__(
        self,
        *,
        name: str,
        connect: Connect,
        csca: x509.Certificate,
        rng: random.Random,
        qr_sample_rate: float,
        random_bytes: RandomBytes = secrets.token_bytes,
    ) -> None:
        if not 0.0 <= qr_sample_rate <= 1.0:
            raise ValueError(f"qr_sample_rate must be within [0, 1], got {qr_sample_rate}")
        self.name = name
        self.connect = connect
        self.csca = csca
        self.rng = rng
        self.qr_sample_rate = qr_sample_rate
        self.random_bytes = random_bytes  # BAC's RND.IFD and K.IFD, AA's challenge: fresh
        self.documents = PdfDocuments()

    def inspect(self, card: CardData, face: PrintedFace, chip: ChipRecord) -> QcVerdict:
        expected = mrz_lines(card)
        document_number, born, expires = access_data(card)
        with self.connect(card.card_serial) as transport:
            reading = read_chip(
                transport,
                document_number=document_number,
                date_of_birth=born,
                date_of_expiry=None if expires == "<" * 6 else expires,
                random_bytes=self.random_bytes,
            )
        reasons = list(reading.problems)
        if reading.uid is not None and reading.uid != chip.chip_uid:
            reasons.append("qc.chip.uid_mismatch")
        reasons.extend(f"qc.{problem.reason_code}" for problem in validate_td1(expected))
        if reading.files:
            reasons.extend(
                check_chip(
                    reading.files,
                    csca_cert=self.csca,
                    expected_mrz=expected,
                    expected_dg13=lds.national_data_of(card),
                )
            )
        decode_qr = self.rng.random() < self.qr_sample_rate
        reasons.extend(
            check_face(
                card,
                face.pdf,
                face.front_page,
                face.back_page,
                decode_qr=decode_qr,
                documents=self.documents,
            )
        )
        return QcVerdict(
            card_serial=card.card_serial,
            passed=not reasons,
            reasons=tuple(dict.fromkeys(reasons)),
            chip_uid=reading.uid,
            readback=reading.files,
        )
