"""The chip PKI on disk and in the token: the Country Signing CA (CSCA), the Document Signer
(DS) it certifies, and where each key lives.

- The DS private key lives in a PKCS#11 token and never leaves it (``printers.hsm``). The
  embedded default is a SoftHSM2 token under the keys directory (``token/``, its own
  ``softhsm2.conf``, its user PIN in the owner-only ``token.pin``); a centre points
  ``CARDLINE_PKCS11_MODULE`` / ``_TOKEN_LABEL`` / ``_PIN_FILE`` at its HSM instead.
- The CSCA key is an **offline CA** file (``csca_key``, by default in ``<keys>-offline-ca/``
  beside the keys directory, not beside the DS key), PKCS#8 encrypted under the passphrase
  of the two key custodians' shares (``printers.ceremony``): only ``keys init`` writes it
  and only ``keys rotate`` reads it; the line never does. A centre keeps it on removable
  media and mounts it for a rotation.
- ``data.key``: the data key of personal data at rest, wrapped by the token
  (``printers.atrest``).
- The keys directory holds the public part: ``csca.pem``, ``ds.pem`` (the current DS),
  ``ds-retired/<serial>.pem`` (earlier ones) and ``usage/<serial>.count`` (signatures).
- Certificates follow ICAO 9303-12 (``printers.pki``) and are marked TEST: the embedded PKI
  is for test and demonstration only.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from line.files import private_dir, write_private
from printers import atrest, hsm
from printers.errors import PrintersError
from printers.pki import (
    CSCA_KEY_USAGE_PERIOD,
    CSCA_NAME,
    CSCA_VALIDITY,
    CURVE,
    DS_KEY_USAGE_PERIOD,
    DS_NAME,
    DS_VALIDITY,
    csca_certificate,
    ds_certificate,
    key_usage_period,
)
from printers.signer import Pkcs11Signer, UsageCounter

if TYPE_CHECKING:
    from line.settings import Settings

__all__ = [
    "CSCA_KEY_USAGE_PERIOD",
    "CSCA_NAME",
    "CSCA_VALIDITY",
    "DS_KEY_USAGE_PERIOD",
    "DS_NAME",
    "DS_VALIDITY",
]


class KeyStoreError(PrintersError):
    """A key or certificate file that cannot be used. ``path`` names the file;
    ``reason_code`` is ``keys.<what>``."""

    reason_code = "keys.error"

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(f"{path}: {message}", path=str(path), reason_code=self.reason_code)
        self.path = path


class KeysExist(KeyStoreError):
    """The keys are there already; they are replaced only when asked to."""

    reason_code = "keys.exist"


class KeyFileMissing(KeyStoreError):
    reason_code = "keys.missing"


class KeyFileUnreadable(KeyStoreError):
    """The file is there but cannot be read or is not the PEM key or certificate expected."""

    reason_code = "keys.unreadable"


class KeyMismatch(KeyStoreError):
    """A key that does not belong to its certificate, or a DS not issued by the CSCA."""

    reason_code = "keys.mismatch"


class KeyWrongShares(KeyFileUnreadable):
    """The shares entered do not decrypt the offline CA key."""

    reason_code = "keys.wrong_shares"


class DocumentSigner(Protocol):
    """What signs a chip's SOD: the DS certificate and a DER ECDSA-SHA256 signature over a
    message; the key stays wherever it lives."""

    @property
    def certificate(self) -> x509.Certificate: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class KeyPaths:
    """Where the PKI is: the public files in ``directory``, the offline CA's key, and the
    token holding the DS key. Holds no secret: it travels to helper processes."""

    directory: Path
    csca_cert: Path
    ds_cert: Path
    csca_key: Path
    token: hsm.TokenRef

    @classmethod
    def in_directory(
        cls,
        directory: Path,
        *,
        token: hsm.TokenRef | None = None,
        csca_key: Path | None = None,
        token_label: str = hsm.DEFAULT_TOKEN_LABEL,
        pin_file: Path | None = None,
    ) -> KeyPaths:
        """The PKI of ``directory``; without ``token``, the embedded SoftHSM2 token there;
        without ``csca_key``, ``csca.key`` in ``<directory>-offline-ca`` beside it (a
        directory of its own for each keys directory)."""
        directory = Path(directory)
        if token is None:
            token = hsm.TokenRef(
                module=hsm.find_softhsm() or hsm.SOFTHSM_MODULES[0],
                label=token_label,
                pin=hsm.PinFile(pin_file or directory / "token.pin"),
                softhsm_conf=directory / "softhsm2.conf",
            )
        return cls(
            directory=directory,
            csca_cert=directory / "csca.pem",
            ds_cert=directory / "ds.pem",
            csca_key=csca_key or directory.with_name(f"{directory.name}-offline-ca") / "csca.key",
            token=token,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyPaths:
        """The PKI the settings name (``CARDLINE_KEYS_DIR``, ``CARDLINE_CSCA_KEY_FILE``,
        ``CARDLINE_PKCS11_*``)."""
        token = None
        if settings.pkcs11_module is not None:
            if settings.pkcs11_pin_file is None:
                raise KeyStoreError(
                    "CARDLINE_PKCS11_PIN_FILE must name the file holding the token's PIN",
                    path=settings.pkcs11_module,
                )
            token = hsm.TokenRef(
                module=settings.pkcs11_module.expanduser(),
                label=settings.pkcs11_token_label,
                pin=hsm.PinFile(settings.pkcs11_pin_file.expanduser()),
            )
        csca_key = settings.csca_key_file
        return cls.in_directory(
            settings.keys_path,
            token=token,
            csca_key=csca_key.expanduser() if csca_key is not None else None,
            token_label=settings.pkcs11_token_label,
            pin_file=settings.pkcs11_pin_file,
        )

    @property
    def embedded(self) -> bool:
        return self.token.softhsm_conf is not None

    @property
    def token_dir(self) -> Path:
        return self.directory / "token"

    @property
    def retired_dir(self) -> Path:
        return self.directory / "ds-retired"

    @property
    def data_key(self) -> Path:
        return self.directory / "data.key"

    def usage_file(self, certificate: x509.Certificate) -> Path:
        return self.directory / "usage" / f"{certificate.serial_number:x}.count"

    def all(self) -> tuple[Path, ...]:
        """The files ``keys init`` writes (the embedded token's besides)."""
        files: tuple[Path, ...] = (self.csca_cert, self.ds_cert, self.csca_key, self.data_key)
        if self.embedded:
            assert self.token.softhsm_conf is not None and isinstance(self.token.pin, hsm.PinFile)
            files += (self.token.softhsm_conf, self.token.pin.path)
        return files


def _existing(paths: KeyPaths) -> list[Path]:
    found = [path for path in paths.all() if path.exists()]
    if paths.embedded and paths.token_dir.is_dir() and any(paths.token_dir.iterdir()):
        found.append(paths.token_dir)
    return found


def init_keys(
    paths: KeyPaths,
    *,
    now: datetime,
    passphrase: bytes,
    country: str = "VN",
    overwrite: bool = False,
) -> KeyPaths:
    """A new TEST CSCA (its key written to the offline CA file, encrypted under
    ``passphrase``: the custodians' shares, ``printers.ceremony``), a DS whose key is made
    inside the token (for the embedded token, a new SoftHSM2 token first) and a new data
    key for personal data at rest, both certificates starting at ``now`` (aware). Every
    file is 0600 in 0700 directories. Raises ``KeysExist`` if any of it is there, unless
    ``overwrite``. The ceremony (``printers.ceremony.init_ceremony``) is the way in."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    existing = _existing(paths)
    if existing and not overwrite:
        raise KeysExist(
            "key files exist already (" + ", ".join(p.name for p in existing) + "); "
            "refusing to replace them (to make new ones on purpose: cardline keys init --force)",
            path=paths.directory,
        )
    private_dir(paths.directory)
    private_dir(paths.csca_key.parent)
    if paths.embedded:
        assert paths.token.softhsm_conf is not None and isinstance(paths.token.pin, hsm.PinFile)
        hsm.init_softhsm_token(
            tokendir=paths.token_dir,
            conf=paths.token.softhsm_conf,
            pin_file=paths.token.pin.path,
            label=paths.token.label,
        )
    csca_key = ec.generate_private_key(CURVE())
    csca = csca_certificate(csca_key, now=now, country=country)
    ds = ds_certificate(hsm.generate_ds_key(paths.token), csca=csca, csca_key=csca_key, now=now)
    atrest.new_data_key(paths, replace=True)
    atrest.forget()
    hsm.log_out(paths.token)  # an administrative login ends with the command
    write_private(paths.csca_key, _key_pem(csca_key, passphrase))
    write_private(paths.csca_cert, csca.public_bytes(serialization.Encoding.PEM))
    write_private(paths.ds_cert, ds.public_bytes(serialization.Encoding.PEM))
    return paths


def init_test_keys(
    directory: Path, *, now: datetime, country: str = "VN", overwrite: bool = False
) -> KeyPaths:
    """``init_keys`` for the embedded token in ``directory`` (the offline CA beside it),
    with two generated TEST shares written beside the offline CA key
    (``printers.ceremony.test_shares``)."""
    from printers.ceremony import new_test_shares, passphrase, write_test_shares

    paths = KeyPaths.in_directory(directory)
    shares = new_test_shares()
    init_keys(paths, now=now, passphrase=passphrase(shares), country=country, overwrite=overwrite)
    write_test_shares(paths, shares)  # only once the keys are made: never over a kept set
    return paths


def rotate_ds(paths: KeyPaths, *, now: datetime, passphrase: bytes) -> x509.Certificate:
    """A new DS: a key made in the token, certified by the CSCA (read from the offline CA
    file, decrypted with ``passphrase``) from ``now``. The previous DS certificate moves to
    ``ds-retired/``; its key stays in the token (cards it signed verify with the
    certificate they carry). A wrong passphrase changes nothing: the CA key is opened
    before the token is touched."""
    csca = load_csca(paths.csca_cert)
    csca_key = _load_private_key(paths.csca_key, passphrase)
    if csca_key.public_key() != csca.public_key():
        raise KeyMismatch(f"not the key of the CSCA {paths.csca_cert}", path=paths.csca_key)
    previous = load_certificate(paths.ds_cert) if paths.ds_cert.exists() else None
    ds = ds_certificate(hsm.generate_ds_key(paths.token), csca=csca, csca_key=csca_key, now=now)
    hsm.log_out(paths.token)
    if previous is not None:
        private_dir(paths.retired_dir)
        write_private(
            paths.retired_dir / f"{previous.serial_number:x}.pem",
            previous.public_bytes(serialization.Encoding.PEM),
        )
    write_private(paths.ds_cert, ds.public_bytes(serialization.Encoding.PEM))
    return ds


def _key_pem(key: ec.EllipticCurvePrivateKey, passphrase: bytes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


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


def _load_private_key(path: Path, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    """The offline CA's key: an owner-only PEM EC key encrypted under ``passphrase``."""
    data = _read(path)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise KeyFileUnreadable(
            f"private key readable by others (mode {mode:04o}); chmod 600 it", path=path
        )
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        raise KeyFileUnreadable(
            "not encrypted under the custodians' shares (made before the key ceremony): "
            "make new keys with a ceremony (cardline keys init --force)",
            path=path,
        ) from None
    except ValueError:
        raise KeyWrongShares(
            "the custodians' shares do not open the offline CA key (a wrong share?)", path=path
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileUnreadable("not an elliptic-curve private key", path=path)
    return key


def load_ds_certificate(paths: KeyPaths) -> x509.Certificate:
    """The current DS certificate, checked to be issued by the CSCA of ``paths``."""
    certificate = load_certificate(paths.ds_cert)
    csca = load_csca(paths.csca_cert)
    try:
        certificate.verify_directly_issued_by(csca)
    except (ValueError, TypeError, InvalidSignature):
        raise KeyMismatch(
            f"certificate not issued by the CSCA {paths.csca_cert}", path=paths.ds_cert
        ) from None
    return certificate


def load_signer(paths: KeyPaths) -> Pkcs11Signer:
    """The Document Signer: the current DS certificate (issued by the CSCA) and a session
    of the token holding its key. A token whose key does not match the certificate fails
    here (``KeyMismatch``), not at the first card."""
    certificate = load_ds_certificate(paths)
    signer = Pkcs11Signer(
        paths.token, certificate, usage=UsageCounter(paths.usage_file(certificate))
    )
    try:
        signer.sign(b"cardline: the token's key belongs to the DS certificate")
    except hsm.HsmError as exc:
        signer.close()
        if exc.reason_code != "keys.hsm.bad_signature":
            raise
        raise KeyMismatch(
            f"the token's key does not belong to the certificate {paths.ds_cert}",
            path=paths.ds_cert,
        ) from None
    return signer


def keys_info(paths: KeyPaths) -> dict[str, Any]:
    """What ``cardline keys show`` says: the certificates, the DS key's URI, its usage
    period and signature count, and the retired DS certificates. Opens no token."""
    info: dict[str, Any] = {
        "csca_cert": str(paths.csca_cert),
        "ds_cert": str(paths.ds_cert),
        "csca_key": str(paths.csca_key),
    }
    for label, path in (("csca", paths.csca_cert), ("ds", paths.ds_cert)):
        if not path.exists():
            raise KeyFileMissing("no certificate: run `cardline keys init`", path=path)
        certificate = load_certificate(path)
        info[f"{label}_subject"] = certificate.subject.rfc4514_string()
        info[f"{label}_not_after"] = certificate.not_valid_after_utc.isoformat()
        info[f"{label}_serial"] = f"{certificate.serial_number:x}"
        start, end = key_usage_period(certificate)
        info[f"{label}_key_usage"] = [start.isoformat(), end.isoformat()]
        if label == "ds":
            info["ds_key"] = hsm.ds_key_uri(paths.token, certificate)
            info["ds_signatures"] = UsageCounter.total(paths.usage_file(certificate))
    retired = sorted(paths.retired_dir.glob("*.pem")) if paths.retired_dir.is_dir() else []
    info["ds_retired"] = [
        {
            "serial": f"{cert.serial_number:x}",
            "key_usage_ended": key_usage_period(cert)[1].isoformat(),
            "signatures": UsageCounter.total(paths.usage_file(cert)),
        }
        for cert in map(load_certificate, retired)
    ]
    return info
