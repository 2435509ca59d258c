"""What both ends of Basic Access Control share (ICAO Doc 9303-11 §9.7, §4.3): the
constants and status words, the errors, and the keys: the document basic access keys
derived from the MRZ information (``bac_keys``), the session keys agreed by the mutual
authentication (``session_keys``), and the sealing of the authentication cryptograms.
Both ends are :mod:`printers.chip.bac`'s ``BacReader`` and ``BacChip``."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import date
from typing import ClassVar

from printers.chip.sm import (
    KEY_LENGTHS,
    CipherName,
    RetailMac,
    SessionKeys,
    TripleDesCbc,
)
from printers.errors import PrintersError
from printers.mrz import NO_EXPIRY, check_digit

RandomBytes = Callable[[int], bytes]
"""A source of random bytes: ``secrets.token_bytes``, ``random.Random(seed).randbytes``."""

Send = Callable[[bytes], tuple[bytes, int]]
"""Sends one command APDU and returns the response data and the status word (``0x9000``)."""

ENC = 1
"""KDF counter for the encryption key (9303-11 §9.7.1)."""
MAC = 2
"""KDF counter for the MAC key."""
PACE = 3
"""KDF counter for the PACE password key."""

RND_LENGTH = 8
KEY_MATERIAL_LENGTH = 16
CRYPTOGRAM_LENGTH = 2 * RND_LENGTH + KEY_MATERIAL_LENGTH  # E_IFD, E_IC: 32 bytes
AUTH_DATA_LENGTH = CRYPTOGRAM_LENGTH + 8  # with the MAC: 40 bytes ("28")

SW_AUTHENTICATION_FAILED = 0x6300
SW_SECURITY_STATUS_NOT_SATISFIED = 0x6982  # what JMRTD's passport applet answers instead
SW_CONDITIONS_NOT_SATISFIED = 0x6985
SW_WRONG_LENGTH = 0x6700
SW_WRONG_P1P2 = 0x6A86
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00

_DOCUMENT_NUMBER = re.compile(r"[0-9A-Z<]{1,9}")
_YYMMDD = re.compile(r"[0-9]{6}")


# --- errors -------------------------------------------------------------------------------


class BacError(PrintersError):
    """BAC did not establish a session; ``reason_code`` is ``bac.<what>``, ``sw`` the chip's
    status word in hex when it answered one. Messages never hold MRZ data or keys."""

    reason: ClassVar[str] = "bac.error"

    def __init__(
        self, message: str, *, reason_code: str | None = None, sw: str | None = None
    ) -> None:
        code = reason_code or self.reason
        super().__init__(message, reason_code=code, sw=sw)
        self.reason_code = code
        self.sw = sw


class BacInputError(BacError):
    """The document number or a date cannot make MRZ_information."""

    reason = "bac.input"


class BacProtocolError(BacError):
    """The chip answered something BAC does not expect (a challenge of the wrong length,
    a refused GET CHALLENGE, a response of the wrong length)."""

    reason = "bac.protocol"


class BacAuthenticationFailed(BacError):
    """Mutual authentication failed: the chip refused the reader's cryptogram (``sw``;
    the usual cause is a wrong document number or date), or the chip's answer does not
    verify (``bac.mac``: not made with the same keys; ``bac.rnd_ifd``: not an answer to
    this challenge)."""

    reason = "bac.authentication"


# --- keys ---------------------------------------------------------------------------------


def adjust_parity(key: bytes) -> bytes:
    """``key`` with each byte's least significant bit set for odd parity (DES keys)."""
    return bytes((byte & 0xFE) | ((byte >> 1).bit_count() + 1) % 2 for byte in key)


def derive_key(seed: bytes, counter: int, cipher: CipherName = "3DES") -> bytes:
    """The key derivation function of 9303-11 §9.7.1: a hash of ``D = seed || c`` (``c`` the
    32-bit big-endian counter: :data:`ENC`, :data:`MAC`, :data:`PACE`).

    - 3DES: SHA-1, the first 16 bytes as the two DES keys Ka Kb, parity bits adjusted;
    - AES-128: SHA-1, the first 16 bytes;
    - AES-192 and AES-256: SHA-256, the first 24 or 32 bytes.
    """
    if not 0 < counter <= 0xFFFFFFFF:
        raise ValueError(f"KDF counter {counter} is not a positive 32-bit number")
    if cipher not in KEY_LENGTHS:
        raise ValueError(f"unknown cipher {cipher!r}")
    data = bytes(seed) + counter.to_bytes(4, "big")
    if cipher in ("3DES", "AES-128"):
        digest = hashlib.sha1(data).digest()
    else:
        digest = hashlib.sha256(data).digest()
    key = digest[: KEY_LENGTHS[cipher]]
    return adjust_parity(key) if cipher == "3DES" else key


def cccd_document_number(id_number: str) -> str:
    """The CCCD's MRZ document number: the last 9 digits of the 12-digit ID number."""
    if not (len(id_number) == 12 and id_number.isascii() and id_number.isdigit()):
        raise BacInputError("the ID number is not 12 digits", reason_code="bac.input.id_number")
    return id_number[-9:]


def _date_field(value: str | date | None, name: str, *, allow_none: bool) -> str:
    if value is None:
        if not allow_none:
            raise BacInputError(f"the {name} is missing", reason_code=f"bac.input.{name}")
        return NO_EXPIRY
    if isinstance(value, date):
        return value.strftime("%y%m%d")
    if value == NO_EXPIRY and allow_none:
        return value
    if not (isinstance(value, str) and _YYMMDD.fullmatch(value)):
        raise BacInputError(f"the {name} is not YYMMDD", reason_code=f"bac.input.{name}")
    return value


def mrz_information(
    document_number: str, date_of_birth: str | date, date_of_expiry: str | date | None
) -> str:
    """The MRZ_information BAC derives its keys from (9303-11 §9.7.2): the document number
    padded with ``<`` to 9 characters, the dates as ``YYMMDD``, each followed by its check
    digit. ``date_of_expiry`` None (or ``<<<<<<``) is a card without expiry.

    Document numbers of more than 9 characters (their tail in the optional data) are not
    supported: the CCCD's has 9 digits.
    """
    if not (isinstance(document_number, str) and _DOCUMENT_NUMBER.fullmatch(document_number)):
        raise BacInputError(
            "the document number is not 1 to 9 characters of A-Z 0-9 <",
            reason_code="bac.input.document_number",
        )
    number = document_number.ljust(9, "<")
    birth = _date_field(date_of_birth, "date_of_birth", allow_none=False)
    expiry = _date_field(date_of_expiry, "date_of_expiry", allow_none=True)
    return "".join(field + check_digit(field) for field in (number, birth, expiry))


def key_seed(mrz_info: str) -> bytes:
    """Kseed: the first 16 bytes of SHA-1(MRZ_information)."""
    return hashlib.sha1(mrz_info.encode("ascii")).digest()[:16]


def bac_keys(mrz_info: str) -> tuple[bytes, bytes]:
    """(KEnc, KMAC), the document basic access keys, from MRZ_information."""
    seed = key_seed(mrz_info)
    return derive_key(seed, ENC), derive_key(seed, MAC)


def session_keys(k_ifd: bytes, k_ic: bytes, rnd_ic: bytes, rnd_ifd: bytes) -> SessionKeys:
    """KSenc and KSmac from K.IFD xor K.IC, and the SSC RND.IC[4:8] || RND.IFD[4:8]."""
    if len(k_ifd) != KEY_MATERIAL_LENGTH or len(k_ic) != KEY_MATERIAL_LENGTH:
        raise ValueError("K.IFD and K.IC have 16 bytes")
    if len(rnd_ic) != RND_LENGTH or len(rnd_ifd) != RND_LENGTH:
        raise ValueError("RND.IC and RND.IFD have 8 bytes")
    seed = bytes(a ^ b for a, b in zip(k_ifd, k_ic, strict=True))
    ssc = int.from_bytes(rnd_ic[4:] + rnd_ifd[4:], "big")
    return SessionKeys("3DES", derive_key(seed, ENC), derive_key(seed, MAC), ssc)


class AccessKeys:
    """KEnc and KMAC with their cipher objects, made once."""

    __slots__ = ("_cbc", "_mac")

    def __init__(self, kenc: bytes, kmac: bytes) -> None:
        if len(kenc) != 16 or len(kmac) != 16:
            raise ValueError("KEnc and KMAC are 16-byte 3DES keys")
        self._cbc = TripleDesCbc(kenc)
        self._mac = RetailMac(kmac)

    def seal(self, plain: bytes) -> bytes:
        """E || M: the cryptogram of ``plain`` and its retail MAC."""
        cryptogram = self._cbc.encrypt(plain)
        return cryptogram + self._mac.mac(cryptogram)

    def open(self, sealed: bytes) -> bytes | None:
        """The plain text of E || M, or None if M does not verify."""
        cryptogram, mac = sealed[:CRYPTOGRAM_LENGTH], sealed[CRYPTOGRAM_LENGTH:]
        if not hmac.compare_digest(self._mac.mac(cryptogram), mac):
            return None
        return self._cbc.decrypt(cryptogram)


def draw(random_bytes: RandomBytes, count: int) -> bytes:
    value = bytes(random_bytes(count))
    if len(value) != count:
        raise ValueError(f"the random source gave {len(value)} bytes, not {count}")
    return value
