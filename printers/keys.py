"""The test PKI: a Country Signing CA (CSCA) and the Document Signer (DS) it certifies.

Shaped after ICAO 9303-12, marked TEST everywhere, and for test and demonstration only: the
private keys are written unencrypted to files (a production CSCA key lives offline in an HSM,
a production DS key in the encoder's HSM).

- Keys: ECDSA on P-256 (secp256r1), signatures ECDSA with SHA-256. (brainpoolP256r1 works
  as well in ``cryptography``, but P-256 is what every verifier, OpenSSL included, supports.)
- CSCA: self-signed; basicConstraints CA:TRUE, pathlen 0 (critical); keyUsage keyCertSign,
  cRLSign (critical); subject key identifier; privateKeyUsagePeriod 5 years. Validity 15
  years: its key signs DS certificates for up to 5 years, and each of those must stay
  verifiable for the 10 years a DS certificate lives.
- DS: issued by the CSCA; keyUsage digitalSignature (critical); basicConstraints CA:FALSE;
  authority and subject key identifiers; privateKeyUsagePeriod 3 months (9303-12 advises a
  DS key signs for at most 3 months). Validity 10 years. No extended key usage: 9303-12
  defines none for document signing, and verifiers must not require one.
- Chip QC checks the DS certificate at the SOD's signing time (``printers.chip.sod``), so cards
  stay verifiable after the DS certificate's key usage period is over.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from line.errors import CardlineError
from line.files import private_dir, write_private

CURVE = ec.SECP256R1
CSCA_VALIDITY = timedelta(days=15 * 365 + 4)
CSCA_KEY_USAGE_PERIOD = timedelta(days=5 * 365 + 1)
DS_VALIDITY = timedelta(days=10 * 365 + 3)
DS_KEY_USAGE_PERIOD = timedelta(days=92)
ORGANISATION = "cardline TEST"
UNIT = "TEST PKI - not for production"
CSCA_NAME = "cardline TEST CSCA - not for production"
DS_NAME = "cardline TEST Document Signer - not for production"


class KeyStoreError(CardlineError):
    """A key or certificate file that cannot be used. ``path`` names the file;
    ``reason_code`` is ``keys.<what>``."""

    reason_code = "keys.error"

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(f"{path}: {message}", path=str(path), reason_code=self.reason_code)
        self.path = path


class KeysExist(KeyStoreError):
    """The key files are there already; they are replaced only when asked to."""

    reason_code = "keys.exist"


class KeyFileMissing(KeyStoreError):
    reason_code = "keys.missing"


class KeyFileUnreadable(KeyStoreError):
    """The file is there but cannot be read or is not the PEM key or certificate expected."""

    reason_code = "keys.unreadable"


class KeyMismatch(KeyStoreError):
    """A key that does not belong to its certificate, or a DS not issued by the CSCA."""

    reason_code = "keys.mismatch"


@dataclass(frozen=True, slots=True)
class KeyPaths:
    """Where the four files of the test PKI are."""

    csca_cert: Path
    csca_key: Path
    ds_cert: Path
    ds_key: Path

    @classmethod
    def in_directory(cls, directory: Path) -> KeyPaths:
        return cls(
            csca_cert=directory / "csca.pem",
            csca_key=directory / "csca.key",
            ds_cert=directory / "ds.pem",
            ds_key=directory / "ds.key",
        )

    def all(self) -> tuple[Path, Path, Path, Path]:
        return (self.csca_cert, self.csca_key, self.ds_cert, self.ds_key)


@dataclass(frozen=True, slots=True)
class DocumentSigner:
    """The DS private key and its certificate: what signs each chip's SOD."""

    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def __repr__(self) -> str:  # never show the key
        return f"DocumentSigner(serial={self.certificate.serial_number:#x})"


def _name(common_name: str, country: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, UNIT),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _csca_certificate(
    key: ec.EllipticCurvePrivateKey, *, now: datetime, country: str
) -> x509.Certificate:
    name = _name(CSCA_NAME, country)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + CSCA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.PrivateKeyUsagePeriod(now, now + CSCA_KEY_USAGE_PERIOD), critical=False)
        .sign(key, hashes.SHA256())
    )


def _ds_certificate(
    key: ec.EllipticCurvePrivateKey,
    *,
    csca: x509.Certificate,
    csca_key: ec.EllipticCurvePrivateKey,
    now: datetime,
    country: str,
) -> x509.Certificate:
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(DS_NAME, country))
        .issuer_name(csca.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + DS_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(csca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.PrivateKeyUsagePeriod(now, now + DS_KEY_USAGE_PERIOD), critical=False)
        .sign(csca_key, hashes.SHA256())
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def init_test_keys(
    directory: Path, *, now: datetime, country: str = "VN", overwrite: bool = False
) -> KeyPaths:
    """Create the test CSCA and DS in ``directory`` (made mode 0700): ``csca.pem``,
    ``csca.key``, ``ds.pem``, ``ds.key``, all 0600 whatever the umask (the certificates are
    public, but they live in the owner-only home with the keys). Both certificates
    start at ``now`` (an aware datetime). Raises ``KeysExist`` if any of the files is there,
    unless ``overwrite``."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    paths = KeyPaths.in_directory(directory)
    existing = [path for path in paths.all() if path.exists()]
    if existing and not overwrite:
        raise KeysExist(
            "key files exist already (" + ", ".join(p.name for p in existing) + "); "
            "refusing to replace them (to make new ones on purpose: cardline keys init --force)",
            path=directory,
        )
    private_dir(directory)
    csca_key = ec.generate_private_key(CURVE())
    csca = _csca_certificate(csca_key, now=now, country=country)
    ds_key = ec.generate_private_key(CURVE())
    ds = _ds_certificate(ds_key, csca=csca, csca_key=csca_key, now=now, country=country)
    write_private(paths.csca_key, _key_pem(csca_key))
    write_private(paths.ds_key, _key_pem(ds_key))
    write_private(paths.csca_cert, csca.public_bytes(serialization.Encoding.PEM))
    write_private(paths.ds_cert, ds.public_bytes(serialization.Encoding.PEM))
    return paths


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileMissing("no such file", path=path) from None
    except OSError as exc:
        raise KeyFileUnreadable(f"cannot be read ({exc.strerror})", path=path) from None


def load_certificate(path: Path) -> x509.Certificate:
    """The PEM certificate in ``path``."""
    try:
        return x509.load_pem_x509_certificate(_read(path))
    except ValueError:
        raise KeyFileUnreadable("not a PEM certificate", path=path) from None


def load_csca(path: Path) -> x509.Certificate:
    """The CSCA certificate in ``path``; it must be a CA certificate."""
    certificate = load_certificate(path)
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        raise KeyFileUnreadable("not a CA certificate", path=path) from None
    if not constraints.value.ca:
        raise KeyFileUnreadable("not a CA certificate", path=path)
    return certificate


def _load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    data = _read(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileUnreadable(
            f"private key readable by others (mode {mode:04o}); chmod 600 it", path=path
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyFileUnreadable("not an unencrypted PEM private key", path=path) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileUnreadable("not an elliptic-curve private key", path=path)
    return key


def load_signer(paths: KeyPaths) -> DocumentSigner:
    """The Document Signer: its key and certificate, checked to belong together and the
    certificate checked to be issued by the CSCA of ``paths``."""
    key = _load_private_key(paths.ds_key)
    certificate = load_certificate(paths.ds_cert)
    if certificate.public_key() != key.public_key():
        raise KeyMismatch(
            f"key does not belong to the certificate {paths.ds_cert}", path=paths.ds_key
        )
    csca = load_csca(paths.csca_cert)
    try:
        certificate.verify_directly_issued_by(csca)
    except (ValueError, TypeError, InvalidSignature):
        raise KeyMismatch(
            f"certificate not issued by the CSCA {paths.csca_cert}", path=paths.ds_cert
        ) from None
    return DocumentSigner(key, certificate)
