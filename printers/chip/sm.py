"""Secure Messaging (ICAO Doc 9303-11 §9.8, ISO/IEC 7816-4 §10): both ends of the channel.

After BAC (or Chip Authentication, or PACE) every command and response travels protected:

- **command**: the CLA gets the SM bits (``| 0C``: header authenticated); the command data,
  padded (ISO/IEC 9797-1 method 2, ``80 00 ..``) and encrypted, goes in ``DO'87'`` behind
  the padding-content indicator ``01``; Le goes in ``DO'97'``; ``DO'8E'`` holds the MAC
  over ``SSC || padded header || DO'87' || DO'97'`` (padded). The protected APDU is
  ``header || Lc || DOs || 00``.
- **response**: ``DO'87'`` (encrypted data, if any), ``DO'99'`` (the status word), then
  ``DO'8E'``, the MAC over ``SSC || DO'87' || DO'99'`` (padded); then SW1 SW2 in clear.
- the **send sequence counter** (SSC) is incremented before each command and before each
  response, on both sides: a replayed or reordered message carries a MAC over the wrong
  SSC and is refused.

Ciphers (``SessionKeys.cipher``):

============  ===========================  ======================================  =====
cipher        encryption                   MAC (8 bytes)                           SSC
============  ===========================  ======================================  =====
``3DES``      3DES-CBC (K1 K2 K1), IV 0    ISO/IEC 9797-1 MAC algorithm 3 (DES)    8 B
``AES-128``   AES-CBC, IV = E(KSenc, SSC)  AES-CMAC, truncated to 8 bytes          16 B
``AES-192``   (same, 24-byte keys)         (same)                                  16 B
``AES-256``   (same, 32-byte keys)         (same)                                  16 B
============  ===========================  ======================================  =====

Scope and choices:

- **short APDUs only** (cases 1 to 4, Lc <= 255, Le <= 256). Extended lengths, command
  chaining (CLA b5) and an odd INS with command data (which would need ``DO'85'``, the
  cryptogram of BER-TLV data; ICAO uses it for READ BINARY with INS ``B1``) raise
  :class:`SmUnsupported`. So does a command or response whose protected form would not
  fit a short APDU: :func:`max_command_data` and :func:`max_response_data` say how much
  fits (a READ BINARY under 3DES returns at most 231 bytes, under AES 223).
- a response must carry ``DO'99'``: the status word is authenticated, always; the
  trailing SW1 SW2 in clear is not, and is ignored once ``DO'99'`` is verified.
- the MAC input is always padded (ISO/IEC 9797-1 padding method 2 adds at least the
  ``80``), also for a case-1 command, which has no ``DO'87'`` or ``DO'97'`` (JMRTD leaves
  ``SSC || padded header`` unpadded there; ZeroPass dmrtd pads, as here). Both ends here
  agree; no LDS1 command the line uses is case 1.
- **failures end the session**: a MAC that does not verify (:class:`SmMacError`),
  missing or malformed data objects (:class:`SmFormatError`), or a response in clear
  (:class:`SmAborted`) close the channel, which then refuses every call
  (:class:`SmSessionEnded`). 9303-11 has the chip answer an SM fault in clear with
  ``6987`` (expected SM data objects missing) or ``6988`` (SM data objects incorrect)
  and drop its session keys; each chip-side error carries the one to answer in ``sw``.
  A command the reader side refuses before sending it, or a response the chip side
  refuses to protect because it is too long (:class:`SmUnsupported`), leaves the channel
  as it was (the chip then protects a shorter answer, ``6700`` say).
- each end alternates strictly (reader: protect, unprotect; chip: unprotect, protect):
  anything else raises :class:`SmSequenceError` and ends the session, since the two
  counters would no longer agree (a lost response, for instance: BAC again).

Cipher objects are made once per channel (``cryptography``'s ``Cipher`` for 3DES, the DES
contexts of the retail MAC's final step, AES-ECB for the IVs, a CMAC template to copy);
only the per-message CBC contexts are new. Messages never hold key or data bytes.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from typing import ClassVar, Literal, Protocol

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from line.errors import CardlineError
from printers.chip import tlv
from printers.chip.apdu import MAX_LC, MAX_LE, Apdu

CipherName = Literal["3DES", "AES-128", "AES-192", "AES-256"]
"""The SM ciphers: 3DES (BAC, CA with 3DES) and AES (CA, PACE)."""

CIPHERS: tuple[CipherName, ...] = ("3DES", "AES-128", "AES-192", "AES-256")
KEY_LENGTHS: dict[CipherName, int] = {"3DES": 16, "AES-128": 16, "AES-192": 24, "AES-256": 32}
"""Bytes of KSenc and KSmac: 3DES keys are two DES keys K1 K2 (used as K1 K2 K1)."""

CLA_SM = 0x0C
"""CLA bits b4 b3 = 11: secure messaging, command header authenticated."""
CLA_CHAINING = 0x10
TAG_DATA = 0x87  # padding-content indicator byte, then the cryptogram
TAG_DATA_ODD_INS = 0x85  # the cryptogram of BER-TLV data (odd INS): not supported
TAG_LE = 0x97
TAG_STATUS = 0x99
TAG_MAC = 0x8E
PADDING_INDICATOR = 0x01  # ISO/IEC 9797-1 padding method 2 ("80 00 ...")
MAC_LENGTH = 8
SW_OK = 0x9000
SW_SM_MISSING = 0x6987
"""Expected SM data objects missing (ISO/IEC 7816-4): a command in clear during SM, or no
``DO'8E'``; the chip answers it in clear and drops its session keys."""
SW_SM_INCORRECT = 0x6988
"""SM data objects incorrect: a wrong MAC, malformed or misplaced objects, bad padding; the
chip answers it in clear and drops its session keys."""


# --- errors -------------------------------------------------------------------------------


class SecureMessagingError(CardlineError):
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


# --- keys -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class SessionKeys:
    """The keys of one SM session and its send sequence counter (the value before the next
    command; it is incremented before use). ``repr`` shows the cipher and the SSC, never a
    key."""

    cipher: CipherName
    ksenc: bytes
    ksmac: bytes
    ssc: int

    def __post_init__(self) -> None:
        if self.cipher not in CIPHERS:
            raise ValueError(f"unknown SM cipher {self.cipher!r}; known: {', '.join(CIPHERS)}")
        size = KEY_LENGTHS[self.cipher]
        for name in ("ksenc", "ksmac"):
            if len(getattr(self, name)) != size:
                raise ValueError(f"{self.cipher} needs a {size}-byte {name}")
        if not 0 <= self.ssc < 1 << (8 * self.ssc_size):
            raise ValueError(f"SSC does not fit {self.ssc_size} bytes")

    @property
    def ssc_size(self) -> int:
        """Bytes of the SSC: the cipher's block size (8 for 3DES, 16 for AES)."""
        return 8 if self.cipher == "3DES" else 16

    @property
    def ssc_bytes(self) -> bytes:
        return self.ssc.to_bytes(self.ssc_size, "big")

    @property
    def block_size(self) -> int:
        return self.ssc_size

    def __repr__(self) -> str:
        return f"SessionKeys({self.cipher}, ssc={self.ssc_bytes.hex().upper()})"


# --- primitives -----------------------------------------------------------------------------


def pad(data: bytes, block: int) -> bytes:
    """ISO/IEC 9797-1 padding method 2 (ISO/IEC 7816-4): ``80``, then ``00`` to the block."""
    return data + b"\x80" + bytes(-(len(data) + 1) % block)


def unpad(data: bytes, block: int) -> bytes:
    """Remove padding method 2; raises :class:`SmFormatError` if ``data`` does not end in
    ``80`` followed by fewer than ``block`` zero bytes."""
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= block:
        raise SmFormatError("the decrypted data is not padded with 80 00..")
    return stripped[:-1]


def _des3(key: bytes) -> TripleDES:
    """3DES with the 24-byte key ``cryptography`` wants: K1 K2 K1 from 16 bytes, K K K from
    8 bytes (single DES)."""
    if len(key) == 8:
        return TripleDES(key * 3)
    if len(key) == 16:
        return TripleDES(key + key[:8])
    raise ValueError(f"a DES key has 8 or 16 bytes, not {len(key)}")


class TripleDesCbc:
    """3DES-CBC with a zero IV and no padding (BAC's E_IFD/E_IC, 3DES secure messaging)."""

    __slots__ = ("_cipher",)

    def __init__(self, key: bytes) -> None:
        self._cipher = Cipher(_des3(key), modes.CBC(bytes(8)))

    def encrypt(self, data: bytes) -> bytes:
        context = self._cipher.encryptor()
        return context.update(data) + context.finalize()

    def decrypt(self, data: bytes) -> bytes:
        context = self._cipher.decryptor()
        return context.update(data) + context.finalize()


class RetailMac:
    """ISO/IEC 9797-1 MAC algorithm 3 with DES (the "retail MAC"), 8 bytes, over a 16-byte
    key K1 K2: DES-CBC with K1 over every block, then the last block decrypted with K2 and
    encrypted with K1. :meth:`mac` pads with method 2 first; :meth:`mac_padded` takes data
    already padded to 8 bytes. Not thread-safe (it keeps its DES contexts): one per
    session."""

    __slots__ = ("_cbc", "_decrypt_k2", "_encrypt_k1")

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError(f"a retail MAC key has 16 bytes, not {len(key)}")
        self._cbc = Cipher(_des3(key[:8]), modes.CBC(bytes(8)))
        # ECB contexts hold no state between blocks: made once, fed one block per MAC.
        self._decrypt_k2: CipherContext = Cipher(_des3(key[8:]), modes.ECB()).decryptor()
        self._encrypt_k1: CipherContext = Cipher(_des3(key[:8]), modes.ECB()).encryptor()

    def mac(self, data: bytes) -> bytes:
        return self.mac_padded(pad(data, 8))

    def mac_padded(self, data: bytes) -> bytes:
        if not data or len(data) % 8:
            raise ValueError("the retail MAC needs whole 8-byte blocks")
        last = self._cbc.encryptor().update(data)[-8:]
        return self._encrypt_k1.update(self._decrypt_k2.update(last))


class _Suite(Protocol):
    """One cipher's encryption and MAC, keys bound."""

    block: int

    def encrypt(self, padded: bytes, ssc: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes, ssc: bytes) -> bytes: ...

    def mac(self, padded: bytes) -> bytes: ...


class _TripleDesSuite:
    block = 8

    def __init__(self, ksenc: bytes, ksmac: bytes) -> None:
        self._cbc = TripleDesCbc(ksenc)
        self._mac = RetailMac(ksmac)

    def encrypt(self, padded: bytes, ssc: bytes) -> bytes:
        return self._cbc.encrypt(padded)

    def decrypt(self, ciphertext: bytes, ssc: bytes) -> bytes:
        return self._cbc.decrypt(ciphertext)

    def mac(self, padded: bytes) -> bytes:
        return self._mac.mac_padded(padded)


class _AesSuite:
    block = 16

    def __init__(self, ksenc: bytes, ksmac: bytes) -> None:
        self._algorithm = algorithms.AES(ksenc)
        self._ivs: CipherContext = Cipher(self._algorithm, modes.ECB()).encryptor()
        self._cmac = cmac.CMAC(algorithms.AES(ksmac))

    def _iv(self, ssc: bytes) -> bytes:
        return self._ivs.update(ssc)  # IV = E(KSenc, SSC), 9303-11 §9.8.6.1

    def encrypt(self, padded: bytes, ssc: bytes) -> bytes:
        context = Cipher(self._algorithm, modes.CBC(self._iv(ssc))).encryptor()
        return context.update(padded) + context.finalize()

    def decrypt(self, ciphertext: bytes, ssc: bytes) -> bytes:
        context = Cipher(self._algorithm, modes.CBC(self._iv(ssc))).decryptor()
        return context.update(ciphertext) + context.finalize()

    def mac(self, padded: bytes) -> bytes:
        context = self._cmac.copy()
        context.update(padded)
        return context.finalize()[:MAC_LENGTH]


def _suite(keys: SessionKeys) -> _Suite:
    if keys.cipher == "3DES":
        return _TripleDesSuite(keys.ksenc, keys.ksmac)
    return _AesSuite(keys.ksenc, keys.ksmac)


# --- lengths --------------------------------------------------------------------------------


def _do87_length(data_length: int, block: int) -> int:
    """Bytes of ``DO'87'`` for ``data_length`` bytes of plain data (0: no DO)."""
    if not data_length:
        return 0
    value = 1 + (data_length // block + 1) * block
    return 1 + len(tlv.encode_length(value)) + value


def _command_body_length(data_length: int, has_le: bool, block: int) -> int:
    return _do87_length(data_length, block) + (3 if has_le else 0) + 2 + MAC_LENGTH


def _response_body_length(data_length: int, block: int) -> int:
    return _do87_length(data_length, block) + 4 + 2 + MAC_LENGTH


def _block(cipher: CipherName) -> int:
    return 8 if cipher == "3DES" else 16


def max_command_data(cipher: CipherName, *, with_le: bool = True) -> int:
    """The most command data whose protected command still fits a short APDU (Lc <= 255)."""
    block = _block(cipher)
    return max(n for n in range(MAX_LC + 1) if _command_body_length(n, with_le, block) <= MAX_LC)


def max_response_data(cipher: CipherName) -> int:
    """The most response data (a READ BINARY's Le) whose protected response fits the 256
    bytes a short Le of ``00`` allows: 231 under 3DES, 223 under AES."""
    block = _block(cipher)
    return max(n for n in range(MAX_LE + 1) if _response_body_length(n, block) <= MAX_LE)


# --- the channel ----------------------------------------------------------------------------


def _check_cla(cla: int) -> None:
    if cla & CLA_CHAINING:
        raise SmUnsupported("command chaining under secure messaging is not supported")
    if cla & 0xF0 not in (0x00, 0x80):
        raise SmUnsupported(f"CLA {cla:02X} is not an interindustry or proprietary class 0X/8X")


class _Channel:
    """What both ends share: the keys, the SSC, and whether the session is still on."""

    __slots__ = ("_keys", "_suite", "_ssc", "_limit", "_expect_response")

    def __init__(self, keys: SessionKeys) -> None:
        self._keys: SessionKeys | None = keys
        self._suite: _Suite | None = _suite(keys)
        self._ssc = keys.ssc
        self._limit = 1 << (8 * keys.ssc_size)
        self._expect_response = False

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

    def _live(self) -> _Suite:
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


def _do87(cryptogram: bytes) -> bytes:
    """``87 L 01 <cryptogram>``, L in BER (short, or ``81 xx``: a short APDU needs no more)."""
    length = len(cryptogram) + 1
    head = bytes((TAG_DATA, length)) if length < 0x80 else bytes((TAG_DATA, 0x81, length))
    return head + b"\x01" + cryptogram


def _objects(channel: _Channel, body: bytes, what: str) -> list[tuple[int, bytes, bytes]]:
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


class ReaderChannel(_Channel):
    """The inspection system's end: :meth:`protect` each command, :meth:`unprotect` its
    response, in turn."""

    __slots__ = ()

    def protect(self, command: bytes) -> bytes:
        """The protected form of a short command APDU (cases 1 to 4)."""
        suite = self._live()
        self._turn(False, "a command")
        try:
            apdu = Apdu.from_bytes(command)
        except ValueError as error:
            raise SmUnsupported(f"not a short command APDU: {error}") from None
        _check_cla(apdu.cla)
        if apdu.cla & CLA_SM:
            raise SmUnsupported(f"CLA {apdu.cla:02X} already has the secure messaging bits")
        if apdu.data and apdu.ins & 1:
            raise SmUnsupported(f"INS {apdu.ins:02X} is odd: its data would need DO'85'")
        body_length = _command_body_length(len(apdu.data), apdu.le is not None, suite.block)
        if body_length > MAX_LC:
            raise SmUnsupported(
                f"{len(apdu.data)} bytes of data make a protected command of {body_length} "
                f"bytes: more than a short APDU holds"
            )
        ssc = self._next_ssc()
        header = bytes((apdu.cla | CLA_SM, apdu.ins, apdu.p1, apdu.p2))
        do87 = b""
        if apdu.data:
            cryptogram = suite.encrypt(pad(apdu.data, suite.block), ssc)
            do87 = _do87(cryptogram)
        do97 = b"" if apdu.le is None else bytes((TAG_LE, 1, apdu.le & 0xFF))
        mac = suite.mac(pad(ssc + pad(header, suite.block) + do87 + do97, suite.block))
        body = do87 + do97 + bytes((TAG_MAC, MAC_LENGTH)) + mac
        self._expect_response = True
        return header + bytes((len(body),)) + body + b"\x00"

    def unprotect(self, response: bytes) -> tuple[bytes, int]:
        """The response data and status word of a protected response (data, SW1 SW2)."""
        suite = self._live()
        self._turn(True, "a response")
        self._expect_response = False
        ssc = self._next_ssc()
        if len(response) < 2:
            raise self._fail(SmFormatError(f"a response of {len(response)} bytes has no SW"))
        body, trailer = response[:-2], response[-2:]
        if not body:
            raise self._fail(
                SmAborted(
                    f"the chip answered {trailer.hex().upper()} in clear: it ended the session",
                    sw=trailer.hex().upper(),
                )
            )
        objects = _objects(self, body, "response")
        tags = [tag for tag, _, _ in objects]
        if TAG_DATA_ODD_INS in tags:
            raise self._fail(SmUnsupported("a response with DO'85' (odd INS) is not supported"))
        if tags not in ([TAG_DATA, TAG_STATUS, TAG_MAC], [TAG_STATUS, TAG_MAC]):
            found = " ".join(f"{tag:X}" for tag in tags)
            raise self._fail(SmFormatError(f"a response needs [DO'87'] DO'99' DO'8E', not {found}"))
        *protected, (_, mac, _) = objects
        status = protected[-1][1]
        if len(status) != 2 or len(mac) != MAC_LENGTH:
            raise self._fail(SmFormatError("DO'99' needs 2 bytes and DO'8E' 8"))
        covered = b"".join(raw for _, _, raw in protected)
        if not hmac.compare_digest(suite.mac(pad(ssc + covered, suite.block)), mac):
            raise self._fail(SmMacError("the response's MAC does not verify"))
        data = b""
        if len(protected) == 2:
            data = _decrypt_do87(self, suite, protected[0][1], ssc, "response")
        return data, int.from_bytes(status, "big")


def _decrypt_do87(channel: _Channel, suite: _Suite, value: bytes, ssc: bytes, what: str) -> bytes:
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


class ChipChannel(_Channel):
    """The chip's end: :meth:`unprotect_command` each command, :meth:`protect_response` its
    response, in turn. Any error closes the channel; answer the error's ``sw`` in clear."""

    __slots__ = ()

    def unprotect_command(self, command: bytes) -> bytes:
        """The plain command APDU of a protected one."""
        suite = self._live()
        self._turn(False, "a command")
        ssc = self._next_ssc()
        self._expect_response = True  # even a refused command gets its answer (in clear)
        if len(command) < 4:
            raise self._fail(SmFormatError(f"a command of {len(command)} bytes has no header"))
        cla, ins, p1, p2 = command[:4]
        if cla & CLA_SM != CLA_SM:
            raise self._fail(
                SmFormatError(
                    f"CLA {cla:02X}: a command in clear during secure messaging",
                    reason_code="sm.missing",
                    sw=f"{SW_SM_MISSING:04X}",
                )
            )
        try:
            _check_cla(cla)
        except SmUnsupported as error:
            raise self._fail(error) from None
        body = command[4:]
        if len(body) < 2:
            raise self._fail(
                SmFormatError(
                    "a protected command needs Lc and its SM data objects",
                    reason_code="sm.missing",
                    sw=f"{SW_SM_MISSING:04X}",
                )
            )
        lc = body[0]
        if lc == 0:
            raise self._fail(SmUnsupported("extended-length APDUs are not supported"))
        if len(body) not in (1 + lc, 2 + lc):
            raise self._fail(SmFormatError(f"a body of {len(body)} bytes does not match Lc {lc}"))
        objects = _objects(self, body[1 : 1 + lc], "command")
        tags = [tag for tag, _, _ in objects]
        if TAG_DATA_ODD_INS in tags:
            raise self._fail(SmUnsupported("a command with DO'85' (odd INS) is not supported"))
        if not tags or tags[-1] != TAG_MAC:
            raise self._fail(
                SmFormatError(
                    "the command has no DO'8E'",
                    reason_code="sm.missing",
                    sw=f"{SW_SM_MISSING:04X}",
                )
            )
        if tags[:-1] not in ([], [TAG_DATA], [TAG_LE], [TAG_DATA, TAG_LE]):
            found = " ".join(f"{tag:X}" for tag in tags)
            raise self._fail(
                SmFormatError(f"a command needs [DO'87'] [DO'97'] DO'8E', not {found}")
            )
        *protected, (_, mac, _) = objects
        if len(mac) != MAC_LENGTH:
            raise self._fail(SmFormatError("DO'8E' needs 8 bytes"))
        covered = b"".join(raw for _, _, raw in protected)
        header = bytes((cla, ins, p1, p2))
        expected = suite.mac(pad(ssc + pad(header, suite.block) + covered, suite.block))
        if not hmac.compare_digest(expected, mac):
            raise self._fail(SmMacError("the command's MAC does not verify"))
        data, le = b"", None
        for tag, value, _ in protected:
            if tag == TAG_LE:
                if len(value) != 1:
                    what = "an extended Le" if len(value) == 2 else f"{len(value)} bytes"
                    raise self._fail(SmUnsupported(f"DO'97' holds {what}"))
                le = value[0] or MAX_LE
            else:
                data = _decrypt_do87(self, suite, value, ssc, "command")
        if data and ins & 1:
            raise self._fail(SmUnsupported(f"INS {ins:02X} is odd: its data would need DO'85'"))
        return Apdu(cla & ~CLA_SM & 0xFF, ins, p1, p2, data, le).to_bytes()

    def protect_response(self, data: bytes, sw: int) -> bytes:
        """The protected response: ``[DO'87'] DO'99' DO'8E'`` then SW1 SW2 (``sw`` again)."""
        suite = self._live()
        self._turn(True, "a response")
        if not 0 <= sw <= 0xFFFF:
            raise ValueError(f"status word {sw} is not two bytes")
        body_length = _response_body_length(len(data), suite.block)
        if body_length > MAX_LE:  # refused before the SSC moves: answer something shorter
            raise SmUnsupported(
                f"{len(data)} bytes of data make a protected response of {body_length} "
                f"bytes: more than a short APDU holds"
            )
        self._expect_response = False
        ssc = self._next_ssc()
        do87 = b""
        if data:
            cryptogram = suite.encrypt(pad(data, suite.block), ssc)
            do87 = _do87(cryptogram)
        status = sw.to_bytes(2, "big")
        do99 = bytes((TAG_STATUS, 2)) + status
        mac = suite.mac(pad(ssc + do87 + do99, suite.block))
        return do87 + do99 + bytes((TAG_MAC, MAC_LENGTH)) + mac + status
