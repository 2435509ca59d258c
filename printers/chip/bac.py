"""Basic Access Control (ICAO Doc 9303-11 §4.3, key derivation §9.7.1): both ends.

The inspection system proves it has read the card's MRZ; both sides then share 3DES
session keys for secure messaging (:mod:`printers.chip.sm`):

1. ``MRZ_information`` = document number (padded with ``<`` to 9) + check digit, date of
   birth + check digit, date of expiry + check digit (:func:`mrz_information`). On the
   CCCD the document number is the last 9 digits of the 12-digit ID
   (:func:`cccd_document_number`); a card without expiry has ``<<<<<<`` and check digit 0,
   as its MRZ does (:data:`printers.mrz.NO_EXPIRY`).
2. ``Kseed`` = SHA-1(MRZ_information)[:16]; ``KEnc`` = KDF(Kseed, 1), ``KMAC`` = KDF(Kseed, 2)
   (:func:`derive_key`, :func:`bac_keys`).
3. GET CHALLENGE (``00 84 00 00 08``): the chip answers RND.IC (8 bytes).
4. MUTUAL AUTHENTICATE (``00 82 00 00 28 <E_IFD || M_IFD> 28``): S = RND.IFD || RND.IC ||
   K.IFD, E_IFD = 3DES-CBC(KEnc, S) with a zero IV, M_IFD = retail MAC(KMAC, E_IFD). The
   chip checks M_IFD and RND.IC, draws K.IC and answers E_IC || M_IC over R = RND.IC ||
   RND.IFD || K.IC; the reader checks M_IC and RND.IFD.
5. ``Kseed`` = K.IFD xor K.IC; KSenc = KDF(Kseed, 1), KSmac = KDF(Kseed, 2); SSC = RND.IC[4:8]
   || RND.IFD[4:8] (:func:`session_keys`).

**A refused MUTUAL AUTHENTICATE** (M_IFD wrong, i.e. the reader has the wrong MRZ, or RND.IC
not the challenge) is answered ``6300`` by :class:`BacChip` by default, "authentication
failed" (ISO/IEC 7816-4; what passports answer in practice, e.g. the one in
stackoverflow.com/questions/54311478); JMRTD's passport applet answers
``6982`` (security status not satisfied) there: pass ``failure_sw=0x6982`` to behave like
it. Either way the challenge is used up (a new GET CHALLENGE is needed) and the chip stays
unauthenticated. A MUTUAL AUTHENTICATE without a challenge is answered ``6985``.

Randomness is injected (``random_bytes(n) -> n bytes``, ``secrets.token_bytes`` by default;
a seeded ``random.Random().randbytes`` in simulation; the Appendix D values in tests).
Keys are never in a ``repr`` or a message; nor are the MRZ fields.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from datetime import date
from typing import ClassVar

from printers.chip.apdu import CLA_ISO, INS_GET_CHALLENGE, INS_MUTUAL_AUTHENTICATE, Apdu
from printers.chip.sm import (
    KEY_LENGTHS,
    SW_OK,
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


class _AccessKeys:
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


def _draw(random_bytes: RandomBytes, count: int) -> bytes:
    value = bytes(random_bytes(count))
    if len(value) != count:
        raise ValueError(f"the random source gave {len(value)} bytes, not {count}")
    return value


# --- the reader -----------------------------------------------------------------------------


def get_challenge() -> bytes:
    """GET CHALLENGE for 8 bytes: ``00 84 00 00 08``."""
    return Apdu(CLA_ISO, INS_GET_CHALLENGE, 0x00, 0x00, le=RND_LENGTH).to_bytes()


def mutual_authenticate(data: bytes) -> bytes:
    """MUTUAL AUTHENTICATE (EXTERNAL AUTHENTICATE's INS): ``00 82 00 00 28 <data> 28``."""
    return Apdu(CLA_ISO, INS_MUTUAL_AUTHENTICATE, 0x00, 0x00, data, le=AUTH_DATA_LENGTH).to_bytes()


class BacReader:
    """The inspection system's side of BAC, for one card's access keys."""

    __slots__ = ("_keys", "_random_bytes")

    def __init__(
        self, kenc: bytes, kmac: bytes, *, random_bytes: RandomBytes = secrets.token_bytes
    ) -> None:
        self._keys = _AccessKeys(kenc, kmac)
        self._random_bytes = random_bytes

    @classmethod
    def from_mrz(
        cls,
        document_number: str,
        date_of_birth: str | date,
        date_of_expiry: str | date | None,
        *,
        random_bytes: RandomBytes = secrets.token_bytes,
    ) -> BacReader:
        kenc, kmac = bac_keys(mrz_information(document_number, date_of_birth, date_of_expiry))
        return cls(kenc, kmac, random_bytes=random_bytes)

    def __repr__(self) -> str:
        return "BacReader()"

    def authenticate(self, send: Send) -> SessionKeys:
        """Run GET CHALLENGE and MUTUAL AUTHENTICATE through ``send``; the session keys.

        RND.IFD (8 bytes) then K.IFD (16 bytes) are drawn from the random source, in that
        order. Raises :class:`BacAuthenticationFailed` (wrong MRZ, or an answer that does not
        verify) or :class:`BacProtocolError`."""
        rnd_ic, sw = send(get_challenge())
        if sw != SW_OK:
            raise BacProtocolError(f"GET CHALLENGE answered {sw:04X}", sw=f"{sw:04X}")
        if len(rnd_ic) != RND_LENGTH:
            raise BacProtocolError(f"GET CHALLENGE gave {len(rnd_ic)} bytes, not {RND_LENGTH}")
        rnd_ifd = _draw(self._random_bytes, RND_LENGTH)
        k_ifd = _draw(self._random_bytes, KEY_MATERIAL_LENGTH)
        answer, sw = send(mutual_authenticate(self._keys.seal(rnd_ifd + rnd_ic + k_ifd)))
        if sw != SW_OK:
            raise BacAuthenticationFailed(
                f"MUTUAL AUTHENTICATE answered {sw:04X}: the chip refused the access keys",
                sw=f"{sw:04X}",
            )
        if len(answer) != AUTH_DATA_LENGTH:
            raise BacProtocolError(
                f"MUTUAL AUTHENTICATE gave {len(answer)} bytes, not {AUTH_DATA_LENGTH}"
            )
        plain = self._keys.open(answer)
        if plain is None:
            raise BacAuthenticationFailed(
                "the chip's M_IC does not verify: it does not hold these access keys",
                reason_code="bac.mac",
            )
        if not hmac.compare_digest(plain[RND_LENGTH : 2 * RND_LENGTH], rnd_ifd):
            raise BacAuthenticationFailed(
                "the chip's answer does not carry RND.IFD", reason_code="bac.rnd_ifd"
            )
        if not hmac.compare_digest(plain[:RND_LENGTH], rnd_ic):
            raise BacAuthenticationFailed(
                "the chip's answer does not carry its challenge", reason_code="bac.rnd_ic"
            )
        return session_keys(k_ifd, plain[2 * RND_LENGTH :], rnd_ic, rnd_ifd)


# --- the chip -------------------------------------------------------------------------------


class BacChip:
    """The chip's side of BAC for one card's access keys (KEnc, KMAC).

    :meth:`answer` takes a plain GET CHALLENGE or MUTUAL AUTHENTICATE and returns (data,
    status word). After a successful MUTUAL AUTHENTICATE, :attr:`session_keys` holds the
    keys to open a :class:`printers.chip.sm.ChipChannel` with; a new GET CHALLENGE, a
    failed attempt or :meth:`reset` (power off, an SM error) forget them.

    RND.IC (8 bytes, at GET CHALLENGE) and K.IC (16 bytes, at MUTUAL AUTHENTICATE) come
    from ``random_bytes``. Not thread-safe: the virtual chip's lock serialises commands."""

    __slots__ = ("_keys", "_random_bytes", "_failure_sw", "_challenge", "_session")

    def __init__(
        self,
        kenc: bytes,
        kmac: bytes,
        *,
        random_bytes: RandomBytes = secrets.token_bytes,
        failure_sw: int = SW_AUTHENTICATION_FAILED,
    ) -> None:
        self._keys = _AccessKeys(kenc, kmac)
        self._random_bytes = random_bytes
        self._failure_sw = failure_sw
        self._challenge: bytes | None = None
        self._session: SessionKeys | None = None

    @classmethod
    def from_mrz(
        cls,
        document_number: str,
        date_of_birth: str | date,
        date_of_expiry: str | date | None,
        *,
        random_bytes: RandomBytes = secrets.token_bytes,
        failure_sw: int = SW_AUTHENTICATION_FAILED,
    ) -> BacChip:
        kenc, kmac = bac_keys(mrz_information(document_number, date_of_birth, date_of_expiry))
        return cls(kenc, kmac, random_bytes=random_bytes, failure_sw=failure_sw)

    def __repr__(self) -> str:
        return f"BacChip(authenticated={self.authenticated})"

    @property
    def authenticated(self) -> bool:
        return self._session is not None

    @property
    def session_keys(self) -> SessionKeys | None:
        """The session keys of the last successful MUTUAL AUTHENTICATE, if still valid."""
        return self._session

    def reset(self) -> None:
        """Forget the challenge and the session (power off, reset, an SM error)."""
        self._challenge = None
        self._session = None

    def handles(self, command: bytes) -> bool:
        """Whether ``command`` is one of BAC's (plain GET CHALLENGE or MUTUAL AUTHENTICATE)."""
        return (
            len(command) >= 4
            and command[0] == CLA_ISO
            and command[1] in (INS_GET_CHALLENGE, INS_MUTUAL_AUTHENTICATE)
        )

    def answer(self, command: bytes) -> tuple[bytes, int]:
        """Response data and status word for a GET CHALLENGE or MUTUAL AUTHENTICATE."""
        try:
            apdu = Apdu.from_bytes(command)
        except ValueError:
            return b"", SW_WRONG_LENGTH
        if apdu.cla != CLA_ISO:
            return b"", SW_CLA_NOT_SUPPORTED
        if apdu.ins == INS_GET_CHALLENGE:
            return self._get_challenge(apdu)
        if apdu.ins == INS_MUTUAL_AUTHENTICATE:
            return self._mutual_authenticate(apdu)
        return b"", SW_INS_NOT_SUPPORTED

    def _get_challenge(self, apdu: Apdu) -> tuple[bytes, int]:
        if (apdu.p1, apdu.p2) != (0, 0):
            return b"", SW_WRONG_P1P2
        if apdu.data or apdu.le != RND_LENGTH:
            return b"", SW_WRONG_LENGTH
        self._session = None  # BAC starts again
        self._challenge = _draw(self._random_bytes, RND_LENGTH)
        return self._challenge, SW_OK

    def _mutual_authenticate(self, apdu: Apdu) -> tuple[bytes, int]:
        if (apdu.p1, apdu.p2) != (0, 0):
            return b"", SW_WRONG_P1P2
        if len(apdu.data) != AUTH_DATA_LENGTH or apdu.le not in (AUTH_DATA_LENGTH, 256):
            return b"", SW_WRONG_LENGTH
        challenge, self._challenge = self._challenge, None  # one attempt per challenge
        self._session = None
        if challenge is None:
            return b"", SW_CONDITIONS_NOT_SATISFIED
        plain = self._keys.open(apdu.data)
        if plain is None or not hmac.compare_digest(plain[RND_LENGTH : 2 * RND_LENGTH], challenge):
            return b"", self._failure_sw
        rnd_ifd, k_ifd = plain[:RND_LENGTH], plain[2 * RND_LENGTH :]
        k_ic = _draw(self._random_bytes, KEY_MATERIAL_LENGTH)
        self._session = session_keys(k_ifd, k_ic, challenge, rnd_ifd)
        return self._keys.seal(challenge + rnd_ifd + k_ic), SW_OK
