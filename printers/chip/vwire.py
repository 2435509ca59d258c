"""What the virtual chip (:mod:`printers.chip.vchip`) says on the wire: its ATR (T=1, with
historical bytes ``CDLINE``), the ISO/IEC 7816-4 status words it answers, and the FCP
template it accepts in CREATE FILE (``parse_fcp``)."""

from __future__ import annotations

MF_FID = 0x3F00

_HISTORICAL = b"\x80\x56CDLINE"  # category 80, compact TLV: issuer data "CDLINE"


def _atr() -> bytes:
    # TS 3B; T0 88: TD1 follows, 8 historical bytes; TD1 81: TD2 follows, T=1;
    # TD2 31: TA3 and TB3 follow, T=1; TA3 FE: IFSC 254; TB3 45: BWI 4, CWI 5; then TCK.
    body = bytes([0x88, 0x81, 0x31, 0xFE, 0x45]) + _HISTORICAL
    tck = 0
    for byte in body:
        tck ^= byte
    return b"\x3b" + body + bytes([tck])


DEFAULT_ATR = _atr()

SW_OK = b"\x90\x00"
SW_EOF = b"\x62\x82"
SW_MEMORY_FAILURE = b"\x65\x81"
SW_WRONG_LENGTH = b"\x67\x00"
SW_LOCKED = b"\x69\x82"
SW_NO_CURRENT_EF = b"\x69\x86"
SW_WRONG_DATA = b"\x6a\x80"
SW_FUNCTION_NOT_SUPPORTED = b"\x6a\x81"
SW_NOT_FOUND = b"\x6a\x82"
SW_NO_MEMORY = b"\x6a\x84"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_FILE_EXISTS = b"\x6a\x89"
SW_WRONG_OFFSET = b"\x6b\x00"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"
SW_CONDITIONS_NOT_SATISFIED = b"\x69\x85"


def parse_fcp(data: bytes) -> tuple[int, int] | None:
    """FID and size from an FCP template ``62`` (tags ``80`` size, ``82`` descriptor
    ``01`` if present, ``83`` FID); None if it is not one this chip accepts."""
    if len(data) < 2 or data[0] != 0x62 or data[1] != len(data) - 2:
        return None
    fields: dict[int, bytes] = {}
    position = 2
    while position < len(data):
        if position + 2 > len(data):
            return None
        tag, length = data[position], data[position + 1]
        value = data[position + 2 : position + 2 + length]
        if len(value) != length or tag in fields:
            return None
        fields[tag] = value
        position += 2 + length
    size_bytes, fid_bytes = fields.get(0x80), fields.get(0x83)
    if not size_bytes or fid_bytes is None or len(fid_bytes) != 2 or len(size_bytes) > 2:
        return None
    if fields.get(0x82, b"\x01") != b"\x01":
        return None
    fid, size = int.from_bytes(fid_bytes, "big"), int.from_bytes(size_bytes, "big")
    if fid in (MF_FID, 0x3FFF, 0xFFFF) or size == 0:
        return None
    return fid, size
