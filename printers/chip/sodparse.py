"""EF.SOD's structure and reading it (ICAO 9303-10 4.6.2, RFC 5652): the LDSSecurityObject's
ASN.1, ``SodError``, and ``parse_sod``, which takes ``77 { ContentInfo }`` apart into
``SodContents`` (what was signed, by whom, over which data group hashes) without judging it:
that is :mod:`printers.chip.sodcheck`'s part."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from asn1crypto import algos, cms, core  # type: ignore[import-untyped]
from cryptography import x509

from printers.chip import tlv
from printers.chip.lds import DG_TAGS, TAG_SOD
from printers.errors import PrintersError

ID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
"""id-icao-mrtd-security-ldsSecurityObject."""


class SodError(PrintersError):
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
