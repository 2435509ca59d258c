"""The test PKI: files and their modes, TEST marking, refusal to overwrite, the DS under the
CSCA (checked by cryptography and, independently, by ``openssl verify``), the DS key in the
embedded PKCS#11 token and the CSCA key in the offline CA file, never beside it.

The tokens are SoftHSM2 tokens made under each test's temporary directory, with their own
``SOFTHSM2_CONF`` (Debian softhsm2, installed by ``make setup``)."""

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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from line.errors import CardlineError
from printers import ceremony, hsm, keys

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask, so modes can only come from the code."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_the_public_files_and_the_token_with_private_modes(
    tmp_path: Path, open_umask: None
) -> None:
    directory = tmp_path / "pki" / "test"
    paths = keys.init_test_keys(directory, now=NOW)

    assert paths == keys.KeyPaths.in_directory(directory)
    assert sorted(p.name for p in directory.iterdir()) == [
        "csca.pem",
        "data.key",
        "ds.pem",
        "softhsm2.conf",
        "softhsm2.conf.lock",  # the embedded token's machine-wide lock (printers.hsm.LOCK)
        "token",
        "token.pin",
    ]
    assert mode(directory / "softhsm2.conf.lock") == 0o600
    assert paths.csca_key == tmp_path / "pki" / "test-offline-ca" / "csca.key"
    assert paths.csca_key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert mode(directory) == mode(paths.csca_key.parent) == 0o700
    assert (mode(paths.csca_key), mode(paths.csca_cert), mode(paths.ds_cert)) == (0o600,) * 3
    everything = [p for p in (tmp_path / "pki").rglob("*")]
    assert everything and all(mode(p) == (0o700 if p.is_dir() else 0o600) for p in everything), (
        "SoftHSM's own files too"
    )
    # No file in the keys directory holds a private key: the DS key is in the token.
    for path in directory.rglob("*"):
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes(), path


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

    with pytest.raises(x509.ExtensionNotFound):  # an end entity: 9303-12 leaves it out
        ds.extensions.get_extension_for_class(x509.BasicConstraints)
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
    ds = keys.load_certificate(paths.ds_cert)
    assert ds.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "UT"


def test_openssl_verifies_the_ds_under_the_csca(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed for the independent check", pytrace=False)
    paths = keys.init_test_keys(tmp_path / "a" / "k", now=NOW)
    other = keys.init_test_keys(tmp_path / "b" / "other", now=NOW)
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
    token_files = {p: p.read_bytes() for p in paths.token_dir.rglob("*.object")}

    with pytest.raises(keys.KeysExist) as caught:
        keys.init_test_keys(directory, now=NOW)

    assert isinstance(caught.value, keys.KeyStoreError)
    assert isinstance(caught.value, CardlineError)
    assert "--force" in str(caught.value) and str(directory) in str(caught.value)
    assert caught.value.reason_code == "keys.exist"
    assert {p: p.read_bytes() for p in paths.all()} == before
    assert {p: p.read_bytes() for p in paths.token_dir.rglob("*.object")} == token_files


def test_one_leftover_offline_ca_key_is_enough_to_refuse(tmp_path: Path) -> None:
    directory = tmp_path / "k"
    offline = tmp_path / "k-offline-ca"
    offline.mkdir()
    (offline / "csca.key").write_bytes(b"precious")
    with pytest.raises(keys.KeysExist, match="csca.key"):
        keys.init_test_keys(directory, now=NOW)
    assert (offline / "csca.key").read_bytes() == b"precious"


def test_overwrite_makes_new_keys(tmp_path: Path) -> None:
    directory = tmp_path / "k"
    first = keys.load_signer(keys.init_test_keys(directory, now=NOW))
    second = keys.load_signer(keys.init_test_keys(directory, now=NOW, overwrite=True))
    assert first.certificate.public_key() != second.certificate.public_key()
    assert not list(directory.glob(".*tmp"))
    with pytest.raises(hsm.HsmError, match="no private key"):
        first.sign(b"the old token is gone")  # a new token replaced it
    first.close()
    second.close()


def test_now_must_be_aware(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="aware"):
        keys.init_test_keys(tmp_path / "k", now=datetime(2026, 11, 1))


def test_load_signer_signs_with_the_ds_key_of_its_certificate(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    signer = keys.load_signer(paths)
    assert signer.certificate == keys.load_certificate(paths.ds_cert)
    signature = signer.sign(b"signed attributes")
    public = signer.certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"signed attributes", ec.ECDSA(hashes.SHA256()))
    pin = hsm.PinFile(paths.directory / "token.pin").read()
    assert "PRIVATE" not in repr(signer) and "serial=" in repr(signer) and pin not in repr(signer)
    signer.close()


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
    paths.ds_cert.write_bytes(b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    with pytest.raises(keys.KeyFileUnreadable) as caught:
        keys.load_signer(paths)
    assert caught.value.path == paths.ds_cert
    paths.csca_cert.write_bytes(b"not a certificate")
    with pytest.raises(keys.KeyFileUnreadable, match="not a PEM certificate"):
        keys.load_csca(paths.csca_cert)


def test_a_ds_certificate_is_no_csca(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    with pytest.raises(keys.KeyFileUnreadable, match="not a CA"):
        keys.load_csca(paths.ds_cert)


def test_an_offline_ca_key_others_can_read_is_refused(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    paths.csca_key.chmod(0o644)
    with pytest.raises(keys.KeyFileUnreadable, match="readable by others"):
        keys.rotate_ds(paths, now=NOW, passphrase=ceremony.test_passphrase(paths))


def test_a_certificate_whose_key_is_not_in_the_token_is_refused(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    csca_key = serialization.load_pem_private_key(
        paths.csca_key.read_bytes(), password=ceremony.test_passphrase(paths)
    )
    assert isinstance(csca_key, ec.EllipticCurvePrivateKey)
    from printers.pki import ds_certificate

    elsewhere = ec.generate_private_key(ec.SECP256R1()).public_key()
    stranger = ds_certificate(
        elsewhere, csca=keys.load_csca(paths.csca_cert), csca_key=csca_key, now=NOW
    )
    paths.ds_cert.write_bytes(stranger.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(hsm.HsmError) as caught:
        keys.load_signer(paths)
    assert caught.value.reason_code == "keys.hsm.no_key"


def test_a_ds_of_another_csca_is_a_mismatch(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "a" / "k", now=NOW)
    other = keys.init_test_keys(tmp_path / "b" / "other", now=NOW)
    shutil.copyfile(other.csca_cert, paths.csca_cert)  # same subject, another key
    with pytest.raises(keys.KeyMismatch) as caught:
        keys.load_signer(paths)
    assert caught.value.path == paths.ds_cert and caught.value.reason_code == "keys.mismatch"


def test_rotation_needs_the_offline_ca(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    paths.csca_key.unlink()
    with pytest.raises(keys.KeyFileMissing) as caught:
        keys.rotate_ds(paths, now=NOW, passphrase=ceremony.test_passphrase(paths))
    assert caught.value.path == paths.csca_key


def test_show_names_the_key_by_its_pkcs11_uri_and_counts_signatures(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "k", now=NOW)
    signer = keys.load_signer(paths)  # signs once to check the key belongs to the certificate
    for _ in range(4):
        signer.sign(b"x")
    signer.close()
    info = keys.keys_info(paths)
    ski = signer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    uri_id = "".join(f"%{b:02X}" for b in ski.value.digest)
    assert info["ds_key"] == (
        f"pkcs11:token=cardline-ds;id={uri_id};type=private"
        f"?module-path={paths.token.module}&pin-source=file:{paths.directory / 'token.pin'}"
    )
    assert info["ds_signatures"] == 5
    assert info["ds_key_usage"] == [NOW.isoformat(), (NOW + keys.DS_KEY_USAGE_PERIOD).isoformat()]
    assert info["ds_retired"] == []
