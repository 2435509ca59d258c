"""The chip-encode station: builds the LDS of a card, signs it, writes it to the chip, locks it.

Implements ``line.devices.ChipEncoder`` over any chip transport (in process, or PC/SC).
"""

from __future__ import annotations

from datetime import datetime

from line.card import CardData
from line.devices import ChipRecord
from line.errors import DeviceError
from line.types import Clock
from printers import lds
from printers.apdu import ChipError
from printers.bodies import Connect
from printers.keys import DocumentSigner
from printers.mrz import mrz_lines
from printers.personalise import personalise
from printers.sod import build_sod

# The order the files are written in: EF.COM, the data groups, then the SOD that signs them.
FILE_ORDER = (lds.EF_COM, lds.DG_FIDS[1], lds.DG_FIDS[2], lds.DG_FIDS[13], lds.SOD)


def lds_files(
    card: CardData, signer: DocumentSigner, *, signing_time: datetime
) -> dict[int, bytes]:
    """FID -> content of every elementary file of the card's chip, the SOD signed by ``signer``."""
    jpeg, width, height = lds.photo_to_jpeg(card.photo_path)
    groups = {
        1: lds.dg1(mrz_lines(card)),
        2: lds.dg2(jpeg, width=width, height=height, sex=card.sex),
        13: lds.encode_dg13(lds.national_data_of(card)),
    }
    files = {lds.EF_COM: lds.ef_com(groups)}
    files.update({lds.DG_FIDS[number]: content for number, content in groups.items()})
    files[lds.SOD] = build_sod(groups, signer, signing_time=signing_time)
    return {fid: files[fid] for fid in FILE_ORDER}


class LdsEncoder:
    """Personalises the chip of each card: a ``ChipEncoder``."""

    def __init__(
        self, *, name: str, signer: DocumentSigner, connect: Connect, clock: Clock
    ) -> None:
        self.name = name
        self.signer = signer
        self.connect = connect
        self.clock = clock

    def encode(self, card: CardData) -> ChipRecord:
        files = lds_files(card, self.signer, signing_time=self.clock())
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
