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

- **short APDUs** (cases 1 to 4, Lc <= 255, Le <= 256) by default; **extended lengths**
  only on a channel told the chip's limits (``allow_extended``, from its EF.ATR/INFO:
  :mod:`printers.chip.atrinfo`), as 9303-11 allows when the chip declares them: the
  protected command then carries ``00 Lc Lc`` and Le ``00 00``, ``DO'97'`` two bytes of
  Le, ``DO'87'`` a ``82 xxxx`` length. Command chaining (CLA b5) and an odd INS with
  command data (which would need ``DO'85'``, the cryptogram of BER-TLV data; ICAO uses it
  for READ BINARY with INS ``B1``) raise :class:`SmUnsupported`. So does a command or
  response whose protected form would not fit: :func:`max_command_data` and
  :func:`max_response_data` say how much fits (a READ BINARY under 3DES returns at most
  231 bytes, under AES 223, in a short APDU).
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

from printers.chip.apdu import MAX_EXTENDED_LE, MAX_LC, MAX_LE, Apdu
from printers.chip.smcrypto import CIPHERS as CIPHERS
from printers.chip.smcrypto import KEY_LENGTHS as KEY_LENGTHS
from printers.chip.smcrypto import MAC_LENGTH
from printers.chip.smcrypto import CipherName as CipherName
from printers.chip.smcrypto import RetailMac as RetailMac
from printers.chip.smcrypto import SessionKeys as SessionKeys
from printers.chip.smcrypto import TripleDesCbc as TripleDesCbc
from printers.chip.smcrypto import pad as pad
from printers.chip.smframe import (
    CLA_SM,
    SW_SM_MISSING,
    TAG_DATA,
    TAG_DATA_ODD_INS,
    TAG_LE,
    TAG_MAC,
    TAG_STATUS,
    ChannelBase,
    check_cla,
    command_body_length,
    data_objects,
    decrypt_do87,
    response_body_length,
    wrap_do87,
)
from printers.chip.smframe import SW_OK as SW_OK
from printers.chip.smframe import ExtendedLengths as ExtendedLengths
from printers.chip.smframe import SecureMessagingError as SecureMessagingError
from printers.chip.smframe import SmAborted as SmAborted
from printers.chip.smframe import SmFormatError as SmFormatError
from printers.chip.smframe import SmMacError as SmMacError
from printers.chip.smframe import SmSequenceError as SmSequenceError
from printers.chip.smframe import SmSessionEnded as SmSessionEnded
from printers.chip.smframe import SmUnsupported as SmUnsupported
from printers.chip.smframe import max_command_data as max_command_data
from printers.chip.smframe import max_response_data as max_response_data
from printers.chip.smframe import unpad as unpad


class ReaderChannel(ChannelBase):
    """The inspection system's end: :meth:`protect` each command, :meth:`unprotect` its
    response, in turn."""

    __slots__ = ()

    def protect(self, command: bytes) -> bytes:
        """The protected form of a command APDU (cases 1 to 4; extended ones too when
        :meth:`allow_extended` allowed them)."""
        suite = self._live()
        self._turn(False, "a command")
        extended = self._extended
        try:
            apdu = Apdu.from_bytes(command, extended=extended is not None)
        except ValueError as error:
            raise SmUnsupported(f"not a short command APDU: {error}") from None
        check_cla(apdu.cla)
        if apdu.cla & CLA_SM:
            raise SmUnsupported(f"CLA {apdu.cla:02X} already has the secure messaging bits")
        if apdu.data and apdu.ins & 1:
            raise SmUnsupported(f"INS {apdu.ins:02X} is odd: its data would need DO'85'")
        long_le = apdu.le is not None and apdu.le > MAX_LE
        body_length = command_body_length(
            len(apdu.data), apdu.le is not None, suite.block, le_bytes=2 if long_le else 1
        )
        # Extended when the command needs it, or when its answer, once protected, would not
        # fit the 256 bytes a short Le allows (239 bytes under 3DES make 258).
        long_form = (
            long_le
            or body_length > MAX_LC
            or (
                extended is not None
                and apdu.le is not None
                and response_body_length(apdu.le, suite.block) > MAX_LE
            )
        )
        if long_form and (extended is None or 4 + 3 + body_length + 2 > extended.command):
            raise SmUnsupported(
                f"{len(apdu.data)} bytes of data make a protected command of {body_length} "
                f"bytes: more than {'a short APDU' if extended is None else 'the chip'} holds"
            )
        ssc = self._next_ssc()
        header = bytes((apdu.cla | CLA_SM, apdu.ins, apdu.p1, apdu.p2))
        do87 = b""
        if apdu.data:
            cryptogram = suite.encrypt(pad(apdu.data, suite.block), ssc)
            do87 = wrap_do87(cryptogram)
        if apdu.le is None:
            do97 = b""
        elif long_le:
            do97 = bytes((TAG_LE, 2)) + (apdu.le & 0xFFFF).to_bytes(2, "big")
        else:
            do97 = bytes((TAG_LE, 1, apdu.le & 0xFF))
        mac = suite.mac(pad(ssc + pad(header, suite.block) + do87 + do97, suite.block))
        body = do87 + do97 + bytes((TAG_MAC, MAC_LENGTH)) + mac
        self._expect_response = True
        if long_form:  # extended Lc, and Le 00 00: the chip answers up to what it declared
            return header + b"\x00" + len(body).to_bytes(2, "big") + body + b"\x00\x00"
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
        objects = data_objects(self, body, "response")
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
            data = decrypt_do87(self, suite, protected[0][1], ssc, "response")
        return data, int.from_bytes(status, "big")


class ChipChannel(ChannelBase):
    """The chip's end: :meth:`unprotect_command` each command, :meth:`protect_response` its
    response, in turn. Any error closes the channel; answer the error's ``sw`` in clear."""

    __slots__ = ("_response_body",)

    def __init__(self, keys: SessionKeys) -> None:
        super().__init__(keys)
        self._response_body = MAX_LE  # what the current command's Le lets the answer hold

    def unprotect_command(self, command: bytes) -> bytes:
        """The plain command APDU of a protected one."""
        suite = self._live()
        self._turn(False, "a command")
        ssc = self._next_ssc()
        self._expect_response = True  # even a refused command gets its answer (in clear)
        header, region = self._header_and_objects(command)
        protected, mac = self._command_objects(region)
        covered = b"".join(raw for _, _, raw in protected)
        expected = suite.mac(pad(ssc + pad(header, suite.block) + covered, suite.block))
        if not hmac.compare_digest(expected, mac):
            raise self._fail(SmMacError("the command's MAC does not verify"))
        data, le = b"", None
        for tag, value, _ in protected:
            if tag == TAG_LE:
                if len(value) == 2 and self._extended is not None:
                    le = int.from_bytes(value, "big") or MAX_EXTENDED_LE
                elif len(value) != 1:
                    what = "an extended Le" if len(value) == 2 else f"{len(value)} bytes"
                    raise self._fail(SmUnsupported(f"DO'97' holds {what}"))
                else:
                    le = value[0] or MAX_LE
            else:
                data = decrypt_do87(self, suite, value, ssc, "command")
        cla, ins, p1, p2 = header
        if data and ins & 1:
            raise self._fail(SmUnsupported(f"INS {ins:02X} is odd: its data would need DO'85'"))
        return Apdu(cla & ~CLA_SM & 0xFF, ins, p1, p2, data, le).to_bytes()

    def _header_and_objects(self, command: bytes) -> tuple[bytes, bytes]:
        """The protected command's header and the bytes of its SM data objects (what Lc
        covers), once the CLA says SM and the lengths agree; else the session ends."""
        if len(command) < 4:
            raise self._fail(SmFormatError(f"a command of {len(command)} bytes has no header"))
        cla = command[0]
        if cla & CLA_SM != CLA_SM:
            raise self._fail(
                SmFormatError(
                    f"CLA {cla:02X}: a command in clear during secure messaging",
                    reason_code="sm.missing",
                    sw=f"{SW_SM_MISSING:04X}",
                )
            )
        try:
            check_cla(cla)
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
        self._response_body = MAX_LE
        if lc == 0:
            return command[:4], self._extended_objects(body)
        if len(body) not in (1 + lc, 2 + lc):
            raise self._fail(SmFormatError(f"a body of {len(body)} bytes does not match Lc {lc}"))
        return command[:4], body[1 : 1 + lc]

    def _extended_objects(self, body: bytes) -> bytes:
        """The SM data objects of an extended protected command (``00 Lc Lc`` objects
        ``[Le Le]``), if this chip declared extended lengths; its answer may then be as
        long as the chip declared."""
        extended = self._extended
        if extended is None:
            raise self._fail(SmUnsupported("extended-length APDUs are not supported"))
        lc = int.from_bytes(body[1:3], "big") if len(body) >= 3 else 0
        if lc == 0 or len(body) not in (3 + lc, 5 + lc) or 4 + len(body) > extended.command:
            raise self._fail(
                SmFormatError(f"an extended body of {len(body)} bytes does not match its Lc")
            )
        if len(body) == 5 + lc:
            self._response_body = extended.response_body
        return body[3 : 3 + lc]

    def _command_objects(self, region: bytes) -> tuple[list[tuple[int, bytes, bytes]], bytes]:
        """The command's protected data objects (``[DO'87'] [DO'97']``, in that order) and
        its MAC (``DO'8E'``, last); anything else ends the session."""
        objects = data_objects(self, region, "command")
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
        return protected, mac

    def protect_response(self, data: bytes, sw: int) -> bytes:
        """The protected response: ``[DO'87'] DO'99' DO'8E'`` then SW1 SW2 (``sw`` again)."""
        suite = self._live()
        self._turn(True, "a response")
        if not 0 <= sw <= 0xFFFF:
            raise ValueError(f"status word {sw} is not two bytes")
        body_length = response_body_length(len(data), suite.block)
        if body_length > self._response_body:  # refused before the SSC moves: answer shorter
            raise SmUnsupported(
                f"{len(data)} bytes of data make a protected response of {body_length} "
                f"bytes: more than the command's Le allows"
            )
        self._expect_response = False
        ssc = self._next_ssc()
        do87 = b""
        if data:
            cryptogram = suite.encrypt(pad(data, suite.block), ssc)
            do87 = wrap_do87(cryptogram)
        status = sw.to_bytes(2, "big")
        do99 = bytes((TAG_STATUS, 2)) + status
        mac = suite.mac(pad(ssc + do87 + do99, suite.block))
        return do87 + do99 + bytes((TAG_MAC, MAC_LENGTH)) + mac + status
