"""What every LDS1 file of the chip shares (ICAO 9303-10): the application's AID, the files'
FIDs and tags, the LDS and Unicode versions, the TD1 alphabet, ``LdsError``, and unwrapping
a file's TLV with its errors turned into ``LdsError``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from printers.chip import tlv
from printers.errors import PrintersError

AID = bytes.fromhex("A0000002471001")
"""The LDS1 eMRTD application."""

EF_COM = 0x011E
DG1 = 0x0101
DG2 = 0x0102
DG13 = 0x010D
DG14 = 0x010E
DG15 = 0x010F
SOD = 0x011D
"""File identifiers (ISO 7816-4 FIDs) of the elementary files this line writes (DG14 and
DG15, Chip and Active Authentication, are built by ``printers.chip.secinfo``)."""

TAG_EF_COM = 0x60
TAG_SOD = 0x77

DG_TAGS: Mapping[int, int] = {
    1: 0x61, 2: 0x75, 3: 0x63, 4: 0x76, 5: 0x65, 6: 0x66, 7: 0x67, 8: 0x68,
    9: 0x69, 10: 0x6A, 11: 0x6B, 12: 0x6C, 13: 0x6D, 14: 0x6E, 15: 0x6F, 16: 0x70,
}  # fmt: skip
"""Data group number -> tag of its file, for all sixteen LDS1 data groups (9303-10, 4.6)."""

DG_NUMBERS: Mapping[int, int] = {tag: number for number, tag in DG_TAGS.items()}
"""Tag of a data group's file -> its number."""

DG_FIDS: Mapping[int, int] = {number: 0x0100 + number for number in DG_TAGS}
"""Data group number -> file identifier (EF.DGn is ``01 0n``)."""

LDS_VERSION = "0107"
UNICODE_VERSION = "040000"

TD1_LINE = 30
MRZ_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")


class LdsError(PrintersError):
    """A data group that cannot be built or parsed. ``reason_code`` is ``lds.<file>.<what>``;
    ``data_group`` names the file (``EF.COM``, ``DG1``...) when there is one."""

    def __init__(self, message: str, *, reason_code: str, data_group: str | None = None) -> None:
        where = f"{data_group}: " if data_group else ""
        super().__init__(f"{where}{message}", reason_code=reason_code, data_group=data_group)
        self.reason_code = reason_code
        self.data_group = data_group


def unwrap(data: bytes, tag: int, name: str) -> bytes:
    try:
        return tlv.decode_single(data, tag)
    except tlv.TlvError as exc:
        raise LdsError(str(exc), reason_code=f"lds.{name.lower()}.format", data_group=name) from exc


def children(value: bytes, tags: Iterable[int], name: str) -> list[bytes]:
    try:
        return tlv.decode_children(value, tags)
    except tlv.TlvError as exc:
        raise LdsError(str(exc), reason_code=f"lds.{name.lower()}.format", data_group=name) from exc
