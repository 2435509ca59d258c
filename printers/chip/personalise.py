"""Personalise a chip with the LDS files, and read them back.

``personalise`` selects the LDS application, creates each EF with the exact size of its
content, writes it with UPDATE BINARY in chunks and locks the chip. ``read_back`` selects the
application and each EF, learns the length of the EF from its BER-TLV header (a one- to
three-byte tag, then a short length or ``81``/``82``/``83`` long form), and reads exactly those
bytes. Every status word but ``9000`` surfaces as the typed ``ChipError`` of
``printers.chip.apdu``; nothing here catches them: the caller decides retry versus spoil.

The default chunk of 223 bytes leaves room, inside one short APDU (255 bytes), for secure
messaging to wrap it (padding to the block size, tag ``87``, a ``8E`` MAC) when a real chip
requires it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from printers.chip.apdu import (
    KEY_AA,
    KEY_CA,
    LDS_AID,
    MAX_EXTENDED_LC,
    MAX_EXTENDED_LE,
    MAX_LC,
    MAX_LE,
    ChipError,
    ConditionsNotSatisfied,
    EndOfFile,
    FileNotFound,
    WrongLe,
    WrongLength,
    WrongParameters,
    create_file,
    generate_key_pair,
    lock,
    put_access_data,
    read_binary,
    read_binary_sfi,
    select_aid,
    select_fid,
    update_binary,
)
from printers.chip.atrinfo import read_extended_lengths
from printers.chip.transport import ChipTransport
from printers.chip.vaccess import public_key_of

DEFAULT_CHUNK = 223
MAX_FILE_SIZE = 0xFFFF  # CREATE FILE's size field here is two bytes

EF_COM = 0x011E
EF_DG1 = 0x0101
EF_DG2 = 0x0102
EF_DG13 = 0x010D
EF_SOD = 0x011D
LDS_FIDS: tuple[int, ...] = (EF_COM, EF_DG1, EF_DG2, EF_DG13, EF_SOD)
"""The EFs the line writes, in the order it writes them."""


class MalformedFile(ChipError):
    """An EF read back does not start with a BER-TLV header this module can follow."""

    reason = "encode.malformed_file"


def tlv_size(header: bytes) -> int | None:
    """The total size (header + value) of the BER-TLV object that ``header`` begins, or None
    if ``header`` is too short to tell. Raises ``ValueError`` if it is not BER-TLV."""
    size, _ = _parse_header(header)
    return size


def _parse_header(header: bytes) -> tuple[int | None, int]:
    """(total size, 0) once the header is complete, else (None, header bytes still needed)."""
    if not header:
        return None, 2
    if header[0] in (0x00, 0xFF):
        raise ValueError(f"invalid tag byte {header[0]:02X}")
    position = 1
    if header[0] & 0x1F == 0x1F:  # multi-byte tag: subsequent bytes while b8 is set
        while True:
            if position >= len(header):
                return None, 2  # one more tag byte at least, and a length byte
            if position >= 3:
                raise ValueError("tag longer than three bytes")
            position += 1
            if not header[position - 1] & 0x80:
                break
    if position >= len(header):
        return None, 1
    first = header[position]
    position += 1
    if first < 0x80:
        return position + first, 0
    if first == 0x80 or first > 0x83:
        raise ValueError(f"length byte {first:02X} is not supported")
    end = position + (first & 0x7F)
    if end > len(header):
        return None, end - len(header)
    return end + int.from_bytes(header[position:end], "big"), 0


def _check_files(files: Mapping[int, bytes]) -> None:
    if not files:
        raise ValueError("nothing to personalise")
    for fid, content in files.items():
        if not 0 <= fid <= 0xFFFF:
            raise ValueError(f"file identifier {fid} is not two bytes")
        if not 1 <= len(content) <= MAX_FILE_SIZE:
            raise ValueError(f"EF {fid:04X}: {len(content)} bytes is outside 1..{MAX_FILE_SIZE}")
        try:
            size = tlv_size(content)
        except ValueError as exc:
            raise ValueError(f"EF {fid:04X} is not one BER-TLV object: {exc}") from exc
        if size != len(content):
            raise ValueError(f"EF {fid:04X}: its TLV says {size} bytes, not {len(content)}")


def _check_chunk(chunk: int, largest: int) -> None:
    if not 1 <= chunk <= largest:
        raise ValueError(f"chunk {chunk} is outside 1..{largest}")


@dataclass(frozen=True, slots=True)
class ChipKeys:
    """The public keys of the key pairs a chip made for itself (the private keys stay in it)."""

    aa: ec.EllipticCurvePublicKey  # Active Authentication: DG15
    ca: ec.EllipticCurvePublicKey  # Chip Authentication: DG14


def initialise(
    transport: ChipTransport, document_number: str, date_of_birth: str, date_of_expiry: str
) -> ChipKeys:
    """The first step of personalisation, in clear: SELECT the LDS application, give the chip
    its access data (PUT DATA: it derives its BAC keys from the MRZ fields, as printed) and
    have it make its Active and Chip Authentication key pairs; returns their public keys.

    A chip that made its key pairs already (a personalisation that was interrupted) gives
    their public keys again instead."""
    transport.transmit(select_aid(LDS_AID))
    # Given already by an interrupted personalisation (6985): the chip keeps the first.
    with contextlib.suppress(ConditionsNotSatisfied):
        transport.transmit(put_access_data(document_number, date_of_birth, date_of_expiry))
    return ChipKeys(aa=_key_pair(transport, KEY_AA), ca=_key_pair(transport, KEY_CA))


def _key_pair(transport: ChipTransport, reference: int) -> ec.EllipticCurvePublicKey:
    try:
        answer = transport.transmit(generate_key_pair(reference))[0]
    except ConditionsNotSatisfied:
        answer = transport.transmit(generate_key_pair(reference, generate=False))[0]
    try:
        return public_key_of(answer)
    except ValueError as exc:
        raise MalformedFile(f"key pair {reference:02X}: {exc}", device=_device(transport)) from None


def personalise(
    transport: ChipTransport,
    files: Mapping[int, bytes],
    *,
    chunk: int = DEFAULT_CHUNK,
    extended_length: bool = True,
) -> bytes:
    """Write ``files`` (FID -> EF content, written in the mapping's order; the line uses
    ``LDS_FIDS``' order) to the chip's LDS application and lock it. Returns the chip's UID.

    Each content must be exactly one BER-TLV object, so that ``read_back`` returns it; that is
    checked before the first APDU (a chip written wrongly is a chip spoiled).

    With ``extended_length``, a transport that carries extended APDUs and a chip that
    declares them in EF.ATR/INFO (``printers.chip.atrinfo``), each UPDATE BINARY writes as
    much as the chip takes in one command instead of ``chunk`` bytes."""
    _check_files(files)
    _check_chunk(chunk, MAX_LC)
    uid = transport.uid()
    extended = False
    if extended_length and getattr(transport, "extended_length", False):
        lengths = read_extended_lengths(transport)
        if lengths is not None:
            chunk, extended = max(chunk, min(lengths.command - 7, MAX_EXTENDED_LC)), True
    transport.transmit(select_aid(LDS_AID))
    for fid, content in files.items():
        transport.transmit(create_file(fid, len(content)))  # the new EF becomes current
        for offset in range(0, len(content), chunk):
            part = content[offset : offset + chunk]
            transport.transmit(update_binary(offset, part, extended=extended))
    transport.transmit(lock())
    return uid


def read_back(
    transport: ChipTransport,
    fids: Iterable[int],
    *,
    chunk: int = DEFAULT_CHUNK,
    whole: bool = False,
    select_application: bool = True,
) -> dict[int, bytes]:
    """Read the EFs ``fids`` of the LDS application: FID -> exactly the bytes of the TLV
    object each one holds. A ``chunk`` over 256 reads with extended Le (for a chip that
    declared extended lengths, ``printers.chip.atrinfo``); ``whole`` (a chip that declared
    responses as long as an extended Le asks) asks for each EF whole first, in one READ
    BINARY by its short EF identifier with the maximum Le (ISO/IEC 7816-4 §5.1: everything
    to the end of the file), and selects it and reads it the header's way if the chip does
    not answer that. ``select_application`` False: the application is selected already
    (before BAC, by the caller)."""
    _check_chunk(chunk, MAX_EXTENDED_LE)
    if select_application:
        transport.transmit(select_aid(LDS_AID))
    found: dict[int, bytes] = {}
    for fid in fids:
        first = _read_whole(transport, fid) if whole else None
        if first is None:
            whole = False  # the chip did not answer that: select each EF from now on
            transport.transmit(select_fid(fid))
        found[fid] = _read_ef(transport, fid, chunk, first or b"")
    return found


def _read_whole(transport: ChipTransport, fid: int) -> bytes | None:
    """The EF ``fid`` from its start to its end, in one READ BINARY by its short EF
    identifier (its FID's last five bits: 9303-10) with Le ``00 00``; None if the chip does
    not answer that (no SFI, a warning, a length it cannot give at once)."""
    if fid >> 5 != _LDS_EF_PREFIX >> 5 or not 1 <= fid & 0x1F <= 30:
        return None
    try:
        return transport.transmit(read_binary_sfi(fid & 0x1F, 0, MAX_EXTENDED_LE, extended=True))[0]
    except (EndOfFile, WrongLength, WrongLe, WrongParameters, FileNotFound):
        return None


def _read_ef(transport: ChipTransport, fid: int, chunk: int, first: bytes) -> bytes:
    """The current EF, after ``first`` (what a first read gave of it, or nothing)."""
    # Read the header no further than it is known to reach (two bytes first: tag, length),
    # so that even a three-byte EF is never read past its end.
    content = bytearray(first)
    while True:
        try:
            size, needed = _parse_header(bytes(content))
        except ValueError as exc:
            raise MalformedFile(
                f"EF {fid:04X}: {exc}", device=_device(transport), fid=f"{fid:04X}"
            ) from exc
        if size is not None:
            break
        more = transport.transmit(read_binary(len(content), needed))[0]
        if not more:
            raise MalformedFile(f"EF {fid:04X}: empty read", device=_device(transport))
        content += more
    while len(content) < size:
        wanted = min(chunk, size - len(content))
        data = transport.transmit(read_binary(len(content), wanted, extended=wanted > MAX_LE))[0]
        if not data:
            raise MalformedFile(f"EF {fid:04X}: empty read", device=_device(transport))
        content += data
    return bytes(content[:size])


_LDS_EF_PREFIX = 0x0100  # the LDS application's EFs 0101..011E have SFIs 01..1E


def _device(transport: ChipTransport) -> str:
    return str(getattr(transport, "name", "chip"))
