"""A virtual chip: an ISO/IEC 7816-4 card emulator, and lots of them.

``VirtualChip.transmit`` takes command APDU bytes and returns response bytes (data, SW1, SW2),
as a card does. What it holds:

- the MF (``3F00``) and one DF, the LDS application, selectable by AID ``A0000002471001``;
- transparent EFs created in that application by CREATE FILE with a declared size, from a
  total EEPROM ``capacity`` (80 KiB by default; creation beyond it answers ``6A84``);
- a UID (answered to the PC/SC ``FF CA 00 00`` GET DATA) and an ATR (T=1);
- EF.ATR/INFO (``2F01``, in the MF, readable in clear) declaring its extended lengths
  (``printers.chip.atrinfo``): it takes extended-length APDUs, short ones all the same, in
  clear and under secure messaging; ``extended=None`` makes a chip of short APDUs only,
  without that file;
- a life cycle: personalisation in clear, then LOCK (``80 01 00 00``), after which every
  write, create or lock answers ``6982`` and the LDS files are read only under BAC and
  secure messaging, with Chip and Active Authentication (``printers.chip.vaccess`` says
  what the chip allows and keeps). The EEPROM (files, access keys, private keys, lock)
  survives power cycles; the selection and the session do not.

A chip flagged ``defective`` answers ``6581`` (memory failure) to every UPDATE BINARY.
A chip that is not powered is mute: ``transmit`` returns no bytes.

``printers.chip.vlot.VirtualChipLot`` issues chips of one lot with consecutive UIDs and marks
a seeded fraction of them defective. The ATR, the status words and the FCP it accepts:
:mod:`printers.chip.vwire`.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

from printers.chip.apdu import (
    CLA_ISO,
    CLA_PCSC,
    CLA_VENDOR,
    INS_CREATE_FILE,
    INS_GENERAL_AUTHENTICATE,
    INS_GENERATE_KEY_PAIR,
    INS_GET_CHALLENGE,
    INS_GET_DATA,
    INS_INTERNAL_AUTHENTICATE,
    INS_LOCK,
    INS_MSE,
    INS_MUTUAL_AUTHENTICATE,
    INS_PUT_DATA,
    INS_READ_BINARY,
    INS_SELECT,
    INS_UPDATE_BINARY,
    LDS_AID,
    MAX_EXTENDED_LE,
    Apdu,
)
from printers.chip.atrinfo import EF_ATR_INFO, atr_info
from printers.chip.bac import RandomBytes
from printers.chip.smframe import ExtendedLengths
from printers.chip.vaccess import CLA_SM, ChipSecrets, Session
from printers.chip.vwire import DEFAULT_ATR as DEFAULT_ATR
from printers.chip.vwire import MF_FID as MF_FID
from printers.chip.vwire import SW_CLA_NOT_SUPPORTED as SW_CLA_NOT_SUPPORTED
from printers.chip.vwire import SW_CONDITIONS_NOT_SATISFIED as SW_CONDITIONS_NOT_SATISFIED
from printers.chip.vwire import SW_EOF as SW_EOF
from printers.chip.vwire import SW_FILE_EXISTS as SW_FILE_EXISTS
from printers.chip.vwire import SW_FUNCTION_NOT_SUPPORTED as SW_FUNCTION_NOT_SUPPORTED
from printers.chip.vwire import SW_INS_NOT_SUPPORTED as SW_INS_NOT_SUPPORTED
from printers.chip.vwire import SW_LOCKED as SW_LOCKED
from printers.chip.vwire import SW_MEMORY_FAILURE as SW_MEMORY_FAILURE
from printers.chip.vwire import SW_NO_CURRENT_EF as SW_NO_CURRENT_EF
from printers.chip.vwire import SW_NO_MEMORY as SW_NO_MEMORY
from printers.chip.vwire import SW_NOT_FOUND as SW_NOT_FOUND
from printers.chip.vwire import SW_OK as SW_OK
from printers.chip.vwire import SW_WRONG_DATA as SW_WRONG_DATA
from printers.chip.vwire import SW_WRONG_LENGTH as SW_WRONG_LENGTH
from printers.chip.vwire import SW_WRONG_OFFSET as SW_WRONG_OFFSET
from printers.chip.vwire import SW_WRONG_P1P2 as SW_WRONG_P1P2
from printers.chip.vwire import parse_fcp

DEFAULT_CAPACITY = 80 * 1024
"""Bytes of EEPROM available for EF contents."""

EXTENDED_LENGTHS = ExtendedLengths(command=0x1000, response=0x10002)
"""What the virtual chip declares in EF.ATR/INFO: commands of up to 4 KB, responses of up
to 64 KB and SW1 SW2 (any EF of the LDS in one READ BINARY)."""


_BAC = frozenset({INS_GET_CHALLENGE, INS_MUTUAL_AUTHENTICATE})
_MF = MF_FID.to_bytes(2, "big")
_LDS_EF_PREFIX = 0x0100  # the LDS application's EFs: 0101 (DG1) ... 011E (EF.COM)


class VirtualChip:
    """One emulated chip. Thread-safe: an emulator thread may drive it while a test reads it.

    It starts unpowered, as a card body does; a reader (``InProcessTransport``, or vpcd's
    power-on control message) powers it."""

    def __init__(
        self,
        uid: bytes,
        *,
        capacity: int = DEFAULT_CAPACITY,
        defective: bool = False,
        atr: bytes = DEFAULT_ATR,
        random_bytes: RandomBytes = secrets.token_bytes,
        extended: ExtendedLengths | None = EXTENDED_LENGTHS,
    ) -> None:
        if not uid:
            raise ValueError("a chip needs a UID")
        if capacity <= 0:
            raise ValueError(f"capacity {capacity} must be positive")
        self.uid = bytes(uid)
        self.capacity = capacity
        self.defective = defective
        self.atr = bytes(atr)
        self.extended = extended
        self._mf_files = {} if extended is None else {EF_ATR_INFO: atr_info(extended)}
        self._lock = threading.RLock()
        self._files: dict[int, bytearray] = {}  # the LDS application's EFs (EEPROM)
        self._locked = False  # EEPROM too
        self._powered = False
        self._in_app = False  # current DF: the application, else the MF
        self._current_ef: int | None = None
        self.secrets = ChipSecrets()  # EEPROM: access keys and private keys
        self._session = Session(self.secrets, random_bytes, extended)  # volatile

    def __repr__(self) -> str:
        state = "locked" if self._locked else "open"
        flaw = ", defective" if self.defective else ""
        return f"VirtualChip(uid={self.uid.hex().upper()}, {state}{flaw})"

    # --- state seen from outside ------------------------------------------------------------

    @property
    def locked(self) -> bool:
        return self._locked

    @property
    def powered(self) -> bool:
        return self._powered

    @property
    def used(self) -> int:
        """EEPROM bytes taken by created files."""
        with self._lock:
            return sum(len(content) for content in self._files.values())

    @property
    def free(self) -> int:
        return self.capacity - self.used

    def restore(self, *, files: dict[int, bytes], locked: bool) -> None:
        """Set the EEPROM's files and lock as a chip image has them (``printers.chip.vimage``)."""
        with self._lock:
            self._files = {fid: bytearray(content) for fid, content in files.items()}
            self._locked = locked

    def files(self) -> dict[int, bytes]:
        """A copy of the application's EFs (FID -> content), as a probe on the EEPROM would."""
        with self._lock:
            return {fid: bytes(content) for fid, content in self._files.items()}

    # --- power --------------------------------------------------------------------------------

    def power_on(self) -> bytes:
        """Cold reset: powered, MF selected; returns the ATR."""
        with self._lock:
            self._powered = True
            self._clear_selection()
            self._session.end()
            return self.atr

    def reset(self) -> bytes:
        """Warm reset: the selection is cleared; returns the ATR."""
        return self.power_on()

    def power_off(self) -> None:
        with self._lock:
            self._powered = False
            self._clear_selection()
            self._session.end()

    def _clear_selection(self) -> None:
        self._in_app = False
        self._current_ef = None

    # --- commands -----------------------------------------------------------------------------

    def transmit(self, command: bytes) -> bytes:
        """Answer one command APDU: response data followed by SW1 SW2 (nothing if unpowered)."""
        with self._lock:
            if not self._powered:
                return b""
            if len(command) >= 2 and command[0] == CLA_PCSC and command[1] == INS_GET_DATA:
                return self._plain(command)  # the reader's own command: no session change
            if self._session.secure:
                if len(command) >= 4 and command[0] & CLA_SM == CLA_SM:
                    return self._session.protected(command, self._answer_secure)
                self._session.end()  # a command in clear ends secure messaging
            if len(command) >= 2 and command[0] == CLA_ISO and command[1] in _BAC:
                return self._session.bac(command)
            return self._plain(command)

    def _plain(self, command: bytes) -> bytes:
        extended = self.extended
        if extended is not None and len(command) > extended.command:
            return SW_WRONG_LENGTH
        try:
            apdu = Apdu.from_bytes(command, extended=extended is not None)
        except ValueError:
            return SW_WRONG_LENGTH
        if self._locked and not self._open_in_clear(apdu):
            return SW_LOCKED  # 6982: security status not satisfied (BAC first)
        return self._dispatch(apdu)

    def _answer_secure(self, apdu: Apdu) -> tuple[bytes, int]:
        response = self._dispatch(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")

    def _open_in_clear(self, apdu: Apdu) -> bool:
        """What an issued chip answers without secure messaging: SELECT of the application
        (by AID), the MF's EF.ATR/INFO (SELECT and READ BINARY while the MF is current) and
        the reader's GET UID; writes then answer ``6982`` all the same."""
        if apdu.cla == CLA_PCSC:
            return True
        if apdu.cla != CLA_ISO:
            return False
        if apdu.ins == INS_SELECT and (
            apdu.p1 == 0x04 or (apdu.p1 == 0x00 and apdu.data in (b"", _MF))
        ):
            return True  # the application by AID, or back to the MF
        if self._in_app:
            return False
        return (apdu.ins == INS_SELECT and apdu.p1 in (0x00, 0x02)) or (
            apdu.ins == INS_READ_BINARY and self._current_ef in self._mf_files
        )

    def _dispatch(self, apdu: Apdu) -> bytes:
        handler = _HANDLERS.get((apdu.cla, apdu.ins))
        if handler is None:
            if apdu.cla not in _CLASSES:
                return SW_CLA_NOT_SUPPORTED
            if apdu.cla == CLA_ISO and apdu.ins in (INS_MSE, INS_GENERAL_AUTHENTICATE):
                return SW_LOCKED  # Chip Authentication runs under secure messaging only
            return SW_INS_NOT_SUPPORTED
        answer: Callable[[Apdu], bytes] = getattr(self, handler)
        return answer(apdu)

    def _put_data(self, apdu: Apdu) -> bytes:
        if self._locked:
            return SW_LOCKED
        return self.secrets.put_access_data(apdu).to_bytes(2, "big")

    def _key_pair(self, apdu: Apdu) -> bytes:
        data, sw = self.secrets.key_pair(apdu, locked=self._locked)
        return data + sw.to_bytes(2, "big")

    def _internal_authenticate(self, apdu: Apdu) -> bytes:
        data, sw = self._session.internal_authenticate(apdu)
        return data + sw.to_bytes(2, "big")

    def _select(self, apdu: Apdu) -> bytes:
        if apdu.p2 not in (0x0C, 0x00):
            return SW_WRONG_P1P2
        if apdu.p1 == 0x04:  # by DF name (AID)
            if apdu.data != LDS_AID:
                return SW_NOT_FOUND
            self._in_app, self._current_ef = True, None
            return SW_OK
        if apdu.p1 == 0x00:  # MF, or a FID of the current DF
            if apdu.data in (b"", MF_FID.to_bytes(2, "big")):
                self._clear_selection()
                return SW_OK
            return self._select_ef(apdu)
        if apdu.p1 == 0x02:  # EF under the current DF
            return self._select_ef(apdu)
        return SW_WRONG_P1P2

    def _select_ef(self, apdu: Apdu) -> bytes:
        if len(apdu.data) != 2:
            return SW_WRONG_LENGTH
        fid = int.from_bytes(apdu.data, "big")
        if fid not in (self._files if self._in_app else self._mf_files):
            return SW_NOT_FOUND
        self._current_ef = fid
        return SW_OK

    def _current(self) -> bytearray | bytes | None:
        """The current EF's content (the application's, or the MF's EF.ATR/INFO)."""
        if self._current_ef is None:
            return None
        if self._in_app:
            return self._files[self._current_ef]
        return self._mf_files[self._current_ef]

    def _offset(self, apdu: Apdu) -> int | None:
        if apdu.p1 & 0x80:  # short EF identifier (READ BINARY only)
            return None
        return (apdu.p1 << 8) | apdu.p2

    def _read_binary(self, apdu: Apdu) -> bytes:
        offset = self._offset(apdu)
        if offset is None:
            if apdu.p1 & 0x60 or not 1 <= apdu.p1 & 0x1F <= 30 or not self._in_app:
                return SW_WRONG_P1P2
            # A short EF identifier (ISO/IEC 7816-4 §11.2.2: P1 100xxxxx, the offset in P2):
            # the EF of the application whose SFI it is becomes current (9303-10: an LDS
            # EF's SFI is its FID's last five bits, EF.COM 1E ... EF.SOD 1D).
            fid = _LDS_EF_PREFIX | (apdu.p1 & 0x1F)
            if fid not in self._files:
                return SW_NOT_FOUND
            self._current_ef, offset = fid, apdu.p2
        if apdu.data or apdu.le is None:
            return SW_WRONG_LENGTH
        content = self._current()
        if content is None:
            return SW_NO_CURRENT_EF
        if offset >= len(content):
            return SW_WRONG_OFFSET
        wanted = apdu.le
        chunk = bytes(content[offset : offset + wanted])
        # Le 00 00 (Ne at its maximum) asks for everything to the end of the file: no warning.
        whole = len(chunk) == wanted or wanted == MAX_EXTENDED_LE
        return chunk + (SW_OK if whole else SW_EOF)

    def _update_binary(self, apdu: Apdu) -> bytes:
        if self._locked:
            return SW_LOCKED
        offset = self._offset(apdu)
        if offset is None:
            return SW_WRONG_P1P2
        if not apdu.data or apdu.le is not None:
            return SW_WRONG_LENGTH
        if self._current_ef is None:
            return SW_NO_CURRENT_EF
        if not self._in_app:
            return SW_LOCKED  # EF.ATR/INFO is the chip's own: never written
        content = self._files[self._current_ef]
        if offset + len(apdu.data) > len(content):
            return SW_WRONG_OFFSET
        if self.defective:
            return SW_MEMORY_FAILURE
        content[offset : offset + len(apdu.data)] = apdu.data
        return SW_OK

    def _create_file(self, apdu: Apdu) -> bytes:
        if self._locked:
            return SW_LOCKED
        if (apdu.p1, apdu.p2) != (0, 0):
            return SW_WRONG_P1P2
        if not self._in_app:
            return SW_NO_CURRENT_EF  # EFs are created in the application only
        parsed = parse_fcp(apdu.data)
        if parsed is None:
            return SW_WRONG_DATA
        fid, size = parsed
        if fid in self._files:
            return SW_FILE_EXISTS
        if self.used + size > self.capacity:
            return SW_NO_MEMORY
        self._files[fid] = bytearray(size)
        self._current_ef = fid  # a created file becomes the current EF (ISO 7816-9)
        return SW_OK

    def _lock_chip(self, apdu: Apdu) -> bytes:
        if self._locked:
            return SW_LOCKED
        if (apdu.p1, apdu.p2) != (0, 0) or apdu.data:
            return SW_WRONG_P1P2
        if not self.secrets.complete:
            return SW_CONDITIONS_NOT_SATISFIED  # no access keys or key pairs: unusable
        self._locked = True
        return SW_OK

    def _get_uid(self, apdu: Apdu) -> bytes:
        if (apdu.p1, apdu.p2) != (0, 0):
            return SW_FUNCTION_NOT_SUPPORTED
        le = apdu.le or 256
        if le != 256 and le < len(self.uid):
            return bytes([0x6C, len(self.uid)])
        return self.uid + SW_OK


_HANDLERS: dict[tuple[int, int], str] = {
    (CLA_ISO, INS_SELECT): "_select",
    (CLA_ISO, INS_READ_BINARY): "_read_binary",
    (CLA_ISO, INS_UPDATE_BINARY): "_update_binary",
    (CLA_ISO, INS_CREATE_FILE): "_create_file",
    (CLA_ISO, INS_PUT_DATA): "_put_data",
    (CLA_ISO, INS_GENERATE_KEY_PAIR): "_key_pair",
    (CLA_ISO, INS_INTERNAL_AUTHENTICATE): "_internal_authenticate",
    (CLA_VENDOR, INS_LOCK): "_lock_chip",
    (CLA_PCSC, INS_GET_DATA): "_get_uid",
}
"""The chip's commands by (CLA, INS), the name of the method answering each: made once,
not for every APDU (a subclass's own method answers, as it would with a table per call)."""
_CLASSES = frozenset(cla for cla, _ in _HANDLERS)
