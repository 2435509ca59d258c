"""The certificates against the ICAO 9303-12 profiles, field by field (7.1: CSCA and
Document Signer certificates; 7.1.1.6: the Document Type List; ICAO's checks of PKD
uploads), with OpenSSL as the independent judge (``verify -x509_strict``, ``asn1parse``)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from printers import ceremony, keys, pki

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> keys.KeyPaths:
    return keys.init_test_keys(tmp_path_factory.mktemp("pki") / "keys", now=NOW)


@pytest.fixture(scope="module")
def csca(paths: keys.KeyPaths) -> x509.Certificate:
    return keys.load_csca(paths.csca_cert)


@pytest.fixture(scope="module")
def ds(paths: keys.KeyPaths) -> x509.Certificate:
    return keys.load_certificate(paths.ds_cert)


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("openssl")
    if command is None:
        pytest.fail("the openssl command is needed for the independent check", pytrace=False)
    return subprocess.run([command, *args], capture_output=True, text=True, check=False)


def extension(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension:
    return certificate.extensions.get_extension_for_oid(oid)  # type: ignore[type-arg]


def test_both_are_v3_with_a_positive_serial_of_at_most_20_octets(
    csca: x509.Certificate, ds: x509.Certificate
) -> None:
    for certificate in (csca, ds):
        assert certificate.version == x509.Version.v3
        assert 0 < certificate.serial_number < 2 ** (8 * 20 - 1)
        assert certificate.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256


def test_the_country_is_in_issuer_and_subject_and_they_agree(
    csca: x509.Certificate, ds: x509.Certificate
) -> None:
    def country(name: x509.Name) -> str:
        (attribute,) = name.get_attributes_for_oid(NameOID.COUNTRY_NAME)
        return str(attribute.value)

    assert country(csca.issuer) == country(csca.subject) == "VN"
    assert country(ds.issuer) == country(ds.subject) == "VN"
    assert ds.issuer == csca.subject


def test_the_csca_profile(csca: x509.Certificate) -> None:
    assert {e.oid for e in csca.extensions} == {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.PRIVATE_KEY_USAGE_PERIOD,
    }, "no basic constraints, no EKU, no alternative names, nothing else"
    constraints = extension(csca, ExtensionOID.BASIC_CONSTRAINTS)
    assert constraints.critical
    assert constraints.value == x509.BasicConstraints(ca=True, path_length=0)
    usage = extension(csca, ExtensionOID.KEY_USAGE)
    assert usage.critical
    assert (usage.value.key_cert_sign, usage.value.crl_sign) == (True, True)
    assert not any(
        (
            usage.value.digital_signature,
            usage.value.content_commitment,
            usage.value.key_encipherment,
            usage.value.data_encipherment,
            usage.value.key_agreement,
        )
    )
    ski = extension(csca, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    public = csca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert not ski.critical and ski.value == x509.SubjectKeyIdentifier.from_public_key(public)
    period = extension(csca, ExtensionOID.PRIVATE_KEY_USAGE_PERIOD)
    assert not period.critical
    assert pki.key_usage_period(csca) == (NOW, NOW + pki.CSCA_KEY_USAGE_PERIOD)
    csca.verify_directly_issued_by(csca)  # self-signed


def test_the_document_signer_profile(csca: x509.Certificate, ds: x509.Certificate) -> None:
    assert {e.oid for e in ds.extensions} == {
        ExtensionOID.KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.PRIVATE_KEY_USAGE_PERIOD,
        pki.ID_DOCUMENT_TYPE_LIST,
    }, "no basic constraints, no EKU, no alternative names, nothing else"
    usage = extension(ds, ExtensionOID.KEY_USAGE)
    assert usage.critical and usage.value.digital_signature
    assert not any(
        (
            usage.value.content_commitment,
            usage.value.key_encipherment,
            usage.value.data_encipherment,
            usage.value.key_agreement,
            usage.value.key_cert_sign,
            usage.value.crl_sign,
        )
    )
    with pytest.raises(x509.ExtensionNotFound):  # 9303-12 Table 6: "x" for the DS
        ds.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS)
    aki = extension(ds, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    csca_ski = extension(csca, ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert not aki.critical and aki.value.key_identifier == csca_ski.digest
    assert aki.value.authority_cert_issuer is None
    ski = extension(ds, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    public = ds.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    assert not ski.critical and ski.value == x509.SubjectKeyIdentifier.from_public_key(public)
    period = extension(ds, ExtensionOID.PRIVATE_KEY_USAGE_PERIOD)
    assert not period.critical
    assert pki.key_usage_period(ds) == (NOW, NOW + timedelta(days=92))
    types = extension(ds, pki.ID_DOCUMENT_TYPE_LIST)
    assert not types.critical
    # SEQUENCE { INTEGER 0 (v0), SET { PrintableString "ID" } }
    assert types.value.value == bytes.fromhex("3009020100310413024944")
    assert pki.document_types(ds) == ("ID",)
    assert ds.not_valid_after_utc <= csca.not_valid_after_utc


def test_openssl_reads_the_document_type_list_the_same_way(
    ds: x509.Certificate, tmp_path: Path
) -> None:
    der = tmp_path / "doctypes.der"
    der.write_bytes(extension(ds, pki.ID_DOCUMENT_TYPE_LIST).value.value)
    parsed = openssl("asn1parse", "-inform", "DER", "-in", str(der))
    assert parsed.returncode == 0, parsed.stderr
    # "    2:d=1  hl=2 l=   1 prim: INTEGER           :00" -> ["prim:", "INTEGER", ":00"]
    shape = [line.split()[-3:] if "prim" in line else line.split()[-2:] for line in
             parsed.stdout.splitlines()]  # fmt: skip
    assert shape == [
        ["cons:", "SEQUENCE"],
        ["prim:", "INTEGER", ":00"],
        ["cons:", "SET"],
        ["prim:", "PRINTABLESTRING", ":ID"],
    ]


def test_openssl_x509_strict_accepts_the_chain(paths: keys.KeyPaths) -> None:
    at = str(int((NOW + timedelta(days=1)).timestamp()))
    for leaf in (paths.ds_cert, paths.csca_cert):
        result = openssl(
            "verify", "-x509_strict", "-attime", at, "-CAfile", str(paths.csca_cert), str(leaf)
        )
        assert result.returncode == 0 and result.stdout.strip().endswith("OK"), result.stderr
    text = openssl("x509", "-in", str(paths.ds_cert), "-noout", "-text").stdout
    assert "Digital Signature" in text and "2.23.136.1.1.6.2" in text


def test_openssl_refuses_the_ds_under_another_csca(paths: keys.KeyPaths, tmp_path: Path) -> None:
    other = keys.init_test_keys(tmp_path / "other" / "keys", now=NOW)
    result = openssl("verify", "-x509_strict", "-CAfile", str(other.csca_cert), str(paths.ds_cert))
    assert result.returncode != 0


def test_document_types_are_one_or_two_capital_letters() -> None:
    for bad in ([], ["IDX"], ["id"], [""], ["Ä"]):
        with pytest.raises(ValueError, match="document types"):
            pki.document_type_list(bad)
    assert pki.document_type_list(["P", "ID"]).value == bytes.fromhex(
        "300c020100310713015013024944"
    )


def test_a_csca_whose_key_usage_period_is_over_issues_nothing(paths: keys.KeyPaths) -> None:
    csca_key = serialization.load_pem_private_key(
        paths.csca_key.read_bytes(), password=ceremony.test_passphrase(paths)
    )
    assert isinstance(csca_key, ec.EllipticCurvePrivateKey)
    csca = keys.load_csca(paths.csca_cert)
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    late = NOW + pki.CSCA_KEY_USAGE_PERIOD + timedelta(seconds=1)
    with pytest.raises(pki.KeyUsagePeriodOver) as caught:
        pki.ds_certificate(public, csca=csca, csca_key=csca_key, now=late)
    assert str(caught.value) == "the CSCA's private key usage period ended on 2031-11-01"
    last_day = NOW + pki.CSCA_KEY_USAGE_PERIOD - timedelta(days=1)
    issued = pki.ds_certificate(public, csca=csca, csca_key=csca_key, now=last_day)
    assert issued.not_valid_after_utc <= csca.not_valid_after_utc, "never past the CSCA"


def test_the_key_usage_period_is_enforced_to_the_second(ds: x509.Certificate) -> None:
    start, end = pki.key_usage_period(ds)
    pki.check_key_usage_period(ds, at=start)
    pki.check_key_usage_period(ds, at=end)
    with pytest.raises(pki.KeyUsagePeriodOver) as caught:
        pki.check_key_usage_period(ds, at=end + timedelta(seconds=1))
    assert str(caught.value) == (
        "the Document Signer's private key usage period ended on 2027-02-01: cardline keys rotate"
    )
    assert caught.value.fields["reason_code"] == "keys.ds_key_usage"
    with pytest.raises(pki.KeyUsagePeriodOver, match="begins on 2026-11-01"):
        pki.check_key_usage_period(ds, at=start - timedelta(seconds=1))
