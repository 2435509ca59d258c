"""Reading EF.DG14 (SecurityInfos) and EF.DG15 (the Active Authentication public key), as
:mod:`printers.chip.secinfo` writes them and as other issuers do: what a DG14 says, as
records (``Dg14``: its Chip Authentication protocols and keys, its Active Authentication
info, the OIDs of the rest).

Both parsers accept either form for a P-256 key (explicit parameters are compared with
P-256's, field by field), as readers do; ``CaPublicKey.explicit_parameters`` says which
one a DG14 used. Points must be uncompressed (9303-11 6.1.2.3, 4.4.3.2: "only prime curves
with uncompressed points SHALL be used") and on the curve.

Parsers are strict: every SecurityInfo, and every file, must be DER (its re-encoding is the
bytes read); anything else raises ``LdsError`` with ``lds.dg14.format`` /
``lds.dg15.format`` (``lds.dg15.algorithm`` for a well-formed DG15 whose key is not EC
P-256), never another exception. Two leniencies, both on purpose: the SecurityInfos may
come in any order (a SET OF should be sorted in DER, but BSI TR-03105-5's reference DG14
is not, and readers read it), and SecurityInfos of other protocols are kept by OID only
(9303-11 9.2: "the inspection system MAY discard any unknown entry").
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from asn1crypto import core, keys  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.asymmetric import ec

from printers.chip import tlv
from printers.chip.lds import DG_TAGS, LdsError
from printers.chip.secinfo import (
    AA_VERSION,
    CA_PROTOCOLS,
    CA_VERSION,
    ECDSA_PLAIN_SHA256,
    ID_AA,
    ID_CA_ECDH_AES_CBC_CMAC_128,
    ID_EC_PUBLIC_KEY,
    ID_PK_DH,
    ID_PK_ECDH,
    P256_A,
    P256_B,
    P256_FIELD_BYTES,
    P256_G,
    P256_H,
    P256_N,
    P256_P,
    SECP256R1,
    ActiveAuthenticationInfo,
    ChipAuthenticationInfo,
    ChipAuthenticationPublicKeyInfo,
    SecurityInfo,
    SecurityInfos,
    _dg14_template,
    _field_element,
)
from printers.errors import PrintersError

# --- records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaProtocol:
    """A ChipAuthenticationInfo: the protocol (an id-CA-* OID), its version, its keyId."""

    protocol: str
    version: int
    key_id: int | None


@dataclass(frozen=True, slots=True)
class CaPublicKey:
    """A ChipAuthenticationPublicKeyInfo. ``public_key`` is the key when it is an EC P-256
    key (named or explicit), None for any other (a DH key, another curve): well-formed but
    not one this line can use. ``subject_public_key_info`` is its DER as written."""

    protocol: str
    subject_public_key_info: bytes
    key_id: int | None
    explicit_parameters: bool
    public_key: ec.EllipticCurvePublicKey | None


@dataclass(frozen=True, slots=True)
class AaInfo:
    """An ActiveAuthenticationInfo: version and the signature algorithm's OID."""

    version: int
    signature_algorithm: str


@dataclass(frozen=True, slots=True)
class Dg14:
    """What DG14 says. ``other_protocols`` are the OIDs of SecurityInfos of protocols this
    module does not read (Terminal Authentication, PACE...)."""

    chip_authentication: tuple[CaProtocol, ...]
    chip_authentication_keys: tuple[CaPublicKey, ...]
    active_authentication: AaInfo | None
    other_protocols: tuple[str, ...]

    def chip_authentication_for(
        self, key_id: int | None = None
    ) -> tuple[CaProtocol, CaPublicKey] | None:
        """The ChipAuthenticationInfo with ``key_id`` and its public key (the only pair
        when ``key_id`` is None and there is one), or None."""
        infos = [i for i in self.chip_authentication if key_id is None or i.key_id == key_id]
        if len(infos) != 1:
            return None
        info = infos[0]
        found = [k for k in self.chip_authentication_keys if k.key_id == info.key_id]
        return (info, found[0]) if len(found) == 1 else None


# --- parsing ------------------------------------------------------------------------------


class _Malformed(PrintersError):
    """Internal: the file is not well formed (becomes ``lds.<dg>.format``)."""


class _Unsupported(PrintersError):
    """Internal: a well-formed key this module does not use (EC P-256 only)."""


_T = TypeVar("_T")


def _template_dg14(data: bytes) -> Dg14 | None:
    """``data`` as the line's own DG14 (see ``_Template``), or None if it is any other."""
    template = _dg14_template()
    end = template.point + len(P256_G)
    if (
        len(data) != len(template.der)
        or data[: template.point] != template.der[: template.point]
        or data[end:] != template.der[end:]
    ):
        return None
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), data[template.point : end]
        )
    except ValueError:
        raise _Malformed("public point is not on P-256") from None
    return Dg14(
        chip_authentication=(CaProtocol(ID_CA_ECDH_AES_CBC_CMAC_128, CA_VERSION, None),),
        chip_authentication_keys=(CaPublicKey(ID_PK_ECDH, data[template.spki], None, True, key),),
        active_authentication=AaInfo(AA_VERSION, ECDSA_PLAIN_SHA256),
        other_protocols=(),
    )


def _load_der(spec: Any, der: bytes) -> Any:
    """``der`` loaded as ``spec``, every part parsed, and refused unless it is DER: its
    re-encoding must be the bytes given (no long-form lengths that fit a short form, no
    BER booleans...)."""
    value = spec.load(der, strict=True)
    value.native  # noqa: B018  (parses every nested value now, not lazily later)
    if value.dump(force=True) != der:
        raise _Malformed("not DER")
    return value


def _optional_key_id(value: Any) -> int | None:
    if isinstance(value, core.Void):
        return None
    number = value.native
    if not isinstance(number, int) or number < 0:
        raise _Malformed("keyId is not a non-negative INTEGER")
    return number


def _specified_is_p256(domain: Any) -> bool:
    field = domain["field_id"]
    curve = domain["curve"]
    cofactor = domain["cofactor"]
    return bool(
        domain["version"].native == "ecdpVer1"
        and field["field_type"].native == "prime_field"
        and field["parameters"].native == P256_P
        and curve["a"].native == _field_element(P256_A)
        and curve["b"].native == _field_element(P256_B)
        and domain["base"].native == P256_G
        and domain["order"].native == P256_N
        and (isinstance(cofactor, core.Void) or cofactor.native == P256_H)
    )


def _p256_key(info: Any) -> tuple[ec.EllipticCurvePublicKey, bool]:
    """The P-256 key of an id-ecPublicKey SubjectPublicKeyInfo and whether its domain
    parameters were explicit; ``_Unsupported`` for another curve."""
    parameters = info["algorithm"]["parameters"]
    if not isinstance(parameters, keys.ECDomainParameters):
        raise _Malformed("id-ecPublicKey without ECParameters")
    if parameters.name == "implicit_ca":
        raise _Malformed("implicit domain parameters")
    explicit = parameters.name == "specified"
    if explicit:
        if not _specified_is_p256(parameters.chosen):
            raise _Unsupported("explicit domain parameters of a curve other than P-256")
    elif parameters.chosen.dotted != SECP256R1:
        raise _Unsupported("a named curve other than P-256")
    bits = bytes(info["public_key"].contents)
    if not bits or bits[0] != 0:
        raise _Malformed("public key BIT STRING has unused bits")
    encoded = bits[1:]
    if len(encoded) != 1 + 2 * P256_FIELD_BYTES or encoded[0] != 0x04:
        raise _Malformed("public point is not an uncompressed P-256 point")
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), encoded)
    except ValueError:
        raise _Malformed("public point is not on P-256") from None
    return key, explicit


def _ca_public_key(raw: bytes) -> CaPublicKey:
    value = _load_der(ChipAuthenticationPublicKeyInfo, raw)
    protocol = value["protocol"].dotted
    info = value["chip_authentication_public_key"]
    algorithm = info["algorithm"]["algorithm"].dotted
    key_id = _optional_key_id(value["key_id"])
    spki = bytes(info.dump())
    if protocol == ID_PK_DH:
        if algorithm != "1.2.840.10046.2.1":  # dhpublicnumber
            raise _Malformed("id-PK-DH with a key that is not a DH key")
        return CaPublicKey(protocol, spki, key_id, True, None)
    if algorithm != ID_EC_PUBLIC_KEY:
        raise _Malformed("id-PK-ECDH with a key that is not an EC key")
    try:
        key, explicit = _p256_key(info)
    except _Unsupported:
        explicit = info["algorithm"]["parameters"].name == "specified"
        return CaPublicKey(protocol, spki, key_id, explicit, None)
    return CaPublicKey(protocol, spki, key_id, explicit, key)


def _ca_protocol(raw: bytes) -> CaProtocol:
    value = _load_der(ChipAuthenticationInfo, raw)
    version = value["version"].native
    if version != CA_VERSION:
        raise _Malformed("ChipAuthenticationInfo version is not 1")
    return CaProtocol(value["protocol"].dotted, version, _optional_key_id(value["key_id"]))


def _aa_info(raw: bytes) -> AaInfo:
    value = _load_der(ActiveAuthenticationInfo, raw)
    version = value["version"].native
    if version != AA_VERSION:
        raise _Malformed("ActiveAuthenticationInfo version is not 1")
    return AaInfo(version, value["signature_algorithm"].dotted)


def _check_key_ids(items: Iterable[CaProtocol | CaPublicKey], what: str) -> None:
    ids = [item.key_id for item in items]
    if len(ids) > 1 and (None in ids or len(set(ids)) != len(ids)):
        raise _Malformed(f"several {what} without distinct keyIds")


def _dg14(data: bytes) -> Dg14:
    own = _template_dg14(data)
    if own is not None:
        return own
    der = tlv.decode_single(data, DG_TAGS[14])
    if tlv.encode(DG_TAGS[14], der) != data:
        raise _Malformed("DG14 length is not DER")
    infos = SecurityInfos.load(der, strict=True)
    children = [bytes(child.dump()) for child in infos]
    contents = b"".join(children)
    if not children or der != b"\x31" + tlv.encode_length(len(contents)) + contents:
        raise _Malformed("not a non-empty DER SET OF SecurityInfo")
    protocols: list[CaProtocol] = []
    public_keys: list[CaPublicKey] = []
    aa: list[AaInfo] = []
    others: list[str] = []
    for raw in children:
        protocol = SecurityInfo.load(raw, strict=True)["protocol"].dotted
        if protocol in (ID_PK_DH, ID_PK_ECDH):
            public_keys.append(_ca_public_key(raw))
        elif protocol in CA_PROTOCOLS:
            protocols.append(_ca_protocol(raw))
        elif protocol == ID_AA:
            aa.append(_aa_info(raw))
        else:
            _load_der(SecurityInfo, raw)
            others.append(protocol)
    if len(aa) > 1:
        raise _Malformed("more than one ActiveAuthenticationInfo")
    _check_key_ids(protocols, "ChipAuthenticationInfos")
    _check_key_ids(public_keys, "ChipAuthenticationPublicKeyInfos")
    result = Dg14(tuple(protocols), tuple(public_keys), aa[0] if aa else None, tuple(others))
    for info in protocols:
        if not any(key.key_id == info.key_id for key in public_keys):
            raise _Malformed("a ChipAuthenticationInfo without its public key")
    return result


def _parse(parse: Callable[[bytes], _T], data: bytes, name: str) -> _T:
    """``parse(data)``, every failure turned into an ``LdsError`` of ``name``."""
    try:
        return parse(data)
    except _Unsupported as exc:
        raise LdsError(
            str(exc), reason_code=f"lds.{name.lower()}.algorithm", data_group=name
        ) from None
    except (_Malformed, tlv.TlvError) as exc:
        raise LdsError(
            str(exc), reason_code=f"lds.{name.lower()}.format", data_group=name
        ) from None
    except Exception as exc:  # asn1crypto parses lazily and raises many kinds on bad input
        raise LdsError(
            f"malformed ({type(exc).__name__})",
            reason_code=f"lds.{name.lower()}.format",
            data_group=name,
        ) from None


@functools.lru_cache(maxsize=64)
def parse_dg14(data: bytes) -> Dg14:
    """The SecurityInfos of DG14; ``LdsError`` (``lds.dg14.format``) for anything but a
    well-formed DG14: not DER, a ChipAuthenticationInfo or ActiveAuthenticationInfo whose
    version is not 1, more than one ActiveAuthenticationInfo, several CA structures without
    distinct keyIds, a ChipAuthenticationInfo without its public key, a P-256 point that is
    compressed or not on the curve."""
    return _parse(_dg14, data, "DG14")


def _dg15(data: bytes) -> ec.EllipticCurvePublicKey:
    der = tlv.decode_single(data, DG_TAGS[15])
    if tlv.encode(DG_TAGS[15], der) != data:
        raise _Malformed("DG15 length is not DER")
    info = _load_der(keys.PublicKeyInfo, der)
    if info["algorithm"]["algorithm"].dotted != ID_EC_PUBLIC_KEY:
        raise _Unsupported("the Active Authentication key is not an EC key")
    key, _explicit = _p256_key(info)
    return key


def parse_dg15(data: bytes) -> ec.EllipticCurvePublicKey:
    """The Active Authentication public key of DG15 (EC P-256, named or explicit domain
    parameters). ``LdsError``: ``lds.dg15.format`` for a malformed DG15,
    ``lds.dg15.algorithm`` for a well-formed one holding another kind of key (RSA, another
    curve)."""
    return _parse(_dg15, data, "DG15")
