"""Certificate profiles of the chip PKI (ICAO 9303-12 section 7.1): the Country Signing CA
(CSCA) and the Document Signer certificates (DSC) it issues.

- Keys: ECDSA on P-256 (secp256r1), signatures ECDSA with SHA-256 (P-256 is what every
  verifier, OpenSSL included, supports; brainpoolP256r1 would do as well).
- Both: X.509 v3, a positive serial number of at most 20 octets, validity in UTCTime until
  2049 (GeneralizedTime after, as ``cryptography`` encodes it), the country (``C``) in issuer
  and subject, no unique identifiers, no extended key usage (9303-12 defines none for the
  CSCA or a DSC), no alternative names (ICAO's checks of PKD uploads refuse them in a CSCA).
- CSCA: self-signed; basicConstraints cA TRUE, pathLenConstraint 0 (critical); keyUsage
  keyCertSign and cRLSign only (critical); subjectKeyIdentifier; privateKeyUsagePeriod (how
  long its key issues DSCs). Validity 15 years: its key signs DSCs for up to 5 years, and
  each of those must stay verifiable for the 10 years a DSC lives.
- DSC: issued by the CSCA; keyUsage digitalSignature only (critical); authorityKeyIdentifier
  (the CSCA's subjectKeyIdentifier); subjectKeyIdentifier; privateKeyUsagePeriod of 3 months
  (9303-12 advises a DS key signs for at most 3 months); the Document Type List extension
  (9303-12 7.1.1.6, OID 2.23.136.1.1.6.2, non-critical) naming ``ID``, the document code of
  the card's TD1 MRZ; no basicConstraints (the profile's "x": an end entity carries none,
  and a verifier treats it as no CA). Validity 10 years, never past the CSCA's.
- Chip QC checks the DSC at the SOD's signing time (``printers.chip.sod``), so cards stay
  verifiable after the DS key's usage period is over; the line refuses to sign after it
  (``check_key_usage_period``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from asn1crypto import core  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from printers.errors import PrintersError

CURVE = ec.SECP256R1
CSCA_VALIDITY = timedelta(days=15 * 365 + 4)
CSCA_KEY_USAGE_PERIOD = timedelta(days=5 * 365 + 1)
DS_VALIDITY = timedelta(days=10 * 365 + 3)
DS_KEY_USAGE_PERIOD = timedelta(days=92)
ORGANISATION = "cardline TEST"
UNIT = "TEST PKI - not for production"
CSCA_NAME = "cardline TEST CSCA - not for production"
DS_NAME = "cardline TEST Document Signer - not for production"

ID_DOCUMENT_TYPE_LIST = ObjectIdentifier("2.23.136.1.1.6.2")
"""id-icao-mrtd-security-extensions-documentTypeList (9303-12 7.1.1.6)."""
DOCUMENT_TYPES = ("ID",)
"""What the DSC may sign: documents whose MRZ document code is ``ID`` (``printers.mrz``)."""


class KeyUsagePeriodOver(PrintersError):
    """The Document Signer's private key may not sign at this time (its certificate's
    privateKeyUsagePeriod). ``reason_code`` is ``keys.ds_key_usage``."""

    reason_code = "keys.ds_key_usage"

    def __init__(self, message: str, *, serial: int) -> None:
        super().__init__(message, serial=f"{serial:x}", reason_code=self.reason_code)
        self.serial = serial


class DocumentTypeListSyntax(core.Sequence):  # type: ignore[misc]
    """``DocumentTypeListSyntax ::= SEQUENCE { version DocumentTypeListVersion,
    docTypeList SET OF DocumentType }``, ``DocumentTypeListVersion ::= INTEGER {v0(0)}``,
    ``DocumentType ::= PrintableString(SIZE(1..2))`` (9303-12 7.1.1.6)."""

    _fields = [
        ("version", core.Integer),
        ("doc_type_list", core.SetOf, {"spec": core.PrintableString}),
    ]


def document_type_list(types: Sequence[str]) -> x509.UnrecognizedExtension:
    """The Document Type List extension value for ``types`` (each 1 or 2 letters A-Z)."""
    if not types or any(not (1 <= len(t) <= 2 and t.isascii() and t.isupper()) for t in types):
        raise ValueError(f"document types are 1 or 2 letters A-Z, not {list(types)!r}")
    value = DocumentTypeListSyntax({"version": 0, "doc_type_list": list(types)})
    return x509.UnrecognizedExtension(ID_DOCUMENT_TYPE_LIST, value.dump(force=True))


def document_types(certificate: x509.Certificate) -> tuple[str, ...] | None:
    """The document types a DSC's Document Type List names, sorted (``None`` without one)."""
    try:
        extension = certificate.extensions.get_extension_for_oid(ID_DOCUMENT_TYPE_LIST)
    except x509.ExtensionNotFound:
        return None
    value = extension.value
    assert isinstance(value, x509.UnrecognizedExtension)
    parsed = DocumentTypeListSyntax.load(value.value, strict=True)
    if parsed["version"].native != 0:
        raise ValueError("Document Type List version is not v0")
    return tuple(sorted(item.native for item in parsed["doc_type_list"]))


def _name(common_name: str, country: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, UNIT),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now


def csca_certificate(
    key: ec.EllipticCurvePrivateKey, *, now: datetime, country: str
) -> x509.Certificate:
    """The self-signed CSCA certificate of ``key``, valid from ``now``."""
    now = _aware(now)
    name = _name(CSCA_NAME, country)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + CSCA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.PrivateKeyUsagePeriod(now, now + CSCA_KEY_USAGE_PERIOD), critical=False)
        .sign(key, hashes.SHA256())
    )


def ds_certificate(
    public: ec.EllipticCurvePublicKey,
    *,
    csca: x509.Certificate,
    csca_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> x509.Certificate:
    """A DSC for ``public`` issued by the CSCA at ``now``, in the CSCA's country. Refuses
    when the CSCA's own key may not issue certificates at ``now``."""
    now = _aware(now)
    check_key_usage_period(csca, at=now, what="CSCA")
    country = csca.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value
    assert isinstance(country, str)
    not_after = min(now + DS_VALIDITY, csca.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(DS_NAME, country))
        .issuer_name(csca.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(not_after)
        # No basicConstraints: ICAO 9303-12's profile (Table 6) has it "x", must not be
        # present, in a Document Signer certificate (an end entity).
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                csca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
        .add_extension(
            x509.PrivateKeyUsagePeriod(now, min(now + DS_KEY_USAGE_PERIOD, not_after)),
            critical=False,
        )
        .add_extension(document_type_list(DOCUMENT_TYPES), critical=False)
        .sign(csca_key, hashes.SHA256())
    )


def key_usage_period(certificate: x509.Certificate) -> tuple[datetime, datetime]:
    """When the certificate's private key may be used (aware, UTC): its
    privateKeyUsagePeriod, each bound defaulting to the certificate's validity."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    try:
        period = certificate.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
    except x509.ExtensionNotFound:
        return start, end
    utc = start.tzinfo
    if period.not_before is not None:
        start = period.not_before.replace(tzinfo=utc)
    if period.not_after is not None:
        end = period.not_after.replace(tzinfo=utc)
    return start, end


def check_key_usage_period(
    certificate: x509.Certificate, *, at: datetime, what: str = "Document Signer"
) -> None:
    """``KeyUsagePeriodOver`` if the certificate's private key may not sign at ``at``,
    saying so in one line (with what to do for the Document Signer)."""
    start, end = key_usage_period(certificate)
    at = _aware(at)
    remedy = ": cardline keys rotate" if what == "Document Signer" else ""
    if at > end:
        raise KeyUsagePeriodOver(
            f"the {what}'s private key usage period ended on {end.date().isoformat()}{remedy}",
            serial=certificate.serial_number,
        )
    if at < start:
        raise KeyUsagePeriodOver(
            f"the {what}'s private key usage period begins on {start.date().isoformat()}",
            serial=certificate.serial_number,
        )
