"""The virtual chip's access control: what it lets a reader do, and the secrets it keeps.

A chip's life has two phases (``VirtualChip.locked``):

- **personalisation** (before LOCK): the personalisation system talks in clear. It gives
  the chip its **access data** (PUT DATA ``00 DA 00 62``, :func:`printers.chip.apdu.
  put_access_data`: the document number, date of birth and date of expiry as printed in
  the MRZ), from which the chip derives its own BAC keys KEnc and KMAC (ICAO 9303-11
  §9.7.2, as JMRTD's passport applet does), and asks it to **make its own key pairs**
  (GENERATE ASYMMETRIC KEY PAIR ``00 46 80 rr``): ``01`` for Active Authentication (its
  public key goes to DG15), ``02`` for Chip Authentication (DG14). Both are ECDSA/ECDH
  P-256; the private keys never leave the chip: no command reads them, the chip answers
  only the public point. LOCK is refused (``6985``) until the access data and both key
  pairs are there: a locked chip without them could never be read or authenticated.
- **issued** (after LOCK): nothing is written any more (``6982``). SELECT of the LDS
  application by AID and the BAC commands (GET CHALLENGE, MUTUAL AUTHENTICATE) work in
  clear; every other command to the application (SELECT of an EF, READ BINARY, INTERNAL
  AUTHENTICATE, MSE, GENERAL AUTHENTICATE) answers ``6982`` unless it comes under **secure
  messaging** after BAC (``printers.chip.sm``: 3DES, then AES-128 once Chip Authentication
  has run, ``printers.chip.ca``). INTERNAL AUTHENTICATE signs the reader's 8-byte challenge
  with the AA key (``printers.chip.aa``: plain r||s, SHA-256).

Secure messaging ends (the session keys are dropped) on any SM error (the chip answers the
error's status word in clear: ``6987`` for a command in clear or without its MAC, ``6988``
for a wrong MAC or malformed objects), on a command in clear other than the reader's own
GET UID (``FF CA``, answered by a real reader, not the chip), on power off and on reset.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec

from printers.chip import tlv
from printers.chip.aa import AaError, internal_authenticate
from printers.chip.apdu import (
    INS_GENERAL_AUTHENTICATE,
    INS_MSE,
    KEY_AA,
    KEY_CA,
    KEY_PAIR_GENERATE,
    KEY_PAIR_READ_PUBLIC,
    TAG_ACCESS_DATA,
    Apdu,
)
from printers.chip.bac import BacChip, RandomBytes, bac_keys, mrz_information
from printers.chip.ca import CaChip
from printers.chip.sm import ChipChannel, ExtendedLengths, SecureMessagingError, SmUnsupported

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY = 0x6982
SW_CONDITIONS = 0x6985
SW_WRONG_DATA = 0x6A80
SW_WRONG_P1P2 = 0x6A86
SW_REFERENCE_NOT_FOUND = 0x6A88

KEY_CURVE = ec.SECP256R1
CLA_SM = 0x0C
_ACCESS_TAGS = (0x5A, 0x5F2B, 0x5F24)  # document number, date of birth, date of expiry

Answer = Callable[[Apdu], tuple[bytes, int]]
"""The chip's answer to one plain command: response data and status word."""


def point_of(key: ec.EllipticCurvePublicKey) -> bytes:
    """``7F49 { 86 <04 || X || Y> }``: a public key as GENERATE ASYMMETRIC KEY PAIR answers."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    point = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return tlv.encode(0x7F49, tlv.encode(0x86, point))


def public_key_of(answer: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 public key in a GENERATE ASYMMETRIC KEY PAIR answer (``ValueError`` if it is
    not one)."""
    try:
        point = tlv.decode_single(tlv.decode_single(answer, 0x7F49), 0x86)
    except tlv.TlvError as exc:
        raise ValueError(f"not a 7F49 public key template: {exc}") from None
    return ec.EllipticCurvePublicKey.from_encoded_point(KEY_CURVE(), point)


class ChipSecrets:
    """What the chip keeps in its EEPROM beside the files: the BAC keys it derived from its
    access data and its private keys. Never logged, never read out."""

    __slots__ = ("kenc", "kmac", "keys")

    def __init__(self) -> None:
        self.kenc: bytes | None = None
        self.kmac: bytes | None = None
        self.keys: dict[int, ec.EllipticCurvePrivateKey] = {}

    def __repr__(self) -> str:
        return f"ChipSecrets(access={'set' if self.kenc else 'unset'}, keys={sorted(self.keys)})"

    @property
    def complete(self) -> bool:
        """Access keys and both key pairs: what an issued chip needs."""
        return self.kenc is not None and KEY_AA in self.keys and KEY_CA in self.keys

    def put_access_data(self, apdu: Apdu) -> int:
        if apdu.p1 != 0 or apdu.p2 != TAG_ACCESS_DATA:
            return SW_WRONG_P1P2
        if self.kenc is not None:
            return SW_CONDITIONS  # given once
        try:
            content = tlv.decode_single(apdu.data, TAG_ACCESS_DATA)
            fields = {item.tag: item.value for item in tlv.decode(content)}
            values = [fields[tag].decode("ascii") for tag in _ACCESS_TAGS]
            expiry = None if values[2] == "<" * 6 else values[2]
            self.kenc, self.kmac = bac_keys(mrz_information(values[0], values[1], expiry))
        except (tlv.TlvError, KeyError, UnicodeDecodeError, ValueError):
            return SW_WRONG_DATA
        return SW_OK

    def key_pair(self, apdu: Apdu, *, locked: bool) -> tuple[bytes, int]:
        if apdu.p2 not in (KEY_AA, KEY_CA):
            return b"", SW_REFERENCE_NOT_FOUND
        if locked:
            return b"", SW_SECURITY
        key = self.keys.get(apdu.p2)
        if apdu.p1 == KEY_PAIR_GENERATE:
            if key is not None:
                return b"", SW_CONDITIONS  # made once: its public key is signed in the SOD
            key = self.keys[apdu.p2] = ec.generate_private_key(KEY_CURVE())
        elif apdu.p1 != KEY_PAIR_READ_PUBLIC:
            return b"", SW_WRONG_P1P2
        if key is None:
            return b"", SW_REFERENCE_NOT_FOUND
        return point_of(key.public_key()), SW_OK


class Session:
    """One reader's session with the chip: BAC, then secure messaging, then perhaps Chip
    Authentication. Volatile: gone with power off or reset."""

    __slots__ = ("_secrets", "_random_bytes", "_bac", "_channel", "_ca", "_extended")

    def __init__(
        self,
        chip_secrets: ChipSecrets,
        random_bytes: RandomBytes,
        extended: ExtendedLengths | None = None,
    ) -> None:
        self._secrets = chip_secrets
        self._random_bytes = random_bytes
        self._extended = extended  # the chip's extended lengths: its channels take them
        self._bac: BacChip | None = None
        self._channel: ChipChannel | None = None
        self._ca: CaChip | None = None

    @property
    def secure(self) -> bool:
        return self._channel is not None

    def end(self) -> None:
        self._channel = None
        self._ca = None
        if self._bac is not None:
            self._bac.reset()

    def bac(self, command: bytes) -> bytes:
        """A GET CHALLENGE or MUTUAL AUTHENTICATE in clear; opens secure messaging."""
        self._channel, self._ca = None, None  # BAC's own state (its challenge) stays
        secrets_ = self._secrets
        if secrets_.kenc is None or secrets_.kmac is None:
            return _sw(SW_CONDITIONS)
        if self._bac is None:
            self._bac = BacChip(secrets_.kenc, secrets_.kmac, random_bytes=self._random_bytes)
        data, sw = self._bac.answer(command)
        keys = self._bac.session_keys
        if keys is not None:
            self._channel = ChipChannel(keys)
            self._channel.allow_extended(self._extended)
            ca_key = secrets_.keys.get(KEY_CA)
            self._ca = CaChip(ca_key) if ca_key is not None else None
        return data + _sw(sw)

    def protected(self, command: bytes, answer: Answer) -> bytes:
        """A command under secure messaging: unprotect, ``answer`` the plain command (or run
        Chip Authentication), protect the response. An SM error ends the session and is
        answered in clear."""
        channel = self._channel
        assert channel is not None
        try:
            if command[1] in (INS_MSE, INS_GENERAL_AUTHENTICATE):
                if self._ca is None:
                    channel.unprotect_command(command)
                    return channel.protect_response(b"", SW_REFERENCE_NOT_FOUND)
                response, self._channel = self._ca.exchange(channel, command)
                self._channel.allow_extended(self._extended)
                return response
            plain = channel.unprotect_command(command)
            data, sw = answer(Apdu.from_bytes(plain, extended=self._extended is not None))
            try:
                return channel.protect_response(data, sw)
            except SmUnsupported:  # the answer would not fit a protected short APDU
                return channel.protect_response(b"", SW_WRONG_LENGTH)
        except SecureMessagingError as error:
            self.end()
            status = error.fields.get("sw")
            return _sw(int(str(status), 16) if status else 0x6988)
        except ValueError:  # the plain command inside is not an APDU
            self.end()
            return _sw(0x6988)

    def internal_authenticate(self, apdu: Apdu) -> tuple[bytes, int]:
        key = self._secrets.keys.get(KEY_AA)
        if key is None:
            return b"", SW_REFERENCE_NOT_FOUND
        if (apdu.p1, apdu.p2) != (0, 0):
            return b"", SW_WRONG_P1P2
        try:
            return internal_authenticate(key, apdu.data), SW_OK
        except AaError:
            return b"", SW_WRONG_LENGTH


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")
