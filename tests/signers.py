"""A Document Signer whose key is in memory: for unit tests of SOD building and checking
only (an odd certificate, a key of another certificate). No production path makes one: the
line signs through the PKCS#11 token (``printers.hsm.Pkcs11Signer``)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


@dataclass(frozen=True, slots=True)
class MemorySigner:
    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message, ec.ECDSA(hashes.SHA256()))
