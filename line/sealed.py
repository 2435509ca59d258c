"""Files with personal data encrypted at rest: AES-256-GCM under the centre's data key.

A sealed file is a small versioned format::

    magic   b"CLSEALED"      8 bytes
    version 1                1 byte
    key id                   16 bytes (which data key sealed it)
    nonce                    12 bytes (random, one per file)
    ciphertext + tag         the rest (GCM tag: 16 bytes)

The associated data is the header (magic to nonce) followed by the file's *role* (what kind
of file: ``chip-archive``, ``chip-image``, ``spool-pdf``) and its *name*: a file renamed
over another, or moved to another role, does not open. One byte changed anywhere fails
the tag: ``SealedFileError`` with the file's name, never a half-read file.

The data key itself is never on disk in the clear: ``printers.atrest`` keeps it wrapped by
an AES key inside the PKCS#11 token and unwraps it once per process. Here is only the
format and the cipher (``cryptography``'s AESGCM), so that every package can read and write
sealed files through a :class:`Sealer` it is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from line.errors import CardlineError
from line.files import write_private

MAGIC = b"CLSEALED"
VERSION = 1
KEY_ID_BYTES = 16
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + 1 + KEY_ID_BYTES + NONCE_BYTES
TAG_BYTES = 16

SPOOL_PDF = "spool-pdf"
"""A print batch's PDF of card faces in the spool (kept for QC and ``card export``)."""
CHIP_ARCHIVE = "chip-archive"
"""A card's chip files as QC read them back (``cards/<serial>.chip``)."""
CHIP_IMAGE = "chip-image"
"""A virtual chip's whole memory (``chips/<serial>.vchip.json``)."""


class SealedFileError(CardlineError):
    """A sealed file that cannot be opened: not sealed, sealed under another key, or
    changed since it was written (``reason_code`` ``file.sealed``)."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(f"{path}: {message}", reason_code="file.sealed", path=path)


class NoDataKey(SealedFileError):
    """A sealed file where no data key was given: a wiring error, not a bad file."""


@dataclass(frozen=True, slots=True)
class Sealer:
    """Seals and opens files under one data key (32 bytes) named by ``key_id``."""

    key_id: bytes
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key_id) != KEY_ID_BYTES or len(self.key) != 32:
            raise ValueError("a data key is 32 bytes with a 16-byte id")

    def seal(self, data: bytes, *, role: str, name: str) -> bytes:
        """``data`` sealed as file ``name`` of kind ``role``."""
        header = MAGIC + bytes([VERSION]) + self.key_id + os.urandom(NONCE_BYTES)
        nonce = header[-NONCE_BYTES:]
        return header + AESGCM(self.key).encrypt(nonce, data, _associated(header, role, name))

    def open(self, blob: bytes, *, role: str, name: str) -> bytes:
        """The content of sealed file ``name`` of kind ``role``; ``SealedFileError`` if it is
        not one, was sealed under another key, or was changed."""
        if not is_sealed(blob):
            raise SealedFileError(f"not a sealed {role} file", path=name)
        if blob[len(MAGIC)] != VERSION:
            raise SealedFileError(f"sealed format version {blob[len(MAGIC)]} unknown", path=name)
        header = blob[:HEADER_BYTES]
        key_id = header[len(MAGIC) + 1 : len(MAGIC) + 1 + KEY_ID_BYTES]
        if key_id != self.key_id:
            raise SealedFileError(
                f"sealed under data key {key_id.hex()}, not this centre's {self.key_id.hex()}",
                path=name,
            )
        try:
            return AESGCM(self.key).decrypt(
                header[-NONCE_BYTES:], blob[HEADER_BYTES:], _associated(header, role, name)
            )
        except InvalidTag:
            raise SealedFileError(
                f"changed since it was sealed, or not this {role} file (authentication failed)",
                path=name,
            ) from None


def _associated(header: bytes, role: str, name: str) -> bytes:
    return header + role.encode("utf-8") + b"\0" + name.encode("utf-8")


def is_sealed(blob: bytes) -> bool:
    return len(blob) >= HEADER_BYTES + TAG_BYTES and blob.startswith(MAGIC)


def write_sealed(
    path: Path, data: bytes, *, role: str, sealer: Sealer | None, durable: bool = True
) -> Path:
    """``data`` written to ``path`` (owner-only, atomically), sealed when there is a
    ``sealer`` (``None``: plaintext, for unit tests of one piece and set-ups with no keys)."""
    content = data if sealer is None else sealer.seal(data, role=role, name=path.name)
    return write_private(path, content, durable=durable)


def read_sealed(path: Path, *, role: str, sealer: Sealer | None) -> bytes:
    """The content of ``path`` as ``write_sealed`` wrote it. With a ``sealer`` the file must
    be sealed (a plaintext file there is refused, not trusted); without one, a sealed
    file is refused with the reason."""
    blob = path.read_bytes()
    if sealer is not None:
        return sealer.open(blob, role=role, name=path.name)
    if is_sealed(blob):
        raise NoDataKey("is encrypted at rest and no data key was given to open it", path=str(path))
    return blob
