"""EF.SOD: its CMS structure, OpenSSL's independent verdict on it, and each way verification
rejects a SOD with its reason code."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from printers import keys
from printers.chip import lds, sod, tlv
from tests.signers import MemorySigner

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
SIGNED_AT = datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=UTC)
MRZ = (
    "IDVNM0010890001<001089000123<4",
    "8905013M2905019VNM<<<<<<<<<<<2",
    "TRAN<<VAN<HUNG<<<<<<<<<<<<<<<<",
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> keys.KeyPaths:
    return keys.init_test_keys(tmp_path_factory.mktemp("pki") / "keys", now=NOW)


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> keys.KeyPaths:
    return keys.init_test_keys(tmp_path_factory.mktemp("pki") / "other", now=NOW)


@pytest.fixture(scope="module")
def signer(pki: keys.KeyPaths) -> keys.DocumentSigner:
    return keys.load_signer(pki)


@pytest.fixture(scope="module")
def csca(pki: keys.KeyPaths) -> x509.Certificate:
    return keys.load_csca(pki.csca_cert)


@pytest.fixture(scope="module")
def data_groups() -> dict[int, bytes]:
    return {
        1: lds.dg1(MRZ),
        2: lds.dg2(b"\xff\xd8 not really a jpeg \xff\xd9", width=240, height=320),
        13: lds.encode_dg13({"id_number": "001089000123", "full_name": "Trần Văn Hùng"}),
    }


@pytest.fixture(scope="module")
def ef_sod(data_groups: dict[int, bytes], signer: keys.DocumentSigner) -> bytes:
    return sod.build_sod(data_groups, signer, signing_time=SIGNED_AT)


def two_groups() -> dict[int, bytes]:
    return {1: lds.dg1(MRZ), 2: lds.dg2(b"\xff\xd8\xff\xd9", width=1, height=1)}


def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("the openssl command is needed for the independent check", pytrace=False)
    return path


def openssl_cms_verify(
    ef_sod: bytes, ca_file: Path, directory: Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``openssl cms -verify`` of the ContentInfo inside EF.SOD, at the signing time."""
    content_info = directory / "sod.der"
    content_info.write_bytes(tlv.decode_single(ef_sod, 0x77))
    econtent = directory / "econtent.der"
    command = [
        openssl(), "cms", "-verify", "-inform", "DER", "-in", str(content_info),
        "-CAfile", str(ca_file), "-purpose", "any", "-binary", "-out", str(econtent),
        "-attime", str(int(SIGNED_AT.timestamp())),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=False), econtent


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def issue_ds(
    pki: keys.KeyPaths, *, not_before: datetime, not_after: datetime
) -> keys.DocumentSigner:
    """A DS certificate of the test CSCA with a validity of the test's choosing."""
    from printers import ceremony

    csca_key = serialization.load_pem_private_key(
        pki.csca_key.read_bytes(), password=ceremony.test_passphrase(pki)
    )
    assert isinstance(csca_key, ec.EllipticCurvePrivateKey)
    csca_cert = keys.load_csca(pki.csca_cert)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=cardline TEST odd DS,C=VN"))
        .issuer_name(csca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(csca_key, hashes.SHA256())
    )
    return MemorySigner(key, certificate)


# --- what is built --------------------------------------------------------------------------


def test_the_sod_round_trips_to_the_hash_of_every_data_group(
    ef_sod: bytes, data_groups: dict[int, bytes], csca: x509.Certificate
) -> None:
    assert ef_sod[0] == 0x77
    expected = {n: hashlib.sha256(dg).digest() for n, dg in data_groups.items()}
    assert sod.verify_sod(ef_sod, csca) == expected
    contents = sod.parse_sod(ef_sod)
    assert dict(contents.dg_hashes) == expected
    assert contents.signing_time == SIGNED_AT.replace(microsecond=0)


def test_the_cms_structure_is_the_one_9303_asks_for(
    ef_sod: bytes, signer: keys.DocumentSigner
) -> None:
    info = cms.ContentInfo.load(tlv.decode_single(ef_sod, 0x77))
    assert info["content_type"].native == "signed_data"
    signed = info["content"]
    assert signed["version"].native == "v3"
    assert [a.dump().hex() for a in signed["digest_algorithms"]] == ["300b0609608648016503040201"]
    encap = signed["encap_content_info"]
    assert encap["content_type"].dotted == "2.23.136.1.1.1"
    (certificate,) = signed["certificates"]
    assert certificate.chosen.dump() == signer.certificate.public_bytes(serialization.Encoding.DER)
    (signer_info,) = signed["signer_infos"]
    assert signer_info["version"].native == "v1"
    sid = signer_info["sid"]
    assert sid.name == "issuer_and_serial_number"
    assert sid.chosen["serial_number"].native == signer.certificate.serial_number
    assert signer_info["digest_algorithm"].dump().hex() == "300b0609608648016503040201"
    assert (
        signer_info["signature_algorithm"]["algorithm"].dotted == "1.2.840.10045.4.3.2"
    )  # ecdsa-with-SHA256
    attrs = {a["type"].native: a["values"] for a in signer_info["signed_attrs"]}
    assert sorted(attrs) == ["content_type", "message_digest", "signing_time"]
    assert attrs["content_type"][0].dotted == "2.23.136.1.1.1"
    assert attrs["message_digest"][0].native == hashlib.sha256(encap["content"].contents).digest()
    assert attrs["signing_time"][0].name == "utc_time"

    lso = sod.LdsSecurityObject.load(encap["content"].contents)
    assert lso["version"].native == 0
    assert lso["hash_algorithm"].dump().hex() == "300b0609608648016503040201"
    assert [h["data_group_number"].native for h in lso["data_group_hash_values"]] == [1, 2, 13]


def test_signing_time_after_2049_is_a_generalized_time(pki: keys.KeyPaths) -> None:
    late = issue_ds(pki, not_before=NOW, not_after=datetime(2051, 1, 1, tzinfo=UTC))
    at = datetime(2050, 6, 1, tzinfo=UTC)
    contents = sod.parse_sod(sod.build_sod(two_groups(), late, signing_time=at))
    assert contents.signing_time == at


def test_build_refuses_bad_input(signer: keys.DocumentSigner) -> None:
    with pytest.raises(sod.SodError):
        sod.build_sod({1: lds.dg1(MRZ)}, signer, signing_time=SIGNED_AT)  # fewer than 2
    with pytest.raises(sod.SodError):
        sod.build_sod({**two_groups(), 17: b"\x71\x00"}, signer, signing_time=SIGNED_AT)
    with pytest.raises(ValueError, match="aware"):
        sod.build_sod(two_groups(), signer, signing_time=datetime(2026, 11, 2))


def test_build_refuses_to_sign_outside_the_ds_validity(signer: keys.DocumentSigner) -> None:
    for moment in (NOW - timedelta(seconds=1), NOW + keys.DS_VALIDITY + timedelta(seconds=1)):
        with pytest.raises(sod.SodError) as caught:
            sod.build_sod(two_groups(), signer, signing_time=moment)
        assert caught.value.reason_code == "sod.signer_validity"


# --- independent evidence: OpenSSL --------------------------------------------------------


def test_openssl_verifies_the_sod_and_outputs_our_lds_security_object(
    ef_sod: bytes, data_groups: dict[int, bytes], pki: keys.KeyPaths, tmp_path: Path
) -> None:
    result, econtent_file = openssl_cms_verify(ef_sod, pki.csca_cert, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr

    econtent = econtent_file.read_bytes()
    assert econtent == sod.parse_sod(ef_sod).econtent
    lso = sod.LdsSecurityObject.load(econtent, strict=True)
    assert {
        h["data_group_number"].native: h["data_group_hash_value"].native
        for h in lso["data_group_hash_values"]
    } == {n: hashlib.sha256(dg).digest() for n, dg in data_groups.items()}

    parsed = subprocess.run(
        [openssl(), "asn1parse", "-inform", "DER", "-in", str(econtent_file)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "INTEGER           :00" in parsed
    assert ":sha256" in parsed
    for dg in data_groups.values():
        assert hashlib.sha256(dg).hexdigest().upper() in parsed


def test_openssl_rejects_a_sod_under_another_csca(
    ef_sod: bytes, other_pki: keys.KeyPaths, tmp_path: Path
) -> None:
    result, _ = openssl_cms_verify(ef_sod, other_pki.csca_cert, tmp_path)
    assert result.returncode != 0


def test_openssl_rejects_a_sod_whose_hashes_were_changed(
    ef_sod: bytes, data_groups: dict[int, bytes], pki: keys.KeyPaths, tmp_path: Path
) -> None:
    at = ef_sod.index(hashlib.sha256(data_groups[2]).digest())
    result, _ = openssl_cms_verify(flip(ef_sod, at), pki.csca_cert, tmp_path)
    assert result.returncode != 0


# --- what verification rejects ------------------------------------------------------------


def reason(ef_sod: bytes, csca: x509.Certificate) -> str:
    with pytest.raises(sod.SodError) as caught:
        sod.verify_sod(ef_sod, csca)
    return caught.value.reason_code


def test_a_sod_signed_under_another_csca_is_a_certificate_failure(
    ef_sod: bytes, other_pki: keys.KeyPaths
) -> None:
    other_csca = keys.load_csca(other_pki.csca_cert)
    assert reason(ef_sod, other_csca) == "qc.sod.certificate"
    _, problems = sod.inspect_sod(ef_sod, other_csca)
    assert [p.reason_code for p in problems] == ["qc.sod.certificate"]


def test_a_tampered_signature_is_a_signature_failure(ef_sod: bytes, csca: x509.Certificate) -> None:
    signature = sod.parse_sod(ef_sod).signature
    at = ef_sod.index(signature) + len(signature) - 1  # last byte of s: DER stays valid
    assert reason(flip(ef_sod, at), csca) == "qc.sod.signature"


def test_changed_hashes_are_a_digest_failure(
    ef_sod: bytes, data_groups: dict[int, bytes], csca: x509.Certificate
) -> None:
    at = ef_sod.index(hashlib.sha256(data_groups[1]).digest())
    assert reason(flip(ef_sod, at), csca) == "qc.sod.digest"


def test_a_changed_signing_time_is_a_signature_failure(
    ef_sod: bytes, csca: x509.Certificate
) -> None:
    stamp = SIGNED_AT.strftime("%y%m%d%H%M%SZ").encode()
    at = ef_sod.index(stamp) + 1  # a digit of the year stays a digit
    assert reason(flip(ef_sod, at), csca) == "qc.sod.signature"


def test_another_content_type_is_refused(
    data_groups: dict[int, bytes],
    signer: keys.DocumentSigner,
    csca: x509.Certificate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sod, "ID_LDS_SECURITY_OBJECT", "1.2.840.113549.1.7.1")  # id-data
    as_data = sod.build_sod(data_groups, signer, signing_time=SIGNED_AT)
    monkeypatch.undo()
    assert reason(as_data, csca) == "qc.sod.content_type"


def test_a_ds_valid_when_the_csca_was_not_is_a_certificate_failure(
    pki: keys.KeyPaths, csca: x509.Certificate
) -> None:
    early = issue_ds(pki, not_before=NOW - timedelta(days=30), not_after=NOW + timedelta(days=30))
    signed_before_the_csca = NOW - timedelta(days=1)
    ef = sod.build_sod(two_groups(), early, signing_time=signed_before_the_csca)
    assert reason(ef, csca) == "qc.sod.certificate"
    fine = sod.build_sod(two_groups(), early, signing_time=NOW + timedelta(days=1))
    assert sod.verify_sod(fine, csca)


def test_the_sod_is_judged_at_its_signing_time_not_today(
    pki: keys.KeyPaths, csca: x509.Certificate
) -> None:
    short = issue_ds(pki, not_before=NOW, not_after=NOW + timedelta(days=1))
    ef = sod.build_sod(two_groups(), short, signing_time=NOW + timedelta(hours=1))
    assert sod.verify_sod(ef, csca)  # the DS certificate has long expired today


@pytest.mark.parametrize(
    "data",
    [b"", b"\x77\x00", bytes.fromhex("7703020100"), b"\x30\x00", b"\x77\x82\x01"],
)
def test_what_is_no_sod_is_a_format_failure(data: bytes, csca: x509.Certificate) -> None:
    assert reason(data, csca) == "qc.sod.format"


def test_a_sod_without_signed_attributes_or_with_two_signers_is_a_format_failure(
    ef_sod: bytes, csca: x509.Certificate
) -> None:
    info = cms.ContentInfo.load(tlv.decode_single(ef_sod, 0x77))
    signer_info = info["content"]["signer_infos"][0]
    two = cms.ContentInfo.load(info.dump())
    two["content"]["signer_infos"] = [signer_info.copy(), signer_info.copy()]
    assert reason(tlv.encode(0x77, two.dump(force=True)), csca) == "qc.sod.format"


@given(st.data())
@settings(max_examples=300)
def test_any_damage_gives_sod_errors_and_nothing_else(
    ef_sod: bytes, csca: x509.Certificate, data: st.DataObject
) -> None:
    damaged = bytearray(ef_sod)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(damaged)))
    contents, problems = sod.inspect_sod(bytes(damaged[:cut]), csca)
    assert all(p.reason_code.startswith("qc.sod.") for p in problems)
    if contents is None:
        assert [p.reason_code for p in problems] == ["qc.sod.format"]
