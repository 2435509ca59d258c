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

The constants, errors and key derivation both ends share live in
:mod:`printers.chip.backeys` (re-exported here); this module holds the two ends.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import date

from printers.chip.apdu import CLA_ISO, INS_GET_CHALLENGE, INS_MUTUAL_AUTHENTICATE, Apdu
from printers.chip.backeys import AUTH_DATA_LENGTH as AUTH_DATA_LENGTH
from printers.chip.backeys import CRYPTOGRAM_LENGTH as CRYPTOGRAM_LENGTH
from printers.chip.backeys import ENC as ENC
from printers.chip.backeys import KEY_MATERIAL_LENGTH as KEY_MATERIAL_LENGTH
from printers.chip.backeys import MAC as MAC
from printers.chip.backeys import PACE as PACE
from printers.chip.backeys import RND_LENGTH as RND_LENGTH
from printers.chip.backeys import SW_AUTHENTICATION_FAILED as SW_AUTHENTICATION_FAILED
from printers.chip.backeys import SW_CLA_NOT_SUPPORTED as SW_CLA_NOT_SUPPORTED
from printers.chip.backeys import SW_CONDITIONS_NOT_SATISFIED as SW_CONDITIONS_NOT_SATISFIED
from printers.chip.backeys import SW_INS_NOT_SUPPORTED as SW_INS_NOT_SUPPORTED
from printers.chip.backeys import (
    SW_SECURITY_STATUS_NOT_SATISFIED as SW_SECURITY_STATUS_NOT_SATISFIED,
)
from printers.chip.backeys import SW_WRONG_LENGTH as SW_WRONG_LENGTH
from printers.chip.backeys import SW_WRONG_P1P2 as SW_WRONG_P1P2
from printers.chip.backeys import AccessKeys as AccessKeys
from printers.chip.backeys import BacAuthenticationFailed as BacAuthenticationFailed
from printers.chip.backeys import BacError as BacError
from printers.chip.backeys import BacInputError as BacInputError
from printers.chip.backeys import BacProtocolError as BacProtocolError
from printers.chip.backeys import RandomBytes as RandomBytes
from printers.chip.backeys import Send as Send
from printers.chip.backeys import adjust_parity as adjust_parity
from printers.chip.backeys import bac_keys as bac_keys
from printers.chip.backeys import cccd_document_number as cccd_document_number
from printers.chip.backeys import derive_key as derive_key
from printers.chip.backeys import draw as draw
from printers.chip.backeys import key_seed as key_seed
from printers.chip.backeys import mrz_information as mrz_information
from printers.chip.backeys import session_keys as session_keys
from printers.chip.sm import SW_OK, SessionKeys

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
        self._keys = AccessKeys(kenc, kmac)
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
        rnd_ifd = draw(self._random_bytes, RND_LENGTH)
        k_ifd = draw(self._random_bytes, KEY_MATERIAL_LENGTH)
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
        self._keys = AccessKeys(kenc, kmac)
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
        self._challenge = draw(self._random_bytes, RND_LENGTH)
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
        k_ic = draw(self._random_bytes, KEY_MATERIAL_LENGTH)
        self._session = session_keys(k_ifd, k_ic, challenge, rnd_ifd)
        return self._keys.seal(challenge + rnd_ifd + k_ic), SW_OK
