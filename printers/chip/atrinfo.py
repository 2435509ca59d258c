"""EF.ATR/INFO (ISO/IEC 7816-4 §12.7.1; ICAO Doc 9303-10 §3.11.1): the file in the MF,
readable in clear, where a chip declares what it supports; here, its **extended length
information** (``DO'7F66'``: the most bytes of a command APDU and of a response APDU, two
``DO'02'``). ICAO 9303-10/11 let an inspection system use extended-length APDUs only with a
chip that declares them, so a reader reads this file first: no file, or no ``7F66``, and it
keeps to short APDUs (as every reader that never looks does).

``atr_info`` writes the file's content (the virtual chip's); ``extended_lengths`` reads it;
``read_extended_lengths`` asks a chip for it, in clear, before the LDS application is
selected (three plain APDUs: SELECT of the MF, SELECT ``2F01``, READ BINARY).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from printers.chip import tlv
from printers.chip.apdu import MAX_LE, read_binary, select_fid
from printers.chip.smframe import ExtendedLengths

if TYPE_CHECKING:  # the transports import the virtual chip, which imports this module
    from printers.chip.transport import ChipTransport

EF_ATR_INFO = 0x2F01
TAG_EXTENDED_LENGTH_INFO = 0x7F66
TAG_INTEGER = 0x02
SW_OK = 0x9000
SW_EOF = 0x6282  # fewer bytes than asked for: the file is shorter than 256 bytes
SELECT_MF = bytes.fromhex("00A4000C023F00")


def _integer(value: int) -> bytes:
    return tlv.encode(TAG_INTEGER, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def atr_info(lengths: ExtendedLengths) -> bytes:
    """The content of EF.ATR/INFO declaring ``lengths``: ``7F66 { 02 <command> 02 <response> }``."""
    return tlv.encode(
        TAG_EXTENDED_LENGTH_INFO, _integer(lengths.command) + _integer(lengths.response)
    )


def extended_lengths(content: bytes) -> ExtendedLengths | None:
    """The extended length information in EF.ATR/INFO's ``content``, or None when it has
    none, or one that is malformed or no larger than short APDUs (then: short APDUs)."""
    try:
        objects = tlv.decode(content.rstrip(b"\x00\xff"))  # unused space may be padded
        found = [item.value for item in objects if item.tag == TAG_EXTENDED_LENGTH_INFO]
        if len(found) != 1:
            return None
        values = [item.value for item in tlv.decode(found[0]) if item.tag == TAG_INTEGER]
        if len(values) < 2 or not all(values[:2]):
            return None
        return ExtendedLengths(
            command=int.from_bytes(values[0], "big"), response=int.from_bytes(values[1], "big")
        )
    except (tlv.TlvError, ValueError):
        return None


def read_extended_lengths(transport: ChipTransport) -> ExtendedLengths | None:
    """What the chip in ``transport`` declares in its EF.ATR/INFO (the MF selected first);
    None when it has none. Link failures raise as any transmit does."""
    _, sw = transport.send(SELECT_MF)
    if sw != SW_OK:
        return None
    _, sw = transport.send(select_fid(EF_ATR_INFO).to_bytes())
    if sw != SW_OK:
        return None
    content, sw = transport.send(read_binary(0, MAX_LE).to_bytes())
    if sw not in (SW_OK, SW_EOF):
        return None
    return extended_lengths(content)
