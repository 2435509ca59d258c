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

Building is here; reading EF.SOD is :mod:`printers.chip.sodparse`, the checks
:mod:`printers.chip.sodcheck` (their names are re-exported here).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from asn1crypto import algos, cms, core  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding

from printers.chip import tlv
from printers.chip.lds import DG_TAGS, TAG_SOD
from printers.chip.sodcheck import SOD_CHECKS as SOD_CHECKS
from printers.chip.sodcheck import SUPPORTED_DIGESTS as SUPPORTED_DIGESTS
from printers.chip.sodcheck import SodCheck as SodCheck
from printers.chip.sodcheck import check_algorithms as check_algorithms
from printers.chip.sodcheck import check_certificate as check_certificate
from printers.chip.sodcheck import check_content_type as check_content_type
from printers.chip.sodcheck import check_digest as check_digest
from printers.chip.sodcheck import check_signature as check_signature
from printers.chip.sodcheck import inspect_sod as inspect_sod
from printers.chip.sodcheck import verify_sod as verify_sod
from printers.chip.sodparse import ID_LDS_SECURITY_OBJECT as ID_LDS_SECURITY_OBJECT
from printers.chip.sodparse import DataGroupHash as DataGroupHash
from printers.chip.sodparse import DataGroupHashValues as DataGroupHashValues
from printers.chip.sodparse import LdsSecurityObject as LdsSecurityObject
from printers.chip.sodparse import LdsVersionInfo as LdsVersionInfo
from printers.chip.sodparse import SodContents as SodContents
from printers.chip.sodparse import SodError as SodError
from printers.chip.sodparse import parse_sod as parse_sod
from printers.keys import DocumentSigner
from printers.pki import check_key_usage_period

_DER = Encoding.DER


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
