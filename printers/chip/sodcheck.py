"""Verifying EF.SOD against the CSCA: a chain of small checks (``SOD_CHECKS``), each turning
one condition of a parsed SOD (:mod:`printers.chip.sodparse`) into one ``qc.sod.*`` reason
code; ``inspect_sod`` runs them, ``verify_sod`` returns the data group hashes of a SOD that
passes them all. The reason codes: see :mod:`printers.chip.sod`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from printers.chip.sodparse import ID_LDS_SECURITY_OBJECT, SodContents, SodError, parse_sod

_DIGESTS: Mapping[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
SUPPORTED_DIGESTS = frozenset(_DIGESTS)
"""Digest algorithms (asn1crypto names) this verifier supports."""
_SIGNATURES = frozenset({"ecdsa", "rsassa_pkcs1v15"})


# --- verification -----------------------------------------------------------------------

SodCheck = Callable[[SodContents, x509.Certificate], SodError | None]


def check_content_type(sod: SodContents, csca: x509.Certificate) -> SodError | None:
    if sod.content_type != ID_LDS_SECURITY_OBJECT or sod.attr_content_type != sod.content_type:
        return SodError("content is not an LDSSecurityObject", reason_code="qc.sod.content_type")
    return None


def check_algorithms(sod: SodContents, csca: x509.Certificate) -> SodError | None:
    if (
        sod.digest_algorithm not in _DIGESTS
        or sod.hash_algorithm not in _DIGESTS
        or sod.signature_algorithm not in _SIGNATURES
        or sod.signature_hash not in _DIGESTS
    ):
        return SodError("unsupported digest or signature algorithm", reason_code="qc.sod.algorithm")
    return None


def check_digest(sod: SodContents, csca: x509.Certificate) -> SodError | None:
    if sod.digest_algorithm not in _DIGESTS:
        return None  # reported by check_algorithms
    expected = hashlib.new(sod.digest_algorithm, sod.econtent).digest()
    if sod.message_digest != expected:
        return SodError(
            "messageDigest is not the digest of the LDSSecurityObject",
            reason_code="qc.sod.digest",
        )
    return None


def _verify_signature(sod: SodContents, certificate: x509.Certificate) -> bool:
    make_hash = _DIGESTS.get(sod.signature_hash or "")
    if make_hash is None:
        return True  # reported by check_algorithms
    algorithm = make_hash()
    try:
        key = certificate.public_key()
        if sod.signature_algorithm == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sod.signature, sod.signed_attrs, ec.ECDSA(algorithm))
        elif sod.signature_algorithm == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(sod.signature, sod.signed_attrs, padding.PKCS1v15(), algorithm)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False  # a damaged certificate may carry an unknown key type
    return True


def check_signature(sod: SodContents, csca: x509.Certificate) -> SodError | None:
    if sod.signer_certificate is None:
        return None  # reported by check_certificate
    if not _verify_signature(sod, sod.signer_certificate):
        return SodError(
            "the signature does not verify with the Document Signer certificate",
            reason_code="qc.sod.signature",
        )
    return None


def _certificate_problem(sod: SodContents, csca: x509.Certificate) -> str | None:
    ds = sod.signer_certificate
    if ds is None:
        return "no certificate matches the SignerInfo"
    try:
        ds.verify_directly_issued_by(csca)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return "the Document Signer certificate is not issued by the CSCA"
    try:
        usage = ds.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    except ValueError:
        return "the Document Signer certificate's extensions are malformed"
    if usage is not None and not usage.digital_signature:
        return "the Document Signer certificate is not for digital signatures"
    if sod.signing_time is None:
        return "no signing time to judge the certificates' validity at"
    for what, certificate in (("Document Signer", ds), ("CSCA", csca)):
        if not (
            certificate.not_valid_before_utc <= sod.signing_time <= certificate.not_valid_after_utc
        ):
            return f"the {what} certificate is not valid at the signing time"
    return None


def check_certificate(sod: SodContents, csca: x509.Certificate) -> SodError | None:
    problem = _certificate_problem(sod, csca)
    return SodError(problem, reason_code="qc.sod.certificate") if problem else None


SOD_CHECKS: tuple[SodCheck, ...] = (
    check_content_type,
    check_algorithms,
    check_digest,
    check_signature,
    check_certificate,
)


def inspect_sod(
    ef_sod: bytes, csca_cert: x509.Certificate
) -> tuple[SodContents | None, tuple[SodError, ...]]:
    """The SOD's contents (``None`` if unparseable) and every check it fails."""
    try:
        sod = parse_sod(ef_sod)
    except SodError as exc:
        return None, (exc,)
    problems = (check(sod, csca_cert) for check in SOD_CHECKS)
    return sod, tuple(problem for problem in problems if problem is not None)


def verify_sod(ef_sod: bytes, csca_cert: x509.Certificate) -> dict[int, bytes]:
    """The data group hashes of a SOD that passes every check; raises the first
    ``SodError`` otherwise."""
    sod, problems = inspect_sod(ef_sod, csca_cert)
    if sod is None or problems:
        raise problems[0]
    return dict(sod.dg_hashes)
