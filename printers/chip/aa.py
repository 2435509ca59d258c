"""Active Authentication with ECDSA P-256 (ICAO 9303-11 6.1), chip side and reader side.

The reader sends an 8-byte nonce RND.IFD in INTERNAL AUTHENTICATE (``00 88 00 00 08
<RND.IFD> 00``, 9303-11 6.1.3); the chip signs it with its Active Authentication private key
and answers the signature. For ECDSA, 9303-11 6.1.2.3: "the plain signature format according
to [TR-03111] SHALL be used [...] The message M to be signed is the nonce RND.IFD": the chip
hashes the 8 challenge bytes themselves (SHA-256 for ecdsa-plain-SHA256, the algorithm
DG14's ActiveAuthenticationInfo names) and answers ``r || s``, each an unsigned big-endian
integer as long as the curve order (TR-03111 5.2.1): 64 bytes for P-256. JMRTD's reader
does the same (``SHA256withECDSA`` updated with the challenge, r and s the two halves of
the response, re-encoded as a DER SEQUENCE to verify).

Verification (``inspect_active_authentication``) is a chain of checks, one reason code
each:

- ``qc.aa.challenge``: the challenge is not 8 bytes (9303-11 6.1.2.1);
- ``qc.aa.dg15_missing`` / ``qc.aa.dg15_format``: no DG15 / a malformed one;
- ``qc.aa.dg14_format``: DG14 absent, malformed, or without the ActiveAuthenticationInfo
  that 9303-11 9.2.4 requires when ECDSA is used;
- ``qc.aa.algorithm``: DG15 holds another kind of key than EC P-256 (RSA with ISO 9796-2 is
  not supported), or DG14 names a signature algorithm other than ecdsa-plain-SHA224/-SHA256
  (9303-11 6.1.2.3: a hash no longer than the key, neither SHA-1 nor RIPEMD-160);
- ``qc.aa.response``: the response is not a plain P-256 signature (64 bytes);
- ``qc.aa.signature``: the signature does not verify with DG15's key over the challenge:
  a wrong chip (a clone holding copied files but another key) or another challenge.

Nothing here logs or quotes the challenge or the signature.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from printers.chip import secinfo, secread
from printers.chip.apdu import CLA_ISO, MAX_LE, Apdu
from printers.chip.lds import LdsError
from printers.errors import PrintersError

INS_INTERNAL_AUTHENTICATE = 0x88
CHALLENGE_LENGTH = 8
"""9303-11 6.1.2.1: RND.IFD "MUST be 8 bytes"."""
P256_ORDER_BYTES = 32
SIGNATURE_LENGTH = 2 * P256_ORDER_BYTES
"""A plain P-256 signature: r || s, 32 bytes each."""

_HASHES: Mapping[str, Callable[[], hashes.HashAlgorithm]] = {
    secinfo.ECDSA_PLAIN_SHA224: hashes.SHA224,
    secinfo.ECDSA_PLAIN_SHA256: hashes.SHA256,
}
"""The ecdsa-plain algorithms usable with a P-256 key: 9303-11 6.1.2.3 allows SHA-224 to
SHA-512 but only a hash "whose output length is of the same length or shorter than the
length of the ECDSA key", and never SHA-1 or RIPEMD-160."""
SUPPORTED_SIGNATURE_ALGORITHMS = frozenset(_HASHES)


class AaError(PrintersError):
    """Active Authentication that cannot be done or did not pass; ``reason_code`` says
    which check failed (``qc.aa.*`` on the reader side, ``aa.*`` on the chip side)."""

    def __init__(self, message: str, *, reason_code: str) -> None:
        super().__init__(message, reason_code=reason_code)
        self.reason_code = reason_code


def _check_challenge(challenge: bytes, reason_code: str) -> None:
    if len(challenge) != CHALLENGE_LENGTH:
        raise AaError(
            f"the challenge is {len(challenge)} bytes, not {CHALLENGE_LENGTH}",
            reason_code=reason_code,
        )


# --- chip side ----------------------------------------------------------------------------


def internal_authenticate(private_key: ec.EllipticCurvePrivateKey, challenge: bytes) -> bytes:
    """The chip's answer to INTERNAL AUTHENTICATE: the plain ECDSA signature ``r || s``
    (64 bytes) of the 8-byte ``challenge`` with SHA-256 (ecdsa-plain-SHA256). ``AaError``
    ``aa.challenge`` for a challenge that is not 8 bytes (the chip answers ``6700``),
    ``aa.key`` for a key that is not EC P-256."""
    _check_challenge(challenge, "aa.challenge")
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise AaError("the Active Authentication key is not EC P-256", reason_code="aa.key")
    r, s = decode_dss_signature(private_key.sign(bytes(challenge), ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(P256_ORDER_BYTES, "big") + s.to_bytes(P256_ORDER_BYTES, "big")


# --- reader side: the APDU ----------------------------------------------------------------


def internal_authenticate_command(challenge: bytes) -> Apdu:
    """INTERNAL AUTHENTICATE ``00 88 00 00 08 <challenge> 00`` (Le 00: up to 256 bytes)."""
    _check_challenge(challenge, "qc.aa.challenge")
    return Apdu(CLA_ISO, INS_INTERNAL_AUTHENTICATE, 0x00, 0x00, bytes(challenge), le=MAX_LE)


def parse_internal_authenticate_response(data: bytes) -> bytes:
    """The plain signature in INTERNAL AUTHENTICATE's response data (the status word was
    ``9000``: transports raise for any other); ``AaError`` ``qc.aa.response`` unless it is
    64 bytes, a P-256 ``r || s``."""
    if len(data) != SIGNATURE_LENGTH:
        raise AaError(
            f"the response is {len(data)} bytes, not a {SIGNATURE_LENGTH}-byte r||s",
            reason_code="qc.aa.response",
        )
    return bytes(data)


# --- reader side: verification ------------------------------------------------------------


def verify_signature(
    public_key: ec.EllipticCurvePublicKey,
    signature_algorithm: str,
    message: bytes,
    signature: bytes,
) -> None:
    """Check the plain ECDSA ``signature`` (``r || s``) of ``message`` with ``public_key``
    (P-256) and ``signature_algorithm`` (an ecdsa-plain OID). ``AaError``: ``qc.aa.algorithm``
    (an algorithm or key this verifier does not support), ``qc.aa.response`` (not 64
    bytes), ``qc.aa.signature`` (does not verify)."""
    make_hash = _HASHES.get(signature_algorithm)
    if make_hash is None or not isinstance(public_key.curve, ec.SECP256R1):
        raise AaError(
            "Active Authentication algorithm not supported (ECDSA P-256 with "
            "ecdsa-plain-SHA224 or -SHA256 only)",
            reason_code="qc.aa.algorithm",
        )
    plain = parse_internal_authenticate_response(signature)
    r = int.from_bytes(plain[:P256_ORDER_BYTES], "big")
    s = int.from_bytes(plain[P256_ORDER_BYTES:], "big")
    try:
        public_key.verify(encode_dss_signature(r, s), bytes(message), ec.ECDSA(make_hash()))
    except InvalidSignature:
        raise AaError(
            "the Active Authentication signature does not verify with DG15's key",
            reason_code="qc.aa.signature",
        ) from None


def _public_key(dg15: bytes | None) -> ec.EllipticCurvePublicKey:
    if not dg15:
        raise AaError("no DG15: the chip offers no Active Authentication key",
                      reason_code="qc.aa.dg15_missing")  # fmt: skip
    try:
        return secread.parse_dg15(dg15)
    except LdsError as exc:
        code = "qc.aa.algorithm" if exc.reason_code == "lds.dg15.algorithm" else "qc.aa.dg15_format"
        raise AaError(f"DG15 cannot be used: {exc}", reason_code=code) from None


def _signature_algorithm(dg14: bytes | None) -> str:
    if not dg14:
        raise AaError(
            "no DG14: ECDSA Active Authentication needs its ActiveAuthenticationInfo",
            reason_code="qc.aa.dg14_format",
        )
    try:
        info = secread.parse_dg14(dg14).active_authentication
    except LdsError as exc:
        raise AaError(f"DG14 cannot be used: {exc}", reason_code="qc.aa.dg14_format") from None
    if info is None:
        raise AaError(
            "DG14 holds no ActiveAuthenticationInfo (9303-11 9.2.4 requires one for ECDSA)",
            reason_code="qc.aa.dg14_format",
        )
    return info.signature_algorithm


def verify_active_authentication(
    dg15: bytes | None, dg14: bytes | None, challenge: bytes, signature: bytes
) -> None:
    """Check the chip's ``signature`` (INTERNAL AUTHENTICATE's response data) of
    ``challenge`` against the key of ``dg15`` and the algorithm of ``dg14`` (the files as
    read, ``None`` if absent). Returns nothing when the chip passed; raises ``AaError``
    with the reason code of the first check it fails (see the module's docstring).

    DG15 and DG14 are taken as they are: that their hashes are the SOD's is Passive
    Authentication's business (9303-11 6.1.6), checked elsewhere."""
    _check_challenge(challenge, "qc.aa.challenge")
    public_key = _public_key(dg15)
    verify_signature(public_key, _signature_algorithm(dg14), challenge, signature)


def inspect_active_authentication(
    dg15: bytes | None, dg14: bytes | None, challenge: bytes, signature: bytes
) -> AaError | None:
    """``verify_active_authentication`` as a check: the error, or None when it passed."""
    try:
        verify_active_authentication(dg15, dg14, challenge, signature)
    except AaError as exc:
        return exc
    return None
