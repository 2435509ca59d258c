"""The Document Signer through a PKCS#11 token: ``Pkcs11Signer``, the ``DocumentSigner``
the line signs every SOD with (``printers.keys.load_signer`` opens it).

SoftHSM 2.6 has CKM_ECDSA but not CKM_ECDSA_SHA256, so the message is hashed with SHA-256
here and the token signs the digest; its raw r||s is DER-encoded for CMS. Like Keyfactor
SignServer's MRTD SOD signer, every signature is checked against the DS certificate before
it is returned, and signatures are counted per DS key (``UsageCounter``, shown by
``cardline keys show``). One session per signer and process, kept for thousands of
signatures, reopened when the module was re-initialised or the session was lost, closed by
``close`` or at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import weakref
from pathlib import Path

import pkcs11
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Mechanism
from pkcs11.util.ec import encode_ecdsa_signature

from line.files import open_private, private_dir
from printers import hsm
from printers.hsm import HsmError, TokenRef, ds_key_id, open_session, private_key


class UsageCounter:
    """Signatures made with one DS key, appended to a file in steps (each process adds its
    own lines; the count is their sum, at least what was flushed)."""

    def __init__(self, path: Path, *, step: int = 100) -> None:
        self.path = path
        self.step = step
        self.pending = 0

    def add(self, count: int = 1) -> None:
        self.pending += count
        if self.pending >= self.step:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        private_dir(self.path.parent)
        with open_private(self.path, "a") as handle:
            handle.write(f"{self.pending}\n")
        self.pending = 0

    @staticmethod
    def total(path: Path) -> int:
        try:
            lines = path.read_text(encoding="ascii").split()
        except FileNotFoundError:
            return 0
        return sum(int(line) for line in lines if line.isdigit())


_open_signers: weakref.WeakSet[Pkcs11Signer] = weakref.WeakSet()
_RETRY = (
    pkcs11.SessionHandleInvalid,
    pkcs11.SessionClosed,
    pkcs11.UserNotLoggedIn,
    pkcs11.KeyHandleInvalid,
    pkcs11.ObjectHandleInvalid,
)


class Pkcs11Signer:
    """The Document Signer: its certificate, and its key in a PKCS#11 token. One session per
    signer, kept open for its thousands of signatures, reopened when the module was
    re-initialised or the session was lost, closed by ``close`` (or at exit)."""

    def __init__(
        self, token: TokenRef, certificate: x509.Certificate, *, usage: UsageCounter | None = None
    ) -> None:
        public = certificate.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise HsmError("the DS certificate's key is not an EC key", reason_code="keys.hsm")
        self.token = token
        self._certificate = certificate
        self._public = public
        self._key_id = ds_key_id(public)
        self.usage = usage
        self.signatures = 0
        self._session: pkcs11.Session | None = None
        self._key: pkcs11.SignMixin | None = None
        self._generation = -1
        with hsm.LOCK:
            self._open()
        _open_signers.add(self)

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    def __repr__(self) -> str:
        serial = self._certificate.serial_number
        return f"Pkcs11Signer(token={self.token.label!r}, serial={serial:#x})"

    def _open(self) -> pkcs11.SignMixin:
        self._drop()
        self._session = open_session(self.token)
        self._generation = hsm.generation()
        self._key = private_key(self._session, self._key_id)
        return self._key

    def _drop(self) -> None:
        session, self._session, self._key = self._session, None, None
        if session is not None and self._generation == hsm.generation():
            with contextlib.suppress(pkcs11.PKCS11Error):
                session.close()

    def sign(self, message: bytes) -> bytes:
        """DER ECDSA-SHA256 signature of ``message``, checked against the certificate."""
        digest = hashlib.sha256(message).digest()
        with hsm.LOCK:
            try:
                try:
                    current = self._generation == hsm.generation() and self._key is not None
                    key = self._key if current and self._key is not None else self._open()
                    raw = key.sign(digest, mechanism=Mechanism.ECDSA)
                except _RETRY:  # the session was lost (token reset, logged out): once more
                    raw = self._open().sign(digest, mechanism=Mechanism.ECDSA)
            except pkcs11.PKCS11Error as exc:
                raise HsmError(
                    f"token {self.token.label!r} did not sign ({type(exc).__name__})",
                    reason_code="keys.hsm.sign",
                ) from None
        signature: bytes = encode_ecdsa_signature(raw)
        try:
            self._public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise HsmError(
                "the token's signature does not verify with the DS certificate",
                reason_code="keys.hsm.bad_signature",
            ) from None
        with hsm.LOCK:  # the line's threads share one signer
            self.signatures += 1
            if self.usage is not None:
                self.usage.add()
        return signature

    def close(self) -> None:
        with hsm.LOCK:
            self._drop()
            if self.usage is not None:
                self.usage.flush()


@atexit.register
def _close_all() -> None:
    """Flush the signature counts, close the sessions, log out."""
    for signer in list(_open_signers):
        with contextlib.suppress(Exception):  # at exit: nothing to tell anyone
            signer.close()
    hsm.log_out()
