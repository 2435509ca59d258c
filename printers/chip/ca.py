"""Chip Authentication with ECDH and AES (ICAO Doc 9303-11 §6.2; BSI TR-03110 CA version 1
with the "AES" commands): both ends.

The chip proves it holds the private key of the CA public key in DG14 (signed in the SOD,
so a cloned chip without the key cannot follow), and both sides get fresh AES session keys:

1. the reader makes an ephemeral key pair on the chip key's curve;
2. MSE:Set AT for Chip Authentication, ``00 22 41 A4`` with ``80`` the protocol OID
   (its DER content bytes) and, if the chip has several CA keys, ``84`` the key id;
3. GENERAL AUTHENTICATE, ``00 86 00 00 Lc 7C { 80 <ephemeral public point, uncompressed> }
   00``; the chip answers ``7C 00`` (no dynamic authentication data in version 1);
4. both compute K = the x coordinate of the ECDH shared point (its full field length, as
   ``cryptography``'s ``exchange`` gives it, TR-03111 FE2OS), KSenc = KDF(K, 1), KSmac =
   KDF(K, 2) (:func:`printers.chip.bac.derive_key`, SHA-1 for AES-128), SSC = 0.

Both commands travel under the current secure messaging session (BAC's), and **so does the
chip's response to GENERAL AUTHENTICATE**: the chip protects that response with the old
keys and only then switches; the reader unprotects it with the old keys and sends the next
command under the new ones, SSC 0 (so its first MAC covers SSC 1). That is JMRTD's order
(``EACCAProtocol.doCA``: ``sendPublicKey`` through the existing wrapper, then
``restartSecureMessaging`` with SSC 0) and the one of gmrtd's recorded Austrian-passport
session (``chipauth/chip_auth_test.go``, ``TestChipAuthAT``), which ``tests/printers/chip/
test_ca.py`` replays byte for byte: the GENERAL AUTHENTICATE answer there is protected
with the PACE keys, the SELECT after it with the new keys at SSC 1. (9303-11 §6.2 and
TR-03110 say SM restarts with the derived keys; the moment is what these two show.)
:meth:`CaChip.exchange` does it in that order.

Chip Authentication is implicit: the reader learns the chip is genuine only when a response
under the new keys verifies. :func:`chip_authenticate` returns the keys; the caller must run
at least one protected command under them (a SELECT, the rest of the read-back) before it
counts the chip as authenticated.

Protocols: ``id-CA-ECDH-AES-CBC-CMAC-128`` (0.4.0.127.0.7.2.2.3.2.2, the default), -192 and
-256 (...3.2.3, ...3.2.4). ``id-CA-ECDH-3DES-CBC-CBC`` uses MSE:Set KAT instead, and DH
keys other commands: neither is supported. The chip's CA public key and its OID come from
DG14 (``printers.chip.secinfo``): this module takes them as parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from asn1crypto.core import ObjectIdentifier  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from printers.chip import tlv
from printers.chip.apdu import CLA_ISO, INS_GENERAL_AUTHENTICATE, INS_MSE, MAX_LE, Apdu
from printers.chip.bac import ENC, MAC, Send, derive_key
from printers.chip.sm import SW_OK, ChipChannel, CipherName, ReaderChannel, SessionKeys
from printers.errors import PrintersError

ID_CA_ECDH_3DES_CBC_CBC = "0.4.0.127.0.7.2.2.3.2.1"
ID_CA_ECDH_AES_CBC_CMAC_128 = "0.4.0.127.0.7.2.2.3.2.2"
ID_CA_ECDH_AES_CBC_CMAC_192 = "0.4.0.127.0.7.2.2.3.2.3"
ID_CA_ECDH_AES_CBC_CMAC_256 = "0.4.0.127.0.7.2.2.3.2.4"

CA_CIPHERS: dict[str, CipherName] = {
    ID_CA_ECDH_AES_CBC_CMAC_128: "AES-128",
    ID_CA_ECDH_AES_CBC_CMAC_192: "AES-192",
    ID_CA_ECDH_AES_CBC_CMAC_256: "AES-256",
}
"""The Chip Authentication protocols supported here and their SM cipher."""

MSE_SET_AT = (0x41, 0xA4)  # set, for computation: the authentication template (CA)
TAG_PROTOCOL = 0x80
TAG_KEY_ID = 0x84
TAG_DYNAMIC_AUTHENTICATION = 0x7C
TAG_EPHEMERAL_KEY = 0x80
CLA_CHAINING = 0x10

SW_WRONG_DATA = 0x6A80
SW_WRONG_P1P2 = 0x6A86
SW_REFERENCE_NOT_FOUND = 0x6A88
SW_CONDITIONS_NOT_SATISFIED = 0x6985
SW_CHAINING_NOT_SUPPORTED = 0x6884
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_INS_NOT_SUPPORTED = 0x6D00
SW_WRONG_LENGTH = 0x6700

KeyGenerator = Callable[[ec.EllipticCurve], ec.EllipticCurvePrivateKey]
"""Makes the reader's ephemeral key pair on a curve (``ec.generate_private_key``)."""


class CaError(PrintersError):
    """Chip Authentication failed; ``reason_code`` is ``ca.<what>``, ``sw`` the status word
    (hex) the chip answered, if that is why. Secure messaging failures on the way raise
    :class:`printers.chip.sm.SecureMessagingError` instead."""

    reason: ClassVar[str] = "ca.error"

    def __init__(
        self, message: str, *, reason_code: str | None = None, sw: str | None = None
    ) -> None:
        code = reason_code or self.reason
        super().__init__(message, reason_code=code, sw=sw)
        self.reason_code = code
        self.sw = sw


def _cipher_of(oid: str) -> CipherName:
    try:
        return CA_CIPHERS[oid]
    except KeyError:
        raise CaError(
            f"Chip Authentication protocol {oid} is not supported (only ECDH with AES)",
            reason_code="ca.unsupported",
        ) from None


def oid_content(oid: str) -> bytes:
    """The DER content bytes of an OID (what ``80`` of MSE:Set AT carries)."""
    return bytes(ObjectIdentifier(oid).contents)


def _key_id_bytes(key_id: int) -> bytes:
    if key_id < 0:
        raise ValueError(f"key id {key_id} is negative")
    return key_id.to_bytes(max(1, (key_id.bit_length() + 7) // 8), "big")


def mse_set_at(oid: str = ID_CA_ECDH_AES_CBC_CMAC_128, key_id: int | None = None) -> bytes:
    """MSE:Set AT for Chip Authentication: ``00 22 41 A4`` with ``80`` OID [``84`` key id]."""
    data = tlv.encode(TAG_PROTOCOL, oid_content(oid))
    if key_id is not None:
        data += tlv.encode(TAG_KEY_ID, _key_id_bytes(key_id))
    return Apdu(CLA_ISO, INS_MSE, *MSE_SET_AT, data).to_bytes()


def general_authenticate(point: bytes) -> bytes:
    """GENERAL AUTHENTICATE with the ephemeral public point: ``00 86 00 00 .. 7C {80 ..} 00``."""
    data = tlv.encode(TAG_DYNAMIC_AUTHENTICATION, tlv.encode(TAG_EPHEMERAL_KEY, point))
    return Apdu(CLA_ISO, INS_GENERAL_AUTHENTICATE, 0x00, 0x00, data, le=MAX_LE).to_bytes()


def encode_point(key: ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed point ``04 || X || Y``."""
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def ca_session_keys(shared_secret: bytes, oid: str = ID_CA_ECDH_AES_CBC_CMAC_128) -> SessionKeys:
    """KSenc = KDF(K, 1), KSmac = KDF(K, 2) for the protocol's cipher; SSC 0."""
    cipher = _cipher_of(oid)
    return SessionKeys(
        cipher, derive_key(shared_secret, ENC, cipher), derive_key(shared_secret, MAC, cipher), 0
    )


def _exchange(channel: ReaderChannel, send: Send, command: bytes) -> tuple[bytes, int]:
    data, sw = send(channel.protect(command))
    return channel.unprotect(data + sw.to_bytes(2, "big"))


def chip_authenticate(
    send: Send,
    channel: ReaderChannel,
    chip_public_key: ec.EllipticCurvePublicKey,
    *,
    oid: str = ID_CA_ECDH_AES_CBC_CMAC_128,
    key_id: int | None = None,
    generate_key: KeyGenerator = ec.generate_private_key,
) -> SessionKeys:
    """Run Chip Authentication under ``channel`` (the BAC session) through ``send`` (raw
    APDU bytes in, response data and status word out); the new session keys (SSC 0).

    On success ``channel`` is closed: continue with ``ReaderChannel(keys)``. A refusal by
    the chip (a protected status word other than 9000) raises :class:`CaError` and leaves
    ``channel`` usable; a secure messaging failure ends it (``SecureMessagingError``)."""
    _cipher_of(oid)  # refuse an unsupported protocol before sending anything
    if not isinstance(chip_public_key, ec.EllipticCurvePublicKey):
        raise CaError("the chip's CA public key is not an EC key", reason_code="ca.key")
    ephemeral = generate_key(chip_public_key.curve)
    if ephemeral.curve.name != chip_public_key.curve.name:
        raise CaError("the ephemeral key is not on the chip key's curve", reason_code="ca.key")
    _, sw = _exchange(channel, send, mse_set_at(oid, key_id))
    if sw != SW_OK:
        raise CaError(f"MSE:Set AT answered {sw:04X}", reason_code="ca.refused", sw=f"{sw:04X}")
    point = encode_point(ephemeral.public_key())
    answer, sw = _exchange(channel, send, general_authenticate(point))
    if sw != SW_OK:
        raise CaError(
            f"GENERAL AUTHENTICATE answered {sw:04X}", reason_code="ca.refused", sw=f"{sw:04X}"
        )
    try:
        dynamic = tlv.decode_single(answer, TAG_DYNAMIC_AUTHENTICATION)
    except tlv.TlvError as error:
        raise CaError(
            f"GENERAL AUTHENTICATE's answer is not 7C ({error})", reason_code="ca.protocol"
        ) from None
    if dynamic:
        raise CaError(
            "GENERAL AUTHENTICATE answered dynamic authentication data: CA version 2 is not "
            "supported",
            reason_code="ca.protocol",
        )
    keys = ca_session_keys(ephemeral.exchange(ec.ECDH(), chip_public_key), oid)
    channel.close()
    return keys


# --- the chip -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class CaAnswer:
    """The chip's answer to one CA command: response data, status word, and after a
    successful GENERAL AUTHENTICATE the new session keys (to switch to *after* protecting
    this answer under the old ones)."""

    data: bytes
    sw: int
    keys: SessionKeys | None = None

    def __repr__(self) -> str:
        return f"CaAnswer(length={len(self.data)}, sw={self.sw:04X}, new_keys={self.keys})"


class CaChip:
    """The chip's side of Chip Authentication, for its static CA private key.

    :meth:`answer` takes a plain (already unprotected) MSE:Set AT or GENERAL
    AUTHENTICATE; :meth:`exchange` takes the protected command and the chip's channel and
    returns the protected response and the channel for what follows, in 9303-11's order.
    GENERAL AUTHENTICATE without a prior MSE:Set AT answers ``6985``; a wrong OID or an
    invalid point ``6A80``; an unknown key id ``6A88``; other P1-P2 ``6A86``."""

    __slots__ = ("_private_key", "_oid", "_oid_content", "_key_id", "_cipher", "_armed")

    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        *,
        oid: str = ID_CA_ECDH_AES_CBC_CMAC_128,
        key_id: int | None = None,
    ) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise CaError("the CA private key is not an EC key", reason_code="ca.key")
        self._cipher = _cipher_of(oid)
        self._private_key = private_key
        self._oid = oid
        self._oid_content = oid_content(oid)
        self._key_id = None if key_id is None else _key_id_bytes(key_id)
        self._armed = False

    def __repr__(self) -> str:
        return f"CaChip({self._oid}, curve={self._private_key.curve.name})"

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._private_key.public_key()

    def reset(self) -> None:
        """Forget a pending MSE:Set AT (power off, a new session)."""
        self._armed = False

    def handles(self, command: bytes) -> bool:
        """Whether ``command`` (plain) is MSE or GENERAL AUTHENTICATE."""
        return len(command) >= 4 and command[1] in (INS_MSE, INS_GENERAL_AUTHENTICATE)

    def answer(self, command: bytes) -> CaAnswer:
        try:
            apdu = Apdu.from_bytes(command)
        except ValueError:
            return CaAnswer(b"", SW_WRONG_LENGTH)
        if apdu.ins == INS_GENERAL_AUTHENTICATE and apdu.cla == CLA_ISO | CLA_CHAINING:
            self._armed = False
            return CaAnswer(b"", SW_CHAINING_NOT_SUPPORTED)
        if apdu.cla != CLA_ISO:
            return CaAnswer(b"", SW_CLA_NOT_SUPPORTED)
        if apdu.ins == INS_MSE:
            return self._mse(apdu)
        if apdu.ins == INS_GENERAL_AUTHENTICATE:
            return self._general_authenticate(apdu)
        return CaAnswer(b"", SW_INS_NOT_SUPPORTED)

    def exchange(self, channel: ChipChannel, command: bytes) -> tuple[bytes, ChipChannel]:
        """Unprotect ``command``, answer it, protect the answer under ``channel``'s keys; after
        a successful GENERAL AUTHENTICATE ``channel`` is closed and the returned channel
        holds the new keys. ``SecureMessagingError`` propagates: answer its ``sw`` in clear.
        """
        result = self.answer(channel.unprotect_command(command))
        response = channel.protect_response(result.data, result.sw)
        if result.keys is None:
            return response, channel
        channel.close()
        return response, ChipChannel(result.keys)

    def _mse(self, apdu: Apdu) -> CaAnswer:
        self._armed = False
        if (apdu.p1, apdu.p2) != MSE_SET_AT:
            return CaAnswer(b"", SW_WRONG_P1P2)
        try:
            objects = tlv.decode(apdu.data)
        except tlv.TlvError:
            return CaAnswer(b"", SW_WRONG_DATA)
        tags = [item.tag for item in objects]
        if tags not in ([TAG_PROTOCOL], [TAG_PROTOCOL, TAG_KEY_ID]):
            return CaAnswer(b"", SW_WRONG_DATA)
        if objects[0].value != self._oid_content:
            return CaAnswer(b"", SW_WRONG_DATA)
        if len(objects) == 2 and (
            self._key_id is None
            or int.from_bytes(objects[1].value, "big") != int.from_bytes(self._key_id, "big")
            or not objects[1].value
        ):
            return CaAnswer(b"", SW_REFERENCE_NOT_FOUND)
        self._armed = True
        return CaAnswer(b"", SW_OK)

    def _general_authenticate(self, apdu: Apdu) -> CaAnswer:
        armed, self._armed = self._armed, False
        if (apdu.p1, apdu.p2) != (0, 0):
            return CaAnswer(b"", SW_WRONG_P1P2)
        if not armed:
            return CaAnswer(b"", SW_CONDITIONS_NOT_SATISFIED)
        try:
            (point,) = tlv.decode_children(
                tlv.decode_single(apdu.data, TAG_DYNAMIC_AUTHENTICATION), [TAG_EPHEMERAL_KEY]
            )
        except tlv.TlvError:
            return CaAnswer(b"", SW_WRONG_DATA)
        curve = self._private_key.curve
        size = (curve.key_size + 7) // 8
        if len(point) != 1 + 2 * size or point[0] != 0x04:
            return CaAnswer(b"", SW_WRONG_DATA)
        try:  # cryptography checks the point is on the curve
            ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
        except ValueError:
            return CaAnswer(b"", SW_WRONG_DATA)
        keys = ca_session_keys(self._private_key.exchange(ec.ECDH(), ephemeral), self._oid)
        return CaAnswer(tlv.encode(TAG_DYNAMIC_AUTHENTICATION, b""), SW_OK, keys)
