"""EF.SOD, the Document Security Object (ICAO 9303-10 4.6.2, 9303-11 / RFC 5652): building it
with the Document Signer and verifying it against the CSCA.

EF.SOD is ``77 { ContentInfo }``; the ContentInfo is a CMS SignedData (version 3, digest
SHA-256) encapsulating an ``LDSSecurityObject`` (eContentType 2.23.136.1.1.1) that holds the
SHA-256 of every data group file, with the DS certificate and one SignerInfo (issuer and
serial number; signed attributes contentType, signingTime, messageDigest; ECDSA with
SHA-256). The ASN.1 is built and parsed with asn1crypto, signatures made and checked with
cryptography.

Verification is a chain of small checks (``inspect_sod``), each turning one condition into
one reason code:

- ``qc.sod.format``: not an EF.SOD holding a SignedData over an LDSSecurityObject;
- ``qc.sod.content_type``: eContentType, or the contentType signed attribute, is not
  id-icao-mrtd-security-ldsSecurityObject;
- ``qc.sod.algorithm``: a digest or signature algorithm this verifier does not support;
- ``qc.sod.digest``: messageDigest is not the digest of the eContent;
- ``qc.sod.signature``: the signature over the signed attributes does not verify with the
  DS certificate's key;
- ``qc.sod.certificate``: no DS certificate matching the SignerInfo, not issued (signed) by
  the CSCA, not a signing certificate, no signing time, or the DS or the CSCA certificate not
  valid at the signing time. Validity is judged at the signing time, not today: a card stays
  verifiable for its whole life, after its DS certificate has expired.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, cast

from asn1crypto import algos, cms, core  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from line.errors import CardlineError
from printers.chip import tlv
from printers.chip.lds import DG_TAGS, TAG_SOD
from printers.keys import DocumentSigner
from printers.pki import check_key_usage_period

ID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
"""id-icao-mrtd-security-ldsSecurityObject."""

_DIGESTS: Mapping[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
SUPPORTED_DIGESTS = frozenset(_DIGESTS)
"""Digest algorithms (asn1crypto names) this verifier supports."""
_DER = Encoding.DER
_SIGNATURES = frozenset({"ecdsa", "rsassa_pkcs1v15"})


class SodError(CardlineError):
    """An EF.SOD that cannot be built, parsed or trusted; ``reason_code`` says which check
    failed (``qc.sod.*`` for verification)."""

    def __init__(self, message: str, *, reason_code: str) -> None:
        super().__init__(message, reason_code=reason_code)
        self.reason_code = reason_code


# --- ASN.1 of 9303-10 4.6.2.2 -----------------------------------------------------------


class DataGroupHash(core.Sequence):  # type: ignore[misc]
    """``DataGroupHash ::= SEQUENCE { dataGroupNumber INTEGER (1..16),
    dataGroupHashValue OCTET STRING }``"""

    _fields = [
        ("data_group_number", core.Integer),
        ("data_group_hash_value", core.OctetString),
    ]


class DataGroupHashValues(core.SequenceOf):  # type: ignore[misc]
    _child_spec = DataGroupHash


class LdsVersionInfo(core.Sequence):  # type: ignore[misc]
    """Present in version 1 objects only (LDS 1.8)."""

    _fields = [
        ("lds_version", core.PrintableString),
        ("unicode_version", core.PrintableString),
    ]


class LdsSecurityObject(core.Sequence):  # type: ignore[misc]
    """``LDSSecurityObject ::= SEQUENCE { version LDSSecurityObjectVersion (v0 | v1),
    hashAlgorithm DigestAlgorithmIdentifier, dataGroupHashValues SEQUENCE SIZE (2..16) OF
    DataGroupHash, ldsVersionInfo LDSVersionInfo OPTIONAL }``"""

    _fields = [
        ("version", core.Integer),
        ("hash_algorithm", algos.DigestAlgorithm),
        ("data_group_hash_values", DataGroupHashValues),
        ("lds_version_info", LdsVersionInfo, {"optional": True}),
    ]


# --- building ---------------------------------------------------------------------------


_SHA256_ID = bytes.fromhex("300b0609608648016503040201")
"""``AlgorithmIdentifier { id-sha256 }`` with parameters absent, as RFC 5754 says to write
it (asn1crypto would add a NULL, which verifiers accept but need not)."""


def _sha256() -> Any:
    return algos.DigestAlgorithm.load(_SHA256_ID)


def _asn1_time(moment: datetime) -> Any:
    """A CMS ``Time``: UTCTime before 2050, GeneralizedTime after (RFC 5652 11.3)."""
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if 1950 <= moment.year < 2050:
        return cms.Time({"utc_time": core.UTCTime(moment)})
    return cms.Time({"generalized_time": core.GeneralizedTime(moment)})


def lds_security_object(data_groups: Mapping[int, bytes]) -> bytes:
    """The DER of an LDSSecurityObject (version 0, SHA-256) over ``data_groups``
    (number -> whole data group file)."""
    if len(data_groups) < 2:  # SIZE (2..16): DG1 and DG2 are mandatory
        raise SodError(
            "an LDSSecurityObject hashes 2 to 16 data groups", reason_code="sod.data_groups"
        )
    unknown = sorted(n for n in data_groups if n not in DG_TAGS)
    if unknown:
        raise SodError(f"no such data groups {unknown}", reason_code="sod.data_groups")
    hashes_ = [
        {"data_group_number": n, "data_group_hash_value": hashlib.sha256(data_groups[n]).digest()}
        for n in sorted(data_groups)
    ]
    lso = LdsSecurityObject(
        {
            "version": 0,
            "hash_algorithm": _sha256(),
            "data_group_hash_values": hashes_,
        }
    )
    return cast(bytes, lso.dump())


@functools.lru_cache(maxsize=8)
def _signer_identity(certificate_der: bytes) -> tuple[bytes, bytes]:
    """The DER of the SignerIdentifier (issuer and serial number) and of the certificate
    choice of a DS certificate: the same for every SOD it signs, made once."""
    ds = asn1_x509.Certificate.load(certificate_der)
    sid = cms.SignerIdentifier(
        {
            "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": ds.issuer, "serial_number": ds.serial_number}
            )
        }
    )
    return bytes(sid.dump()), bytes(cms.CertificateChoices({"certificate": ds}).dump())


def build_sod(
    data_groups: Mapping[int, bytes], signer: DocumentSigner, *, signing_time: datetime
) -> bytes:
    """EF.SOD (tag 77) signing the SHA-256 of each of ``data_groups`` (DG number -> the DG
    file's bytes, tag included) with ``signer`` (ECDSA with SHA-256 over the DER of the signed
    attributes) at ``signing_time`` (aware). Refuses to sign outside the DS certificate's
    validity (such a card would fail QC), and outside its private key usage period
    (``printers.pki.KeyUsagePeriodOver``: the run stops, saying ``cardline keys rotate``)."""
    if signing_time.tzinfo is None:
        raise ValueError("signing_time must be an aware datetime")
    certificate = signer.certificate
    if not (certificate.not_valid_before_utc <= signing_time <= certificate.not_valid_after_utc):
        raise SodError(
            "the Document Signer certificate is not valid at the signing time",
            reason_code="sod.signer_validity",
        )
    # ICAO 9303-12: the DS private key signs only within its private key usage period.
    check_key_usage_period(certificate, at=signing_time)
    econtent = lds_security_object(data_groups)
    signed_attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": [ID_LDS_SECURITY_OBJECT]},
            {"type": "signing_time", "values": [_asn1_time(signing_time)]},
            {"type": "message_digest", "values": [hashlib.sha256(econtent).digest()]},
        ]
    )
    # The signer hashes and signs (in its token): this code never holds a key.
    signature = signer.sign(signed_attrs.dump())
    sid, choice = _signer_identity(certificate.public_bytes(_DER))
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier.load(sid),
            "digest_algorithm": _sha256(),
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [_sha256()],
            "encap_content_info": {
                "content_type": ID_LDS_SECURITY_OBJECT,
                "content": core.ParsableOctetString(econtent),
            },
            "certificates": [cms.CertificateChoices.load(choice)],
            "signer_infos": [signer_info],
        }
    )
    content_info = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    return tlv.encode(TAG_SOD, content_info.dump())


# --- parsing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SodContents:
    """What an EF.SOD says, unverified. ``signed_attrs`` is the DER (SET OF) the signature
    covers; ``signer_certificate`` is the certificate the SignerInfo names, if included."""

    content_type: str
    econtent: bytes
    lso_version: int
    hash_algorithm: str
    dg_hashes: Mapping[int, bytes]
    digest_algorithm: str
    signature_algorithm: str
    signature_hash: str | None
    signed_attrs: bytes
    signature: bytes
    attr_content_type: str | None
    message_digest: bytes | None
    signing_time: datetime | None
    certificates: tuple[x509.Certificate, ...]
    signer_certificate: x509.Certificate | None


def _format(message: str) -> SodError:
    return SodError(message, reason_code="qc.sod.format")


def _single_attr(attrs: Any, name: str) -> Any:
    values = [attr["values"] for attr in attrs if attr["type"].native == name]
    if len(values) > 1 or (values and len(values[0]) != 1):
        raise _format(f"signed attribute {name} is not single-valued")
    return values[0][0] if values else None


def _matches(sid: Any, certificate: Any) -> bool:
    if sid.name == "issuer_and_serial_number":
        chosen = sid.chosen
        return bool(
            chosen["issuer"].dump() == certificate.issuer.dump()
            and chosen["serial_number"].native == certificate.serial_number
        )
    return bool(sid.chosen.native == certificate.key_identifier)


def _parse_lso(econtent: bytes) -> tuple[int, str, dict[int, bytes]]:
    lso = LdsSecurityObject.load(econtent, strict=True)
    version = lso["version"].native
    algorithm = lso["hash_algorithm"]["algorithm"].native
    if version not in (0, 1):
        raise _format("LDSSecurityObject version is not 0 or 1")
    dg_hashes: dict[int, bytes] = {}
    for item in lso["data_group_hash_values"]:
        number = item["data_group_number"].native
        if number not in DG_TAGS or number in dg_hashes:
            raise _format("data group numbers are not distinct numbers of 1..16")
        dg_hashes[number] = item["data_group_hash_value"].native
    return version, algorithm, dg_hashes


def _parse(der: bytes) -> SodContents:
    info = cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise _format("ContentInfo does not hold a SignedData")
    signed = info["content"]
    encap = signed["encap_content_info"]
    econtent = encap["content"].contents if encap["content"] else None
    if econtent is None:
        raise _format("no encapsulated LDSSecurityObject")
    signer_infos = signed["signer_infos"]
    if len(signer_infos) != 1:
        raise _format("not exactly one SignerInfo")
    signer_info = signer_infos[0]
    attrs = signer_info["signed_attrs"]
    if not attrs:
        raise _format("no signed attributes")
    version, hash_algorithm, dg_hashes = _parse_lso(econtent)
    certificates = [c.chosen for c in signed["certificates"] or [] if c.name == "certificate"]
    signer = next((c for c in certificates if _matches(signer_info["sid"], c)), None)
    content_type = _single_attr(attrs, "content_type")
    digest = _single_attr(attrs, "message_digest")
    time = _single_attr(attrs, "signing_time")
    signing_time = time.native if time is not None else None
    if signing_time is not None and (
        not isinstance(signing_time, datetime) or signing_time.tzinfo is None
    ):
        raise _format("signing time is not a UTC time")
    signature_algorithm = signer_info["signature_algorithm"]
    try:
        signature_hash = signature_algorithm.hash_algo
    except ValueError:
        signature_hash = None
    return SodContents(
        content_type=encap["content_type"].dotted,
        econtent=econtent,
        lso_version=version,
        hash_algorithm=hash_algorithm,
        dg_hashes=MappingProxyType(dg_hashes),
        digest_algorithm=signer_info["digest_algorithm"]["algorithm"].native,
        signature_algorithm=signature_algorithm.signature_algo,
        signature_hash=signature_hash,
        signed_attrs=b"\x31" + tlv.encode_length(len(attrs.contents)) + attrs.contents,
        signature=signer_info["signature"].native,
        attr_content_type=content_type.dotted if content_type is not None else None,
        message_digest=digest.native if digest is not None else None,
        signing_time=signing_time,
        certificates=tuple(x509.load_der_x509_certificate(c.dump()) for c in certificates),
        signer_certificate=(
            x509.load_der_x509_certificate(signer.dump()) if signer is not None else None
        ),
    )


def parse_sod(ef_sod: bytes) -> SodContents:
    """The contents of EF.SOD, parsed strictly but not verified; ``SodError`` with
    ``qc.sod.format`` for anything that is not a well-formed one."""
    try:
        der = tlv.decode_single(ef_sod, TAG_SOD)
    except tlv.TlvError as exc:
        raise _format(f"not an EF.SOD: {exc}") from None
    try:
        return _parse(der)
    except SodError:
        raise
    except Exception as exc:  # asn1crypto parses lazily and raises many kinds on bad input
        raise _format(f"malformed SignedData ({type(exc).__name__})") from None


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
