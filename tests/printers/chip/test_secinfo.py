"""DG14 and DG15: their DER pinned byte for byte and against OpenSSL's reading, the explicit
P-256 parameters against OpenSSL's, published reference files (BSI TR-03105-5, via pymrtd's
tests), round trips, and parsers that refuse anything malformed with ``LdsError`` only."""

from __future__ import annotations

import contextlib
import pickle
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import core, keys  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from printers.chip import lds, secinfo, secread, tlv
from tests.printers.chip.helpers import BSI_DG15, ca_info, ca_key, public_key

# RFC 6979 A.2.5's P-256 key's public point (its key: helpers.RFC6979_X, helpers.public_key).
RFC6979_POINT = bytes.fromhex(
    "04"
    "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
    "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"
)
P256_PARAMETERS = (
    "3081e0020101302c06072a8648ce3d0101022100ffffffff00000001000000000000000000000000"
    "ffffffffffffffffffffffff30440420ffffffff00000001000000000000000000000000ffffffff"
    "fffffffffffffffc04205ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2"
    "604b0441046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342"
    "e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5022100ffffffff00000000"
    "ffffffffffffffffbce6faada7179e84f3b9cac2fc632551020101"
)
"""P-256 as an explicit ECParameters, no seed: what ``openssl ecparam -name prime256v1
-param_enc explicit -no_seed -outform DER`` writes (checked against it below)."""
CA_INFO = "300f060a04007f00070202030202020101"
"""ChipAuthenticationInfo { id-CA-ECDH-AES-CBC-CMAC-128, 1 }: the BSI reference DG14's
``300F060A04007F00070202030201020101`` with AES-128 in place of 3DES."""
AA_INFO = "30170606678108010105020101060a04007f00070101040103"
"""ActiveAuthenticationInfo { id-icao-mrtd-security-aaProtocolObject, 1, ecdsa-plain-SHA256 }
as JMRTD writes it (``ActiveAuthenticationInfo.getDERObject``: a SEQUENCE of the OID, an
INTEGER version and the signature algorithm's OID)."""
DG14_RFC6979 = (
    "6e820174"  # DG14
    "31820170"  # SecurityInfos, in DER order
    + CA_INFO
    + AA_INFO
    + "30820142060904007f000702020102"  # ChipAuthenticationPublicKeyInfo, id-PK-ECDH
    "308201333081ec06072a8648ce3d0201"  # SubjectPublicKeyInfo, id-ecPublicKey
     + P256_PARAMETERS + "034200" + RFC6979_POINT.hex()
)
DG15_RFC6979 = "6f5b3059301306072a8648ce3d020106082a8648ce3d030107034200" + RFC6979_POINT.hex()

# BSI TR-03105-5 ReferenceDataSet, as pymrtd's tests hold them (tests/ef/dg14_test.py and
# dg15_test.py): a DG14 with Chip Authentication id-CA-ECDH-3DES-CBC-CBC, a CA key with
# explicit domain parameters of a 224-bit curve (brainpoolP224r1) and a TerminalAuthentication
# Info, its SecurityInfos not in DER order (the DG15, BSI_DG15, holds an RSA-1024 key).
BSI_DG14 = bytes.fromhex(
    "6E82014A3182014630820122060904007F000702020102308201133081D406072A8648CE3D02013081C802"
    "0101302806072A8648CE3D0101021D00D7C134AA264366862A18302575D1D787B09F075797DA89F57EC8C0"
    "FF303C041C68A5E62CA9CE6C1C299803A6C1530B514E182AD8B0042A59CAD29F43041C2580F63CCFE44138"
    "870713B1A92369E33E2135D266DBB372386C400B0439040D9029AD2C7E5CF4340823B2A87DC68C9E4CE317"
    "4C1E6EFDEE12C07D58AA56F772C0726F24C6B89E4ECDAC24354B9E99CAA3F6D3761402CD021D00D7C134AA"
    "264366862A18302575D0FB98D116BC4B6DDEBCA3A5A7939F020101033A0004A847F020F71DF33D386BE7C9"
    "223A354D6AC7727018B26E281C6FFB96A83B142AAF303C23F2BCF2CDE4706C14E45914A9BE42C15BCB67A0"
    "1F300F060A04007F00070202030201020101300D060804007F0007020202020101"
)


def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("the openssl command is needed for the independent check", pytrace=False)
    return path


def run_openssl(*args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(
        [openssl(), *args], input=data, capture_output=True, check=True, timeout=60
    ).stdout


def asn1parse(der: bytes) -> list[str]:
    """``openssl asn1parse -i`` of ``der``: one ``offset depth tag [value]`` line per item."""
    out = run_openssl("asn1parse", "-inform", "DER", "-i", data=der).decode()
    lines = []
    for line in out.splitlines():
        offset, rest = line.split(":", 1)
        depth = rest.split()[0]
        body = rest.split("prim:" if "prim:" in rest else "cons:", 1)[1]
        name, _, value = body.partition(":")
        lines.append(f"{offset.strip()} {depth} {' '.join(name.split())} {value.strip()}".rstrip())
    return lines


def security_infos(*infos: bytes, tag: int = 0x6E) -> bytes:
    """A DG14 of these SecurityInfo encodings, in the order given."""
    body = b"".join(infos)
    return tlv.encode(tag, b"\x31" + tlv.encode_length(len(body)) + body)


def aa_info(version: int = 1, algorithm: str = secinfo.ECDSA_PLAIN_SHA256) -> bytes:
    value = {"protocol": secinfo.ID_AA, "version": version, "signature_algorithm": algorithm}
    return bytes(secinfo.ActiveAuthenticationInfo(value).dump())


def spki_with(point: bytes, parameters: object) -> bytes:
    info = keys.PublicKeyInfo(
        {"algorithm": {"algorithm": "ec", "parameters": parameters}, "public_key": point}
    )
    return bytes(info.dump())


def reason(parse: object, data: bytes) -> str:
    with pytest.raises(lds.LdsError) as caught:
        parse(data)  # type: ignore[operator]
    return caught.value.reason_code


# --- the DER, pinned and read by OpenSSL ----------------------------------------------------


def test_dg14_is_pinned_byte_for_byte() -> None:
    assert (
        public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        == RFC6979_POINT
    )
    assert secinfo.dg14(public_key()).hex() == DG14_RFC6979


def test_dg14_with_a_key_id_puts_it_into_both_ca_structures() -> None:
    data = secinfo.dg14(public_key(), ca_key_id=3)
    assert ca_info(key_id=3) in data
    parsed = secread.parse_dg14(data)
    assert [i.key_id for i in parsed.chip_authentication] == [3]
    assert [k.key_id for k in parsed.chip_authentication_keys] == [3]
    assert data.endswith(RFC6979_POINT + bytes.fromhex("020103"))


def test_active_authentication_info_is_jmrtds_der() -> None:
    assert aa_info().hex() == AA_INFO
    assert bytes.fromhex(AA_INFO) in secinfo.dg14(public_key())


def test_openssl_reads_dg14_as_the_expected_structure() -> None:
    assert asn1parse(secinfo.dg14(public_key())) == [
        "0 d=0 appl [ 14 ]",
        "4 d=1 SET",
        "8 d=2 SEQUENCE",
        "10 d=3 OBJECT 0.4.0.127.0.7.2.2.3.2.2",
        "22 d=3 INTEGER 01",
        "25 d=2 SEQUENCE",
        "27 d=3 OBJECT 2.23.136.1.1.5",
        "35 d=3 INTEGER 01",
        "38 d=3 OBJECT 0.4.0.127.0.7.1.1.4.1.3",
        "50 d=2 SEQUENCE",
        "54 d=3 OBJECT 0.4.0.127.0.7.2.2.1.2",
        "65 d=3 SEQUENCE",
        "69 d=4 SEQUENCE",
        "72 d=5 OBJECT id-ecPublicKey",
        "81 d=5 SEQUENCE",
        "84 d=6 INTEGER 01",
        "87 d=6 SEQUENCE",
        "89 d=7 OBJECT prime-field",
        "98 d=7 INTEGER FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF",
        "133 d=6 SEQUENCE",
        "135 d=7 OCTET STRING [HEX DUMP] "
        "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC",
        "169 d=7 OCTET STRING [HEX DUMP] "
        "5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B",
        "203 d=6 OCTET STRING [HEX DUMP] "
        "046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
        "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5",
        "270 d=6 INTEGER FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
        "305 d=6 INTEGER 01",
        "308 d=4 BIT STRING",
    ]


def test_dg15_is_pinned_and_openssl_reads_a_named_p256_key() -> None:
    data = secinfo.dg15(public_key())
    assert data.hex() == DG15_RFC6979
    assert asn1parse(data) == [
        "0 d=0 appl [ 15 ]",
        "2 d=1 SEQUENCE",
        "4 d=2 SEQUENCE",
        "6 d=3 OBJECT id-ecPublicKey",
        "15 d=3 OBJECT prime256v1",
        "25 d=2 BIT STRING",
    ]


def test_explicit_parameters_are_openssls_p256(tmp_path: Path) -> None:
    openssls = run_openssl(
        "ecparam", "-name", "prime256v1", "-param_enc", "explicit", "-no_seed", "-outform", "DER"
    )
    assert openssls.hex() == P256_PARAMETERS
    assert secinfo.p256_explicit_parameters().dump() == openssls


def test_openssl_recognises_the_explicit_ca_key_as_p256(tmp_path: Path) -> None:
    """OpenSSL, given the explicit SubjectPublicKeyInfo, finds the named curve it is and
    the same point: its named-curve form is the one cryptography writes for the key."""
    key = public_key(0x1234567)
    named = run_openssl(
        "ec", "-pubin", "-inform", "DER", "-param_enc", "named_curve", "-outform", "DER",
        data=secinfo.explicit_subject_public_key_info(key),
    )  # fmt: skip
    assert named == key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- parsing what is written, and round trips -----------------------------------------------


def test_parse_dg14_reads_what_dg14_writes() -> None:
    parsed = secread.parse_dg14(secinfo.dg14(public_key()))
    assert parsed.chip_authentication == (
        secread.CaProtocol(secinfo.ID_CA_ECDH_AES_CBC_CMAC_128, 1, None),
    )
    (key,) = parsed.chip_authentication_keys
    assert (key.protocol, key.key_id, key.explicit_parameters) == (secinfo.ID_PK_ECDH, None, True)
    assert key.public_key == public_key()
    assert key.subject_public_key_info == secinfo.explicit_subject_public_key_info(public_key())
    assert parsed.active_authentication == secread.AaInfo(1, secinfo.ECDSA_PLAIN_SHA256)
    assert parsed.other_protocols == ()
    assert parsed.chip_authentication_for() == (parsed.chip_authentication[0], key)
    assert parsed.chip_authentication_for(5) is None


secrets = st.integers(min_value=1, max_value=secinfo.P256_N - 1)
key_ids = st.none() | st.integers(min_value=0, max_value=2**40)


@given(secrets, key_ids)
@settings(max_examples=50)
def test_dg14_round_trips(secret: int, key_id: int | None) -> None:
    key = public_key(secret)
    parsed = secread.parse_dg14(secinfo.dg14(key, ca_key_id=key_id))
    pair = parsed.chip_authentication_for(key_id)
    assert pair is not None
    info, ca = pair
    assert (info.key_id, ca.key_id, ca.public_key) == (key_id, key_id, key)


@given(secrets)
@settings(max_examples=50)
def test_dg15_round_trips(secret: int) -> None:
    assert secread.parse_dg15(secinfo.dg15(public_key(secret))) == public_key(secret)


def test_parsers_accept_both_forms_of_a_p256_key() -> None:
    """Readers accept named and explicit parameters (JMRTD does); the record says which."""
    key = public_key()
    named = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    explicit = secinfo.explicit_subject_public_key_info(key)
    assert secread.parse_dg15(tlv.encode(0x6F, explicit)) == key
    parsed = secread.parse_dg14(security_infos(ca_info(), ca_key(named), aa_info()))
    (ca,) = parsed.chip_authentication_keys
    assert (ca.explicit_parameters, ca.public_key) == (False, key)


def test_ef_com_lists_dg14_and_dg15_at_their_fids() -> None:
    assert (lds.DG14, lds.DG15) == (0x010E, 0x010F) == (lds.DG_FIDS[14], lds.DG_FIDS[15])
    assert lds.parse_ef_com(lds.ef_com([1, 2, 13, 14, 15])).data_groups == (1, 2, 13, 14, 15)
    assert lds.ef_com([15, 1, 14, 2, 13]).endswith(bytes.fromhex("5C0561756D6E6F"))


# --- published reference files --------------------------------------------------------------


def test_bsi_reference_dg14_parses_with_its_ca_key_unusable_here() -> None:
    """The BSI reference DG14 is well formed (out of DER order, which is accepted): 3DES Chip
    Authentication, its key on a 224-bit curve (kept, but no P-256 key), and Terminal
    Authentication among the other protocols."""
    parsed = secread.parse_dg14(BSI_DG14)
    assert parsed.chip_authentication == (secread.CaProtocol(f"{secinfo.ID_CA_ECDH}.1", 1, None),)
    (ca,) = parsed.chip_authentication_keys
    assert (ca.protocol, ca.explicit_parameters, ca.public_key) == (secinfo.ID_PK_ECDH, True, None)
    assert ca.subject_public_key_info == BSI_DG14[23 : 23 + 0x117]
    assert parsed.active_authentication is None
    assert parsed.other_protocols == (secinfo.ID_TA,)


def test_reference_dg14_with_ca_version_16_is_refused() -> None:
    """pymrtd's negative vector (ETSI TR 103 200, EF_DG14 of test case F06): the BSI file
    with the ChipAuthenticationInfo's version set to 0x10."""
    bad = BSI_DG14.replace(bytes.fromhex("300F060A04007F00070202030201020101"),
                           bytes.fromhex("300F060A04007F00070202030201020110"))  # fmt: skip
    assert bad != BSI_DG14
    assert reason(secread.parse_dg14, bad) == "lds.dg14.format"


def test_bsi_reference_dg15_holds_an_rsa_key_this_line_does_not_use() -> None:
    assert reason(secread.parse_dg15, BSI_DG15) == "lds.dg15.algorithm"


# --- what the builders refuse ---------------------------------------------------------------


def test_builders_refuse_keys_that_are_not_p256() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    for key in (p384, rsa_key):
        with pytest.raises(lds.LdsError) as caught:
            secinfo.dg14(key)  # type: ignore[arg-type]
        assert caught.value.reason_code == "lds.dg14.key"
        with pytest.raises(lds.LdsError) as caught:
            secinfo.dg15(key)  # type: ignore[arg-type]
        assert caught.value.reason_code == "lds.dg15.key"
    for key_id in (-1, True):
        with pytest.raises(lds.LdsError):
            secinfo.dg14(public_key(), ca_key_id=key_id)


def test_lds_errors_pickle() -> None:
    with pytest.raises(lds.LdsError) as caught:
        secread.parse_dg14(b"\x6e\x00")
    again = pickle.loads(pickle.dumps(caught.value))
    assert (type(again), again.reason_code, str(again)) == (
        lds.LdsError, "lds.dg14.format", str(caught.value)
    )  # fmt: skip


# --- what the parsers refuse ----------------------------------------------------------------

POINT = RFC6979_POINT
P256 = keys.ECDomainParameters(name="named", value="secp256r1")


def explicit(**changes: object) -> object:
    domain = secinfo.p256_explicit_parameters()
    for name, value in changes.items():
        domain[name] = value
    return keys.ECDomainParameters(name="specified", value=domain)


def off_curve() -> bytes:
    return POINT[:-1] + bytes([POINT[-1] ^ 1])


@pytest.mark.parametrize(
    ("spki", "dg15_reason", "dg14_key_usable"),
    [
        (spki_with(POINT, P256), None, True),
        (spki_with(b"\x02" + POINT[1:33], P256), "lds.dg15.format", None),  # compressed
        (spki_with(off_curve(), P256), "lds.dg15.format", None),
        (spki_with(POINT[:-1], P256), "lds.dg15.format", None),
        (spki_with(POINT, keys.ECDomainParameters(name="implicit_ca", value=core.Null())),
         "lds.dg15.format", None),
        (spki_with(POINT, keys.ECDomainParameters(name="named", value="secp384r1")),
         "lds.dg15.algorithm", False),
        (spki_with(POINT, explicit(order=secinfo.P256_N - 2)), "lds.dg15.algorithm", False),
        (spki_with(POINT, explicit(cofactor=2)), "lds.dg15.algorithm", False),
        (spki_with(POINT, explicit(base=b"\x04" + POINT[33:] + POINT[1:33])),
         "lds.dg15.algorithm", False),
        (spki_with(POINT, explicit(cofactor=None)), None, True),
    ],
    ids=["named", "compressed", "off-curve", "short", "implicit", "p384", "order", "cofactor",
         "base", "no-cofactor"],
)  # fmt: skip
def test_p256_keys_are_checked_in_both_files(
    spki: bytes, dg15_reason: str | None, dg14_key_usable: bool | None
) -> None:
    dg15 = tlv.encode(0x6F, spki)
    dg14 = security_infos(ca_info(), ca_key(spki), aa_info())
    if dg15_reason is None:
        assert secread.parse_dg15(dg15) == public_key()
    else:
        assert reason(secread.parse_dg15, dg15) == dg15_reason
    if dg14_key_usable is None:
        assert reason(secread.parse_dg14, dg14) == "lds.dg14.format"
    else:
        (ca,) = secread.parse_dg14(dg14).chip_authentication_keys
        assert (ca.public_key is not None) == dg14_key_usable


RSA_SPKI = BSI_DG15[3:]


@pytest.mark.parametrize(
    "dg14",
    [
        security_infos(),
        security_infos(ca_info(version=2), ca_key(), aa_info()),
        security_infos(ca_info(), ca_key(), aa_info(version=0)),
        security_infos(ca_info(), ca_key(), aa_info(), aa_info(algorithm="1.2.3")),
        security_infos(ca_info(), aa_info()),  # a CA info without its public key
        security_infos(ca_info(key_id=1), ca_key(key_id=2)),
        security_infos(ca_info(key_id=1), ca_info(key_id=1), ca_key(key_id=1)),
        security_infos(ca_info(), ca_key(), ca_key(key_id=1)),
        security_infos(ca_info(key_id=-1), ca_key(key_id=-1)),
        security_infos(ca_info(), ca_key(RSA_SPKI)),  # id-PK-ECDH with an RSA key
        security_infos(ca_info(), ca_key(protocol=secinfo.ID_PK_DH)),  # id-PK-DH, EC key
        security_infos(bytes.fromhex("3003020101")),  # a SecurityInfo without an OID
        security_infos(bytes.fromhex("300406020400")),  # ...and without requiredData
        security_infos(ca_info(), ca_key(), aa_info(), tag=0x6F),
        security_infos(ca_info(), ca_key(), aa_info()) + b"\x00",
        security_infos(ca_info(), ca_key(), aa_info())[:-1],
        # a long-form length where a short one fits: BER, not DER
        security_infos(bytes.fromhex("30810f") + ca_info()[2:], ca_key()),
        bytes.fromhex("6e81") + security_infos(ca_info(), ca_key())[1:],
        tlv.encode(0x6E, bytes.fromhex("30") + security_infos(ca_info(), ca_key())[3:]),
    ],
    ids=["empty", "ca-version", "aa-version", "two-aa", "ca-alone", "key-ids", "same-id",
         "one-id-missing", "negative-id", "rsa-ca-key", "dh-protocol", "no-oid", "no-data",
         "tag", "trailing", "truncated", "ber-info", "ber-dg14", "sequence-not-set"],
)  # fmt: skip
def test_parse_dg14_refuses_malformed_files(dg14: bytes) -> None:
    assert reason(secread.parse_dg14, dg14) == "lds.dg14.format"


def test_parse_dg14_keeps_unknown_protocols_and_accepts_any_order() -> None:
    ta = bytes.fromhex("300D060804007F0007020202020101")
    unknown = bytes.fromhex("300c06032a0304300504030102ff")
    parsed = secread.parse_dg14(security_infos(unknown, aa_info(), ca_key(), ta, ca_info()))
    assert parsed.other_protocols == ("1.2.3.4", secinfo.ID_TA)
    assert parsed.chip_authentication_for() is not None
    assert parsed.active_authentication == secread.AaInfo(1, secinfo.ECDSA_PLAIN_SHA256)


def test_a_dg14_with_active_authentication_only_parses() -> None:
    parsed = secread.parse_dg14(security_infos(aa_info()))
    assert parsed.chip_authentication == ()
    assert parsed.chip_authentication_keys == ()
    assert parsed.chip_authentication_for() is None


def test_parse_dg15_refuses_malformed_files() -> None:
    good = secinfo.dg15(public_key())
    for bad in (b"", good[:-1], good + b"\x00", b"\x6e" + good[1:],
                bytes.fromhex("6f815b") + good[2:], tlv.encode(0x6F, b"\x30\x00")):  # fmt: skip
        assert reason(secread.parse_dg15, bad) == "lds.dg15.format"


# --- fuzzing: nothing but LdsError ---------------------------------------------------------

VALID = (
    secinfo.dg14(public_key()),
    secinfo.dg14(public_key(7), ca_key_id=2),
    secinfo.dg15(public_key()),
    tlv.encode(0x6F, secinfo.explicit_subject_public_key_info(public_key())),
    BSI_DG14,
    BSI_DG15,
)


def parse_both(data: bytes) -> None:
    for parse in (secread.parse_dg14, secread.parse_dg15):
        with contextlib.suppress(lds.LdsError):
            parse(data)


@given(st.binary(max_size=400))
@settings(max_examples=300)
def test_random_bytes_raise_only_lds_errors(data: bytes) -> None:
    parse_both(data)
    parse_both(b"\x6e" + tlv.encode_length(len(data)) + data)
    parse_both(b"\x6f" + tlv.encode_length(len(data)) + data)


mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "insert", "delete"]),
        st.integers(min_value=0),
        st.integers(min_value=0, max_value=255),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, changes: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, byte in changes:
        at = where % max(len(out), 1)
        if kind == "flip" and out:
            out[at] ^= 1 << (byte % 8)
        elif kind == "set" and out:
            out[at] = byte
        elif kind == "insert":
            out.insert(at, byte)
        elif kind == "delete" and out:
            del out[at]
    return bytes(out)


@given(st.sampled_from(VALID), mutations)
@settings(max_examples=600)
def test_mutated_files_raise_only_lds_errors(
    data: bytes, changes: list[tuple[str, int, int]]
) -> None:
    parse_both(mutate(data, changes))


@given(st.sampled_from(VALID[:4]), st.integers(min_value=0))
@settings(max_examples=200)
def test_every_truncation_is_refused(data: bytes, at: int) -> None:
    cut = data[: at % len(data)]
    parse = secread.parse_dg14 if data[0] == 0x6E else secread.parse_dg15
    with pytest.raises(lds.LdsError):
        parse(cut)


def test_the_lines_own_dg14_takes_the_short_way_and_gives_the_same_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DG14 built and parsed through the template (the line's DG14 with its point spliced
    in) is byte for byte and field for field what asn1crypto builds and parses."""
    for _ in range(5):
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        fast = secinfo.dg14(key)
        assert fast == secinfo._build_dg14(key, None)
        parsed = secread.parse_dg14(fast)
        secread.parse_dg14.cache_clear()
        monkeypatch.setattr(secread, "_template_dg14", lambda data: None)
        slow = secread.parse_dg14(fast)
        monkeypatch.undo()
        secread.parse_dg14.cache_clear()
        assert parsed == slow
        assert parsed.chip_authentication_keys[0].public_key == key
    template = secinfo._dg14_template()
    off_curve = bytearray(fast)
    off_curve[template.point + 5] ^= 0x01  # no longer a point of P-256
    with pytest.raises(lds.LdsError) as caught:
        secread.parse_dg14(bytes(off_curve))
    assert caught.value.reason_code == "lds.dg14.format"
