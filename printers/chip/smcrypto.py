"""Secure messaging's ciphers (ICAO Doc 9303-11 §9.8): the session keys and their send
sequence counter, padding method 2, 3DES-CBC and the retail MAC (BAC, 3DES SM), and the
per-cipher suites (3DES, AES-CBC with AES-CMAC) that :mod:`printers.chip.sm`'s channels
encrypt and MAC with. Cipher objects are made once per suite; only the per-message CBC
contexts are new."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

CipherName = Literal["3DES", "AES-128", "AES-192", "AES-256"]
"""The SM ciphers: 3DES (BAC, CA with 3DES) and AES (CA, PACE)."""

CIPHERS: tuple[CipherName, ...] = ("3DES", "AES-128", "AES-192", "AES-256")
KEY_LENGTHS: dict[CipherName, int] = {"3DES": 16, "AES-128": 16, "AES-192": 24, "AES-256": 32}
"""Bytes of KSenc and KSmac: 3DES keys are two DES keys K1 K2 (used as K1 K2 K1)."""

MAC_LENGTH = 8


# --- keys -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class SessionKeys:
    """The keys of one SM session and its send sequence counter (the value before the next
    command; it is incremented before use). ``repr`` shows the cipher and the SSC, never a
    key."""

    cipher: CipherName
    ksenc: bytes
    ksmac: bytes
    ssc: int

    def __post_init__(self) -> None:
        if self.cipher not in CIPHERS:
            raise ValueError(f"unknown SM cipher {self.cipher!r}; known: {', '.join(CIPHERS)}")
        size = KEY_LENGTHS[self.cipher]
        for name in ("ksenc", "ksmac"):
            if len(getattr(self, name)) != size:
                raise ValueError(f"{self.cipher} needs a {size}-byte {name}")
        if not 0 <= self.ssc < 1 << (8 * self.ssc_size):
            raise ValueError(f"SSC does not fit {self.ssc_size} bytes")

    @property
    def ssc_size(self) -> int:
        """Bytes of the SSC: the cipher's block size (8 for 3DES, 16 for AES)."""
        return 8 if self.cipher == "3DES" else 16

    @property
    def ssc_bytes(self) -> bytes:
        return self.ssc.to_bytes(self.ssc_size, "big")

    @property
    def block_size(self) -> int:
        return self.ssc_size

    def __repr__(self) -> str:
        return f"SessionKeys({self.cipher}, ssc={self.ssc_bytes.hex().upper()})"


# --- primitives -----------------------------------------------------------------------------


def pad(data: bytes, block: int) -> bytes:
    """ISO/IEC 9797-1 padding method 2 (ISO/IEC 7816-4): ``80``, then ``00`` to the block."""
    return data + b"\x80" + bytes(-(len(data) + 1) % block)


def _des3(key: bytes) -> TripleDES:
    """3DES with the 24-byte key ``cryptography`` wants: K1 K2 K1 from 16 bytes, K K K from
    8 bytes (single DES)."""
    if len(key) == 8:
        return TripleDES(key * 3)
    if len(key) == 16:
        return TripleDES(key + key[:8])
    raise ValueError(f"a DES key has 8 or 16 bytes, not {len(key)}")


class TripleDesCbc:
    """3DES-CBC with a zero IV and no padding (BAC's E_IFD/E_IC, 3DES secure messaging)."""

    __slots__ = ("_cipher",)

    def __init__(self, key: bytes) -> None:
        self._cipher = Cipher(_des3(key), modes.CBC(bytes(8)))

    def encrypt(self, data: bytes) -> bytes:
        context = self._cipher.encryptor()
        return context.update(data) + context.finalize()

    def decrypt(self, data: bytes) -> bytes:
        context = self._cipher.decryptor()
        return context.update(data) + context.finalize()


class RetailMac:
    """ISO/IEC 9797-1 MAC algorithm 3 with DES (the "retail MAC"), 8 bytes, over a 16-byte
    key K1 K2: DES-CBC with K1 over every block, then the last block decrypted with K2 and
    encrypted with K1. :meth:`mac` pads with method 2 first; :meth:`mac_padded` takes data
    already padded to 8 bytes. Not thread-safe (it keeps its DES contexts): one per
    session."""

    __slots__ = ("_cbc", "_decrypt_k2", "_encrypt_k1")

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError(f"a retail MAC key has 16 bytes, not {len(key)}")
        self._cbc = Cipher(_des3(key[:8]), modes.CBC(bytes(8)))
        # ECB contexts hold no state between blocks: made once, fed one block per MAC.
        self._decrypt_k2: CipherContext = Cipher(_des3(key[8:]), modes.ECB()).decryptor()
        self._encrypt_k1: CipherContext = Cipher(_des3(key[:8]), modes.ECB()).encryptor()

    def mac(self, data: bytes) -> bytes:
        return self.mac_padded(pad(data, 8))

    def mac_padded(self, data: bytes) -> bytes:
        if not data or len(data) % 8:
            raise ValueError("the retail MAC needs whole 8-byte blocks")
        last = self._cbc.encryptor().update(data)[-8:]
        return self._encrypt_k1.update(self._decrypt_k2.update(last))


class CipherSuite(Protocol):
    """One cipher's encryption and MAC, keys bound."""

    block: int

    def encrypt(self, padded: bytes, ssc: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes, ssc: bytes) -> bytes: ...

    def mac(self, padded: bytes) -> bytes: ...


class _TripleDesSuite:
    block = 8

    def __init__(self, ksenc: bytes, ksmac: bytes) -> None:
        self._cbc = TripleDesCbc(ksenc)
        self._mac = RetailMac(ksmac)

    def encrypt(self, padded: bytes, ssc: bytes) -> bytes:
        return self._cbc.encrypt(padded)

    def decrypt(self, ciphertext: bytes, ssc: bytes) -> bytes:
        return self._cbc.decrypt(ciphertext)

    def mac(self, padded: bytes) -> bytes:
        return self._mac.mac_padded(padded)


class _AesSuite:
    block = 16

    def __init__(self, ksenc: bytes, ksmac: bytes) -> None:
        self._algorithm = algorithms.AES(ksenc)
        self._ivs: CipherContext = Cipher(self._algorithm, modes.ECB()).encryptor()
        self._cmac = cmac.CMAC(algorithms.AES(ksmac))

    def _iv(self, ssc: bytes) -> bytes:
        return self._ivs.update(ssc)  # IV = E(KSenc, SSC), 9303-11 §9.8.6.1

    def encrypt(self, padded: bytes, ssc: bytes) -> bytes:
        context = Cipher(self._algorithm, modes.CBC(self._iv(ssc))).encryptor()
        return context.update(padded) + context.finalize()

    def decrypt(self, ciphertext: bytes, ssc: bytes) -> bytes:
        context = Cipher(self._algorithm, modes.CBC(self._iv(ssc))).decryptor()
        return context.update(ciphertext) + context.finalize()

    def mac(self, padded: bytes) -> bytes:
        context = self._cmac.copy()
        context.update(padded)
        return context.finalize()[:MAC_LENGTH]


def cipher_suite(keys: SessionKeys) -> CipherSuite:
    if keys.cipher == "3DES":
        return _TripleDesSuite(keys.ksenc, keys.ksmac)
    return _AesSuite(keys.ksenc, keys.ksmac)
