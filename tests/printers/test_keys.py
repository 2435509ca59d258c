"""The test PKI: files and their modes, TEST marking, refusal to overwrite, the DS under the
CSCA (checked by cryptography and, independently, by ``openssl verify``)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from line.errors import CardlineError
from printers import keys

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask, so modes can only come from the code."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_four_files_with_private_modes(tmp_path: Path, open_umask: None) -> None:
    directory = tmp_path / "pki" / "test"
    paths = keys.init_test_keys(directory, now=NOW)

    assert paths == keys.KeyPaths.in_directory(directory)
    assert sorted(p.name for p in directory.iterdir()) == [
        "csca.key",
        "csca.pem",
        "ds.key",
        "ds.pem",
    ]
    assert mode(directory) == 0o700
    assert (mode(paths.csca_key), mode(paths.ds_key)) == (0o600, 0o600)
    assert (mode(paths.csca_cert), mode(paths.ds_cert)) == (0o600, 0o600)
    assert paths.ds_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_an_existing_directory_is_made_private(tmp_path: Path, open_umask: None) -> None:
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o777)
    keys.init_test_keys(directory, now=NOW)
    assert mode(directory) == 0o700


def test_certificates_say_test_and_have_the_icao_shape(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    csca = keys.load_csca(paths.csca_cert)
    ds = keys.load_certificate(paths.ds_cert)

    for certificate in (csca, ds):
        subject = certificate.subject
        assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "VN"
        for oid in (
            NameOID.ORGANIZATION_NAME,
            NameOID.ORGANIZATIONAL_UNIT_NAME,
            NameOID.COMMON_NAME,
        ):
            assert "TEST" in str(subject.get_attributes_for_oid(oid)[0].value)
        key = certificate.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
        assert certificate.signature_algorithm_oid == x509.SignatureAlgorithmOID.ECDSA_WITH_SHA256
    assert csca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == keys.CSCA_NAME
    assert csca.issuer == csca.subject == ds.issuer

    constraints = csca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = csca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature

    assert not ds.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ds_usage = ds.extensions.get_extension_for_class(x509.KeyUsage)
    assert ds_usage.critical and ds_usage.value.digital_signature
    assert not ds_usage.value.key_cert_sign
    with pytest.raises(x509.ExtensionNotFound):
        ds.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    ds.verify_directly_issued_by(csca)

    assert csca.not_valid_before_utc == ds.not_valid_before_utc == NOW
    assert csca.not_valid_after_utc - NOW == keys.CSCA_VALIDITY
    assert timedelta(days=15 * 365) <= keys.CSCA_VALIDITY < timedelta(days=15 * 366)
    assert ds.not_valid_after_utc - NOW == keys.DS_VALIDITY
    assert timedelta(days=10 * 365) <= keys.DS_VALIDITY < timedelta(days=10 * 366)


def test_another_country_code(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW, country="UT")
    csca = keys.load_csca(paths.csca_cert)
    assert csca.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "UT"


def test_openssl_verifies_the_ds_under_the_csca(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed for the independent check", pytrace=False)
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    other = keys.init_test_keys(tmp_path / "other", now=NOW)
    at = str(int((NOW + timedelta(days=1)).timestamp()))

    def verify(ca: Path, leaf: Path) -> subprocess.CompletedProcess[str]:
        command = [openssl, "verify", "-attime", at, "-CAfile", str(ca), str(leaf)]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    good = verify(paths.csca_cert, paths.ds_cert)
    assert good.returncode == 0 and good.stdout.strip().endswith("OK"), good.stderr
    assert verify(other.csca_cert, paths.ds_cert).returncode != 0


def test_existing_keys_are_never_replaced_unasked(tmp_path: Path) -> None:
    directory = tmp_path / "k"
    paths = keys.init_test_keys(directory, now=NOW)
    before = {p: p.read_bytes() for p in paths.all()}

    with pytest.raises(keys.KeysExist) as caught:
        keys.init_test_keys(directory, now=NOW)

    assert isinstance(caught.value, keys.KeyStoreError)
    assert isinstance(caught.value, CardlineError)
    assert "--force" in str(caught.value) and str(directory) in str(caught.value)
    assert caught.value.reason_code == "keys.exist"
    assert {p: p.read_bytes() for p in paths.all()} == before


def test_one_leftover_key_file_is_enough_to_refuse(tmp_path: Path) -> None:
    directory = tmp_path / "k"
    directory.mkdir()
    (directory / "ds.key").write_bytes(b"precious")
    with pytest.raises(keys.KeysExist, match="ds.key"):
        keys.init_test_keys(directory, now=NOW)
    assert (directory / "ds.key").read_bytes() == b"precious"


def test_overwrite_makes_new_keys(tmp_path: Path) -> None:
    directory = tmp_path / "k"
    first = keys.load_signer(keys.init_test_keys(directory, now=NOW))
    second = keys.load_signer(keys.init_test_keys(directory, now=NOW, overwrite=True))
    assert first.certificate.public_key() != second.certificate.public_key()
    assert not list(directory.glob(".*tmp"))


def test_now_must_be_aware(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="aware"):
        keys.init_test_keys(tmp_path / "k", now=datetime(2026, 11, 1))


def test_load_signer_gives_the_ds_key_and_certificate(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    signer = keys.load_signer(paths)
    assert signer.private_key.public_key() == signer.certificate.public_key()
    assert signer.certificate == keys.load_certificate(paths.ds_cert)
    assert "PRIVATE" not in repr(signer) and "serial=" in repr(signer)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    paths.ds_cert.unlink()
    with pytest.raises(keys.KeyFileMissing) as caught:
        keys.load_signer(paths)
    assert caught.value.path == paths.ds_cert and str(paths.ds_cert) in str(caught.value)
    with pytest.raises(keys.KeyFileMissing):
        keys.load_csca(tmp_path / "nowhere.pem")


def test_garbage_is_unreadable(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    paths.ds_key.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    with pytest.raises(keys.KeyFileUnreadable) as caught:
        keys.load_signer(paths)
    assert caught.value.path == paths.ds_key
    paths.csca_cert.write_bytes(b"not a certificate")
    with pytest.raises(keys.KeyFileUnreadable, match="not a PEM certificate"):
        keys.load_csca(paths.csca_cert)


def test_a_ds_certificate_is_no_csca(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    with pytest.raises(keys.KeyFileUnreadable, match="not a CA"):
        keys.load_csca(paths.ds_cert)


def test_a_private_key_others_can_read_is_refused(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    paths.ds_key.chmod(0o644)
    with pytest.raises(keys.KeyFileUnreadable, match="readable by others"):
        keys.load_signer(paths)


def test_a_key_of_another_certificate_is_a_mismatch(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    other = keys.init_test_keys(tmp_path / "other", now=NOW)
    shutil.copyfile(other.ds_key, paths.ds_key)
    with pytest.raises(keys.KeyMismatch) as caught:
        keys.load_signer(paths)
    assert caught.value.path == paths.ds_key and caught.value.reason_code == "keys.mismatch"


def test_a_ds_of_another_csca_is_a_mismatch(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    other = keys.init_test_keys(tmp_path / "other", now=NOW)
    shutil.copyfile(other.csca_cert, paths.csca_cert)  # same subject, another key
    with pytest.raises(keys.KeyMismatch) as caught:
        keys.load_signer(paths)
    assert caught.value.path == paths.ds_cert
