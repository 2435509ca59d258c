"""The QC station: reads every file of the chip back, verifies it, and inspects the printed face.

Implements ``line.devices.QcStation``. A card fails QC with the reason code of every check
that failed; the line's routing turns that into rework.
"""

from __future__ import annotations

import random

from cryptography import x509

from line.card import CardData
from line.devices import ChipRecord, PrintedFace, QcVerdict
from printers.chip import lds
from printers.chip.apdu import ChipError
from printers.chip.bodies import Connect
from printers.chip.checks import check_chip
from printers.chip.personalise import read_back
from printers.face.check import PdfDocuments, check_face
from printers.mrz import mrz_lines, validate_td1

READ_ORDER = (
    ("EF.COM", lds.EF_COM),
    ("DG1", lds.DG_FIDS[1]),
    ("DG2", lds.DG_FIDS[2]),
    ("DG13", lds.DG_FIDS[13]),
    ("SOD", lds.SOD),
)


class Inspector:
    """Chip read-back and verification for every card, face text for every card, and the QR
    code rasterised and decoded on a seeded sample of ``qr_sample_rate`` of the cards."""

    def __init__(
        self,
        *,
        name: str,
        connect: Connect,
        csca: x509.Certificate,
        rng: random.Random,
        qr_sample_rate: float,
    ) -> None:
        if not 0.0 <= qr_sample_rate <= 1.0:
            raise ValueError(f"qr_sample_rate must be within [0, 1], got {qr_sample_rate}")
        self.name = name
        self.connect = connect
        self.csca = csca
        self.rng = rng
        self.qr_sample_rate = qr_sample_rate
        self.documents = PdfDocuments()

    def inspect(self, card: CardData, face: PrintedFace, chip: ChipRecord) -> QcVerdict:
        reasons: list[str] = []
        readback: dict[str, bytes] = {}
        uid: str | None = None
        try:
            with self.connect(card.card_serial) as transport:
                uid = transport.uid().hex().upper()
                files = read_back(transport, [fid for _, fid in READ_ORDER])
            readback = {name: files[fid] for name, fid in READ_ORDER}
        except ChipError as error:
            reasons.append(f"qc.chip.{error.reason_code.rpartition('.')[2]}")
        if uid is not None and uid != chip.chip_uid:
            reasons.append("qc.chip.uid_mismatch")
        expected = mrz_lines(card)
        reasons.extend(f"qc.{problem.reason_code}" for problem in validate_td1(expected))
        if readback:
            reasons.extend(
                check_chip(
                    readback,
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
            reasons=tuple(reasons),
            chip_uid=uid,
            readback=readback,
        )
