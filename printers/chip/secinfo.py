"""EF.DG14 (SecurityInfos) and EF.DG15 (the Active Authentication public key): ICAO 9303-10
4.7.14/4.7.15, 9303-11 6.1.5 and 9.2, BSI TR-03110-3 (v2.21) A.1 for the ASN.1.

DG14 (tag ``6E``) is one DER ``SecurityInfos`` value, a SET OF SecurityInfo::

    SecurityInfo ::= SEQUENCE { protocol OBJECT IDENTIFIER,
                                requiredData ANY DEFINED BY protocol,
                                optionalData ANY DEFINED BY protocol OPTIONAL }

This line writes three of them (``dg14``), in DER order (SET OF sorted by encoding)::

    6E L { 31 L {
      30 L { 06 id-CA-ECDH-AES-CBC-CMAC-128  02 01 01  [02 keyId] }     ChipAuthenticationInfo
      30 L { 06 id-icao-mrtd-security-aaProtocolObject  02 01 01
             06 ecdsa-plain-SHA256 }                                 ActiveAuthenticationInfo
      30 L { 06 id-PK-ECDH  30 L { SubjectPublicKeyInfo }  [02 keyId] }
    } }                                                              ChipAuthenticationPublicKeyInfo

DG15 (tag ``6F``) is ``ActiveAuthenticationPublicKeyInfo ::= SubjectPublicKeyInfo``.

How the P-256 keys are written (the domain parameters):

- the **Chip Authentication key (DG14)** carries **explicit** domain parameters (an X9.62
  SpecifiedECDomain: prime field, a, b, uncompressed base point, order, cofactor 1; no
  seed). 9303-11 9.2 says "at least one ChipAuthenticationInfo and the corresponding
  ChipAuthenticationPublicKeyInfo using explicit domain parameters MUST be present"; 9303-11
  9.5.2 and TR-03110-3 A.2.1.2 add "in the case of elliptic curves, domain parameters MUST
  be described explicitly in the ECParameters structure, i.e. named curves and implicit
  domain parameters MUST NOT be used", and TR-03110-3 A.2.1.3 "Chip Authentication in
  version 1 MUST provide at least one set of explicit domain parameters". A named curve
  would be read by lenient readers (JMRTD accepts both and itself converts named curves to
  explicit ones before writing a DG14), but it is not what the standard says, so not here.
- the **Active Authentication key (DG15)** carries the **named curve** secp256r1: 9303-11
  6.1.5 defines it as an [RFC 5280] SubjectPublicKeyInfo, for which RFC 5480 2.1.1 says
  namedCurve, and nothing in 9303-11 6.1 asks for explicit parameters.

Reading them back: :mod:`printers.chip.secread`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from asn1crypto import core, keys  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from printers.chip import tlv
from printers.chip.lds import DG_TAGS, LdsError

# --- object identifiers -------------------------------------------------------------------

BSI_DE = "0.4.0.127.0.7"
ID_PK_DH = f"{BSI_DE}.2.2.1.1"
ID_PK_ECDH = f"{BSI_DE}.2.2.1.2"
"""id-PK-DH / id-PK-ECDH: the protocol of a ChipAuthenticationPublicKeyInfo."""
ID_TA = f"{BSI_DE}.2.2.2"
ID_CA = f"{BSI_DE}.2.2.3"
ID_CA_DH = f"{ID_CA}.1"
ID_CA_ECDH = f"{ID_CA}.2"
ID_CA_ECDH_AES_CBC_CMAC_128 = f"{ID_CA_ECDH}.2"
"""The Chip Authentication protocol this line writes (ECDH, AES-128 secure messaging)."""
CA_PROTOCOLS = frozenset(f"{family}.{n}" for family in (ID_CA_DH, ID_CA_ECDH) for n in (1, 2, 3, 4))
"""id-CA-{DH,ECDH}-{3DES-CBC-CBC, AES-CBC-CMAC-128, -192, -256} (9303-11 9.2.7)."""
ID_AA = "2.23.136.1.1.5"
"""id-icao-mrtd-security-aaProtocolObject (9303-11 9.2.4)."""
ECDSA_PLAIN_SIGNATURES = f"{BSI_DE}.1.1.4.1"
ECDSA_PLAIN_SHA224 = f"{ECDSA_PLAIN_SIGNATURES}.2"
ECDSA_PLAIN_SHA256 = f"{ECDSA_PLAIN_SIGNATURES}.3"
ECDSA_PLAIN_SHA384 = f"{ECDSA_PLAIN_SIGNATURES}.4"
ECDSA_PLAIN_SHA512 = f"{ECDSA_PLAIN_SIGNATURES}.5"
"""BSI TR-03111 5.2.1 ecdsa-plain-* signature algorithms (r||s, each as long as the order)."""
ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
SECP256R1 = "1.2.840.10045.3.1.7"

CA_VERSION = 1
AA_VERSION = 1
"""9303-11 9.2.4 and 9.2.5: the version of both infos "MUST be 1"."""

# --- P-256 (secp256r1) domain parameters, SEC 2 2.4.2 / FIPS 186-4 D.1.2.3 -----------------

P256_FIELD_BYTES = 32
P256_P = int("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF", 16)
P256_A = int("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC", 16)
P256_B = int("5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B", 16)
P256_G = bytes.fromhex(
    "04"
    "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
    "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5"
)
P256_N = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)
P256_H = 1


# --- ASN.1 (TR-03110-3 A.1.1, 9303-11 9.2) --------------------------------------------------


class SecurityInfo(core.Sequence):  # type: ignore[misc]
    """``SecurityInfo ::= SEQUENCE { protocol OBJECT IDENTIFIER, requiredData ANY,
    optionalData ANY OPTIONAL }``"""

    _fields = [
        ("protocol", core.ObjectIdentifier),
        ("required_data", core.Any),
        ("optional_data", core.Any, {"optional": True}),
    ]


class SecurityInfos(core.SetOf):  # type: ignore[misc]
    """``SecurityInfos ::= SET OF SecurityInfo``"""

    _child_spec = SecurityInfo


class ChipAuthenticationInfo(core.Sequence):  # type: ignore[misc]
    """``ChipAuthenticationInfo ::= SEQUENCE { protocol OBJECT IDENTIFIER (id-CA-...),
    version INTEGER, -- MUST be 1  keyId INTEGER OPTIONAL }``"""

    _fields = [
        ("protocol", core.ObjectIdentifier),
        ("version", core.Integer),
        ("key_id", core.Integer, {"optional": True}),
    ]


class ChipAuthenticationPublicKeyInfo(core.Sequence):  # type: ignore[misc]
    """``ChipAuthenticationPublicKeyInfo ::= SEQUENCE { protocol OBJECT IDENTIFIER
    (id-PK-DH | id-PK-ECDH), chipAuthenticationPublicKey SubjectPublicKeyInfo,
    keyId INTEGER OPTIONAL }``"""

    _fields = [
        ("protocol", core.ObjectIdentifier),
        ("chip_authentication_public_key", keys.PublicKeyInfo),
        ("key_id", core.Integer, {"optional": True}),
    ]


class ActiveAuthenticationInfo(core.Sequence):  # type: ignore[misc]
    """``ActiveAuthenticationInfo ::= SEQUENCE { protocol OBJECT IDENTIFIER
    (id-icao-mrtd-security-aaProtocolObject), version INTEGER, -- MUST be 1
    signatureAlgorithm OBJECT IDENTIFIER }``"""

    _fields = [
        ("protocol", core.ObjectIdentifier),
        ("version", core.Integer),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


# --- building -----------------------------------------------------------------------------


def _p256_point(key: object, what: str, name: str) -> bytes:
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise LdsError(
            f"the {what} key is not an EC P-256 public key",
            reason_code=f"lds.{name.lower()}.key",
            data_group=name,
        )
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _field_element(value: int) -> bytes:
    return value.to_bytes(P256_FIELD_BYTES, "big")


def p256_explicit_parameters() -> Any:
    """P-256 as an X9.62 ``ECParameters`` (SpecifiedECDomain, version 1): prime field,
    a and b as 32-byte field elements, the uncompressed base point, order, cofactor 1. The
    seed is left out (optional, and needed by no verifier)."""
    return keys.SpecifiedECDomain(
        {
            "version": "ecdpVer1",
            "field_id": {"field_type": "prime_field", "parameters": core.Integer(P256_P)},
            "curve": {"a": _field_element(P256_A), "b": _field_element(P256_B)},
            "base": P256_G,
            "order": P256_N,
            "cofactor": P256_H,
        }
    )


def explicit_subject_public_key_info(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo of a P-256 key with explicit domain parameters."""
    point = _p256_point(public_key, "Chip Authentication", "DG14")
    template, offset = _explicit_info_template()
    # The template's point is replaced by this key's: same length (65 bytes), same DER.
    return template[:offset] + point + template[offset + len(point) :]


@functools.cache
def _explicit_info_template() -> tuple[bytes, int]:
    """The DER of a SubjectPublicKeyInfo with P-256's explicit parameters around the base
    point, and where its point starts: made once with ``asn1crypto`` (the parameters alone
    are half a millisecond to build), then only the 65 bytes of the point change."""
    base = P256_G  # an uncompressed point: 04 || X || Y
    info = keys.PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": "ec",
                "parameters": keys.ECDomainParameters(
                    name="specified", value=p256_explicit_parameters()
                ),
            },
            "public_key": base,
        }
    )
    der = bytes(info.dump())
    return der, len(der) - len(base)


def _key_id(key_id: int | None) -> int | None:
    if key_id is not None and (isinstance(key_id, bool) or key_id < 0):
        raise LdsError(
            "a keyId is a non-negative integer", reason_code="lds.dg14.key_id", data_group="DG14"
        )
    return key_id


def dg14(ca_public_key: ec.EllipticCurvePublicKey, *, ca_key_id: int | None = None) -> bytes:
    """DG14 announcing Chip Authentication (id-CA-ECDH-AES-CBC-CMAC-128, version 1) with
    ``ca_public_key`` (EC P-256, written with explicit domain parameters), and ECDSA Active
    Authentication with ecdsa-plain-SHA256 (the ActiveAuthenticationInfo 9303-11 9.2.4
    requires for ECDSA). ``ca_key_id`` goes into both CA structures when given (9303-11
    9.2.5: it MUST be given when the chip holds several CA keys)."""
    key_id = _key_id(ca_key_id)
    if key_id is None:  # the line's DG14: the template, with this key's point
        point = _p256_point(ca_public_key, "Chip Authentication", "DG14")
        template = _dg14_template()
        return template.der[: template.point] + point + template.der[template.point + len(point) :]
    return _build_dg14(ca_public_key, key_id)


def _build_dg14(ca_public_key: ec.EllipticCurvePublicKey, key_id: int | None) -> bytes:
    spki = keys.PublicKeyInfo.load(explicit_subject_public_key_info(ca_public_key))
    optional_key_id = {} if key_id is None else {"key_id": key_id}
    infos = SecurityInfos(
        [
            SecurityInfo.load(
                ChipAuthenticationInfo(
                    {
                        "protocol": ID_CA_ECDH_AES_CBC_CMAC_128,
                        "version": CA_VERSION,
                        **optional_key_id,
                    }
                ).dump()
            ),
            SecurityInfo.load(
                ChipAuthenticationPublicKeyInfo(
                    {
                        "protocol": ID_PK_ECDH,
                        "chip_authentication_public_key": spki,
                        **optional_key_id,
                    }
                ).dump()
            ),
            SecurityInfo.load(
                ActiveAuthenticationInfo(
                    {
                        "protocol": ID_AA,
                        "version": AA_VERSION,
                        "signature_algorithm": ECDSA_PLAIN_SHA256,
                    }
                ).dump()
            ),
        ]
    )
    return tlv.encode(DG_TAGS[14], infos.dump())


@dataclass(frozen=True, slots=True)
class _Template:
    """The line's DG14 (no keyId) around the base point: where the point and the CA key's
    SubjectPublicKeyInfo lie. Building and parsing DG14 with ``asn1crypto`` costs about half
    a millisecond each, and the line does both for every card: a DG14 equal to the template
    but for its 65-byte point is that very structure (DER by construction), and only the
    point needs reading (and checking on the curve)."""

    der: bytes
    point: int  # offset of the point
    spki: slice  # the SubjectPublicKeyInfo


@functools.cache
def _dg14_template() -> _Template:
    base = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), P256_G)
    der = _build_dg14(base, None)
    spki = explicit_subject_public_key_info(base)
    start = der.index(spki)
    return _Template(der, start + len(spki) - len(P256_G), slice(start, start + len(spki)))


def dg15(aa_public_key: ec.EllipticCurvePublicKey) -> bytes:
    """DG15 holding ``aa_public_key`` (EC P-256) as a SubjectPublicKeyInfo with the named
    curve secp256r1 and the uncompressed point (RFC 5480)."""
    _p256_point(aa_public_key, "Active Authentication", "DG15")
    spki = aa_public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return tlv.encode(DG_TAGS[15], spki)
