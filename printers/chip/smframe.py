"""Secure messaging's frame (ICAO Doc 9303-11 §9.8, ISO/IEC 7816-4 §10), what both ends of
:mod:`printers.chip.sm` share: the data objects' tags and the status words, the errors, the
lengths of protected APDUs, the session state (keys, SSC, whose turn it is) and reading the
data objects of a message."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from printers.chip import tlv
from printers.chip.apdu import MAX_EXTENDED_LC, MAX_EXTENDED_LE, MAX_LC, MAX_LE
from printers.chip.smcrypto import MAC_LENGTH, CipherName, CipherSuite, SessionKeys, cipher_suite
from printers.errors import PrintersError

CLA_SM = 0x0C
"""CLA bits b4 b3 = 11: secure messaging, command header authenticated."""
CLA_CHAINING = 0x10
TAG_DATA = 0x87  # padding-content indicator byte, then the cryptogram
TAG_DATA_ODD_INS = 0x85  # the cryptogram of BER-TLV data (odd INS): not supported
TAG_LE = 0x97
TAG_STATUS = 0x99
TAG_MAC = 0x8E
PADDING_INDICATOR = 0x01  # ISO/IEC 9797-1 padding method 2 ("80 00 ...")
SW_OK = 0x9000
SW_SM_MISSING = 0x6987
"""Expected SM data objects missing (ISO/IEC 7816-4): a command in clear during SM, or no
``DO'8E'``; the chip answers it in clear and drops its session keys."""
SW_SM_INCORRECT = 0x6988
"""SM data objects incorrect: a wrong MAC, malformed or misplaced objects, bad padding; the
chip answers it in clear and drops its session keys."""


# --- errors -------------------------------------------------------------------------------


class SecureMessagingError(PrintersError):
    """Secure messaging failed; ``reason_code`` is ``sm.<what>``.

    ``sw`` is a status word in hex: on the chip side, the one to answer in clear (``6987``
    or ``6988``) after ending the session; on the reader side, for :class:`SmAborted`, the
    one the chip answered. Messages name data objects and lengths, never their values."""

    reason: ClassVar[str] = "sm.error"
    default_sw: ClassVar[int | None] = SW_SM_INCORRECT

    def __init__(
        self, message: str, *, reason_code: str | None = None, sw: str | None = None
    ) -> None:
        code = reason_code or self.reason
        if sw is None and self.default_sw is not None:
            sw = f"{self.default_sw:04X}"
        super().__init__(message, reason_code=code, sw=sw)
        self.reason_code = code
        self.sw = sw


class SmMacError(SecureMessagingError):
    """The MAC of a command or a response does not verify (tampered, replayed, wrong keys)."""

    reason = "sm.mac"


class SmFormatError(SecureMessagingError):
    """Missing, malformed or misplaced SM data objects, or bad padding."""

    reason = "sm.format"


class SmUnsupported(SecureMessagingError):
    """A command or response this implementation does not protect (extended length,
    chaining, odd INS with data, too long for a short APDU, an unusual CLA)."""

    reason = "sm.unsupported"


class SmAborted(SecureMessagingError):
    """The chip answered in clear (``sw``, typically ``6987``/``6988``): it has ended the
    session."""

    reason = "sm.aborted"
    default_sw = None


class SmSequenceError(SecureMessagingError):
    """A call out of turn (two commands without a response between them...)."""

    reason = "sm.sequence"


class SmSessionEnded(SecureMessagingError):
    """The channel was closed (after an error, or by ``close``): authenticate again."""

    reason = "sm.session_ended"


def unpad(data: bytes, block: int) -> bytes:
    """Remove padding method 2; raises :class:`SmFormatError` if ``data`` does not end in
    ``80`` followed by fewer than ``block`` zero bytes."""
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= block:
        raise SmFormatError("the decrypted data is not padded with 80 00..")
    return stripped[:-1]


# --- lengths --------------------------------------------------------------------------------


def _do87_length(data_length: int, block: int) -> int:
    """Bytes of ``DO'87'`` for ``data_length`` bytes of plain data (0: no DO)."""
    if not data_length:
        return 0
    value = 1 + (data_length // block + 1) * block
    return 1 + len(tlv.encode_length(value)) + value


def command_body_length(data_length: int, has_le: bool, block: int, *, le_bytes: int = 1) -> int:
    """Bytes of a protected command's data objects (``le_bytes``: 2 for an extended Le)."""
    return _do87_length(data_length, block) + (2 + le_bytes if has_le else 0) + 2 + MAC_LENGTH


def response_body_length(data_length: int, block: int) -> int:
    return _do87_length(data_length, block) + 4 + 2 + MAC_LENGTH


def _block(cipher: CipherName) -> int:
    return 8 if cipher == "3DES" else 16


def max_command_data(cipher: CipherName, *, with_le: bool = True) -> int:
    """The most command data whose protected command still fits a short APDU (Lc <= 255)."""
    block = _block(cipher)
    return max(n for n in range(MAX_LC + 1) if command_body_length(n, with_le, block) <= MAX_LC)


def max_response_data(cipher: CipherName, *, body: int = MAX_LE) -> int:
    """The most response data (a READ BINARY's Le) whose protected response fits ``body``
    bytes before SW1 SW2: the 256 a short Le of ``00`` allows by default (231 under 3DES,
    223 under AES), or what an extended Le and the chip's extended length information
    allow."""
    block = _block(cipher)
    n = max(0, body - 2 * block - 20)  # a little under the answer; then step up to it
    while response_body_length(n + 1, block) <= body:
        n += 1
    return n


# --- the channel ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExtendedLengths:
    """The most bytes of a (protected) command APDU and of a response APDU, SW1 SW2
    included, as a chip's extended length information says (``DO'7F66'``)."""

    command: int
    response: int

    def __post_init__(self) -> None:
        if not MAX_LC < self.command <= 4 + 3 + MAX_EXTENDED_LC + 2:
            raise ValueError(f"an extended command of at most {self.command} bytes")
        if not MAX_LE + 2 < self.response <= MAX_EXTENDED_LE + 2:
            raise ValueError(f"an extended response of at most {self.response} bytes")

    @property
    def response_body(self) -> int:
        """The most bytes of a protected response's data objects (before SW1 SW2)."""
        return min(self.response - 2, MAX_EXTENDED_LE)


def check_cla(cla: int) -> None:
    if cla & CLA_CHAINING:
        raise SmUnsupported("command chaining under secure messaging is not supported")
    if cla & 0xF0 not in (0x00, 0x80):
        raise SmUnsupported(f"CLA {cla:02X} is not an interindustry or proprietary class 0X/8X")


class ChannelBase:
    """What both ends share: the keys, the SSC, and whether the session is still on."""

    __slots__ = ("_keys", "_suite", "_ssc", "_limit", "_expect_response", "_extended")

    def __init__(self, keys: SessionKeys) -> None:
        self._keys: SessionKeys | None = keys
        self._suite: CipherSuite | None = cipher_suite(keys)
        self._ssc = keys.ssc
        self._limit = 1 << (8 * keys.ssc_size)
        self._expect_response = False
        self._extended: ExtendedLengths | None = None

    def allow_extended(self, lengths: ExtendedLengths | None) -> None:
        """Protect (and accept) extended-length APDUs up to ``lengths`` (None: short APDUs
        only, the default): what the chip declared and both ends can carry."""
        self._extended = lengths

    @property
    def extended(self) -> ExtendedLengths | None:
        return self._extended

    @property
    def open(self) -> bool:
        return self._suite is not None

    @property
    def keys(self) -> SessionKeys:
        """The session keys with the SSC as it is now (what a new channel would resume from)."""
        if self._keys is None:
            raise SmSessionEnded("the secure messaging session has ended")
        return replace(self._keys, ssc=self._ssc)

    @property
    def cipher(self) -> CipherName:
        if self._keys is None:
            raise SmSessionEnded("the secure messaging session has ended")
        return self._keys.cipher

    def close(self) -> None:
        """End the session: the keys are dropped; every further call raises."""
        self._keys = None
        self._suite = None

    def _live(self) -> CipherSuite:
        if self._suite is None:
            raise SmSessionEnded("the secure messaging session has ended")
        return self._suite

    def _next_ssc(self) -> bytes:
        self._ssc += 1
        if self._ssc >= self._limit:
            self.close()
            raise SmSessionEnded("the send sequence counter is exhausted")
        assert self._keys is not None
        return self._ssc.to_bytes(self._keys.ssc_size, "big")

    def _fail(self, error: SecureMessagingError) -> SecureMessagingError:
        self.close()
        return error

    def _turn(self, response: bool, what: str) -> None:
        if self._expect_response is not response:
            expected = "a response" if self._expect_response else "a command"
            raise self._fail(SmSequenceError(f"{what} out of turn: {expected} was due"))


def wrap_do87(cryptogram: bytes) -> bytes:
    """``87 L 01 <cryptogram>``, L in BER (short, ``81 xx``, or ``82 xxxx`` for the
    cryptogram of an extended APDU)."""
    length = len(cryptogram) + 1
    if length < 0x80:
        head = bytes((TAG_DATA, length))
    elif length <= 0xFF:
        head = bytes((TAG_DATA, 0x81, length))
    else:
        head = bytes((TAG_DATA, 0x82)) + length.to_bytes(2, "big")
    return head + b"\x01" + cryptogram


def data_objects(channel: ChannelBase, body: bytes, what: str) -> list[tuple[int, bytes, bytes]]:
    """The data objects of ``body`` as (tag, value, encoded bytes as received); malformed
    ones end ``channel``'s session.

    Every SM data object has a one-byte tag, so this reads only those (a multi-byte tag is
    refused as malformed) with BER lengths ``xx``, ``81 xx`` or ``82 xxxx``: a strict and
    faster subset of :func:`printers.chip.tlv.decode` for the per-message path."""
    found = []
    offset, size = 0, len(body)
    while offset < size:
        tag = body[offset]
        position = offset + 2
        if tag & 0x1F == 0x1F or tag in (0x00, 0xFF) or position > size:
            raise channel._fail(SmFormatError(f"the {what}'s SM data objects are malformed"))
        length = body[offset + 1]
        if length >= 0x80:
            count = length & 0x7F
            if count not in (1, 2) or position + count > size:
                raise channel._fail(
                    SmFormatError(f"the {what}'s SM data objects have a bad length")
                )
            length = int.from_bytes(body[position : position + count], "big")
            position += count
        end = position + length
        if end > size:
            raise channel._fail(SmFormatError(f"the {what}'s SM data objects are truncated"))
        found.append((tag, body[position:end], body[offset:end]))
        offset = end
    return found


def decrypt_do87(
    channel: ChannelBase, suite: CipherSuite, value: bytes, ssc: bytes, what: str
) -> bytes:
    cryptogram = value[1:]
    if not value or value[0] != PADDING_INDICATOR:
        raise channel._fail(SmFormatError(f"the {what}'s DO'87' lacks the padding indicator 01"))
    if not cryptogram or len(cryptogram) % suite.block:
        raise channel._fail(
            SmFormatError(f"the {what}'s cryptogram is not whole {suite.block}-byte blocks")
        )
    try:
        return unpad(suite.decrypt(cryptogram, ssc), suite.block)
    except SmFormatError as error:
        raise channel._fail(error) from None
