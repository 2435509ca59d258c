"""The data key that encrypts personal data at rest (``line.sealed``), wrapped by the token.

- The **wrapping key** is an AES-256 key made inside the PKCS#11 token (the DS key's token:
  the embedded SoftHSM2 one, or the centre's HSM), SENSITIVE and not EXTRACTABLE, ENCRYPT
  and DECRYPT only: it never leaves the token.
- The **data key** (AES-256, for ``cryptography``'s AESGCM) is random; it is stored only
  encrypted by the wrapping key with CKM_AES_GCM (SoftHSM 2.6 has it, as it has
  CKM_AES_KEY_WRAP(_PAD); GCM is used because the data key must come back out of the token
  as bytes for AESGCM, which an unwrap into a token object would not allow), in
  ``data.key`` beside the certificates: JSON ``cardline.data-key/1`` with the data key's
  id, the wrapping key's CKA_ID, the nonce and the wrapped key (hex). The associated data
  binds the wrapped key to its id.
- A process unwraps it **once** (``sealer_for`` is cached per key directory), with the
  token's user PIN the line already logs in with: the line runs unattended.

``keys init`` makes a new one (a new token has a new wrapping key); a keys directory made
before encryption at rest gets one at its first use (``ensure_data_key``: published with
a hard link, so two processes racing make one file; the loser's wrapping key stays unused).
Without the token, nothing sealed can be read: a forced ``keys init`` (a new token)
makes every sealed file of the old one unreadable.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pkcs11
from pkcs11 import Attribute, GCMParams, KeyType, Mechanism, ObjectClass

from line.files import write_private
from line.sealed import KEY_ID_BYTES, Sealer
from printers import hsm

if TYPE_CHECKING:
    from line.settings import Settings
    from printers.keys import KeyPaths

FORMAT = "cardline.data-key/1"
WRAP_LABEL = "cardline-data-wrap"


class DataKeyError(hsm.HsmError):
    """The data key file is missing, unreadable, or the token does not unwrap it."""


def data_key_file(paths: KeyPaths) -> Path:
    return paths.data_key


def _associated(key_id: bytes) -> bytes:
    return FORMAT.encode() + b"\0" + key_id


def _wrapping_key(session: pkcs11.Session, wrap_id: bytes, *, create: bool) -> Any:
    if create:
        return session.generate_key(
            KeyType.AES,
            256,
            store=True,
            id=wrap_id,
            label=f"{WRAP_LABEL}-{wrap_id.hex()[:16]}",
            template={
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.PRIVATE: True,
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True,
                Attribute.WRAP: False,
                Attribute.UNWRAP: False,
                Attribute.SIGN: False,
                Attribute.VERIFY: False,
            },
        )
    try:
        key = session.get_key(object_class=ObjectClass.SECRET_KEY, id=wrap_id)
    except pkcs11.NoSuchKey:
        raise DataKeyError(
            f"the token {session.token.label!r} has no wrapping key {wrap_id.hex()}: the data "
            "key was made with another token",
            reason_code="keys.data_key",
        ) from None
    if not isinstance(key, pkcs11.DecryptMixin):
        raise DataKeyError(f"key {wrap_id.hex()} cannot decrypt", reason_code="keys.data_key")
    return key


def new_data_key(paths: KeyPaths, *, replace: bool = False) -> Path:
    """A new data key wrapped by a new wrapping key in the token, written to ``data.key``
    (0600). Without ``replace`` an existing file wins (the new one is not published)."""
    key_id, wrap_id, nonce = (secrets.token_bytes(n) for n in (KEY_ID_BYTES, 16, 12))
    data_key = secrets.token_bytes(32)
    with hsm.LOCK, hsm.open_session(paths.token, rw=True) as session:
        wrapping = _wrapping_key(session, wrap_id, create=True)
        wrapped = wrapping.encrypt(
            data_key,
            mechanism=Mechanism.AES_GCM,
            mechanism_param=GCMParams(nonce, _associated(key_id)),
        )
    document = {
        "format": FORMAT,
        "key_id": key_id.hex(),
        "wrapping_key": wrap_id.hex(),
        "nonce": nonce.hex(),
        "wrapped": bytes(wrapped).hex(),
    }
    target = data_key_file(paths)
    if replace:
        return write_private(target, json.dumps(document, indent=1) + "\n")
    staged = write_private(target.with_name(f".data.key.{key_id.hex()}"), json.dumps(document))
    try:
        os.link(staged, target)  # never over another process's data key
    except FileExistsError:
        pass
    finally:
        staged.unlink(missing_ok=True)
    return target


def ensure_data_key(paths: KeyPaths) -> Path:
    target = data_key_file(paths)
    return target if target.exists() else new_data_key(paths)


def unwrap(paths: KeyPaths) -> Sealer:
    """The data key of ``paths``, unwrapped by the token (uncached: see ``sealer_for``)."""
    target = ensure_data_key(paths)
    try:
        document = json.loads(target.read_text(encoding="utf-8"))
        if document.get("format") != FORMAT:
            raise ValueError(f"format {document.get('format')!r}")
        key_id, wrap_id, nonce, wrapped = (
            bytes.fromhex(document[name]) for name in ("key_id", "wrapping_key", "nonce", "wrapped")
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataKeyError(
            f"{target}: not a data key file ({exc})"[:200], reason_code="keys.data_key"
        ) from None
    with hsm.LOCK, hsm.open_session(paths.token) as session:
        wrapping = _wrapping_key(session, wrap_id, create=False)
        try:
            data_key = wrapping.decrypt(
                wrapped,
                mechanism=Mechanism.AES_GCM,
                mechanism_param=GCMParams(nonce, _associated(key_id)),
            )
        except pkcs11.PKCS11Error:
            raise DataKeyError(
                f"{target}: the token does not unwrap this data key (changed, or not its token)",
                reason_code="keys.data_key",
            ) from None
    return Sealer(key_id=key_id, key=bytes(data_key))


@functools.cache
def sealer_for(paths: KeyPaths) -> Sealer:
    """This process's sealer for the keys of ``paths``: the data key unwrapped once."""
    return unwrap(paths)


def forget() -> None:
    """Drop the unwrapped data keys of this process (after a forced ``keys init``)."""
    sealer_for.cache_clear()


def centre_sealer(settings: Settings) -> Sealer:
    """The sealer of the centre the settings name (its keys directory and token)."""
    from printers.keys import KeyPaths

    return sealer_for(KeyPaths.from_settings(settings))
