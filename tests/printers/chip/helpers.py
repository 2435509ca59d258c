"""SecurityInfos the chip tests share: RFC 6979's published P-256 key, the BSI reference
DG15, and Chip Authentication infos and keys built field by field."""

from __future__ import annotations

from asn1crypto import keys  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.asymmetric import ec

from printers.chip import secinfo

# RFC 6979 A.2.5's P-256 key: a published private key, so its public point is published too.
RFC6979_X = int("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721", 16)

# BSI TR-03105-5 ReferenceDataSet's DG15, as pymrtd's tests hold it (tests/ef/dg15_test.py):
# an RSA-1024 key.
BSI_DG15 = bytes.fromhex(
    "6F81A230819F300D06092A864886F70D010101050003818D00308189028181008130E120BB785A45D8D87E"
    "6F1A89EF4C6B655A555F58887DC6F78C293E71B028621B464C7B3123DF8896449ACB2A6E0219B7A43141BA"
    "617AE0E94CB5372EB6D964A1DBF2A43BD0CE659E962AC2CE9CEDF681CA1E3C74EA23C62D9ABFB81371D260"
    "2E39162EB578F9DED459C758EFD6A27A755B8C0E0E31E040D4D37A276939090203010001"
)


def public_key(secret: int = RFC6979_X) -> ec.EllipticCurvePublicKey:
    return ec.derive_private_key(secret, ec.SECP256R1()).public_key()


def ca_info(protocol: str = secinfo.ID_CA_ECDH_AES_CBC_CMAC_128, version: int = 1,
            key_id: int | None = None) -> bytes:  # fmt: skip
    value = {"protocol": protocol, "version": version}
    if key_id is not None:
        value["key_id"] = key_id
    return bytes(secinfo.ChipAuthenticationInfo(value).dump())


def ca_key(spki: bytes | None = None, protocol: str = secinfo.ID_PK_ECDH,
           key_id: int | None = None) -> bytes:  # fmt: skip
    spki = spki or secinfo.explicit_subject_public_key_info(public_key())
    value = {
        "protocol": protocol,
        "chip_authentication_public_key": keys.PublicKeyInfo.load(spki),
    }
    if key_id is not None:
        value["key_id"] = key_id
    return bytes(secinfo.ChipAuthenticationPublicKeyInfo(value).dump())
