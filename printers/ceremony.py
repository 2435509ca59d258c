"""The key ceremony: ``keys init`` and ``keys rotate`` need two key custodians present.

Why this design (issue 15): the line must sign unattended, so the DS key's token stays
open to the line's workers through the token's user PIN; what one person must not do alone
is make a CSCA or certify a new DS. Both need the CSCA's private key, the offline CA file,
and that file is PKCS#8 encrypted (``cryptography``'s ``BestAvailableEncryption``: PBES2,
PBKDF2-HMAC-SHA256, AES-256-CBC) under a passphrase made of **two shares**, one held by
each custodian (a 2-of-2 split of knowledge: either share alone leaves the other's, at
least :data:`MIN_SHARE` characters, to guess). So:

- ``keys rotate`` opens the CA key with both shares *before* it touches the token: a
  wrong or missing share changes nothing, and a DS key made in the token without the CA
  (anyone with the user PIN could) has no certificate, so no chip would verify with it.
- ``keys init`` makes the new CSCA key and encrypts it under the two shares the
  custodians enter there (each prompted with its confirmation, or ``--share-file``: never
  from the command line's arguments, which other users can see).
- The two custodians are named, must differ and, once operators are enrolled (the
  ``operator`` table is not empty), each must hold the ``key_custodian`` role.
- Each ceremony writes one ``key.init`` / ``key.rotate`` audit row (both custodians, the
  new DS certificate's serial and SKI; no secret) in the session of the caller, which
  commits it.

Test and demo set-ups make a ceremony with two generated TEST shares, written owner-only
beside the offline CA key (``test-share-1``, ``test-share-2``): refused once operators are
enrolled (a centre in production).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from sqlmodel import Session, select

from line import audit
from line.files import write_private
from line.models import Operator
from line.operators import Role, roles_of
from printers import keys
from printers.errors import PrintersError
from printers.hsm import PinFile

MIN_SHARE = 16
TEST_CUSTODIANS = ("test-custodian-1", "test-custodian-2")
PREFIX = b"cardline.csca-2of2/1\n"


class CeremonyError(PrintersError):
    """A key ceremony refused before anything changed (``reason_code`` ``keys.ceremony``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason_code="keys.ceremony")


def passphrase(shares: Sequence[str]) -> bytes:
    """The offline CA key's passphrase from the two custodians' shares, whichever order
    they are entered in."""
    if len(shares) != 2:
        raise CeremonyError(f"a key ceremony takes two shares, {len(shares)} given")
    for number, share in enumerate(shares, 1):
        if len(share) < MIN_SHARE:
            raise CeremonyError(f"share {number}: shorter than {MIN_SHARE} characters")
    if shares[0] == shares[1]:
        raise CeremonyError("the two shares are the same: each custodian holds their own")
    return PREFIX + b"\n".join(f"{len(share)}:{share}".encode() for share in sorted(shares))


def read_share_file(path: Path) -> str:
    """A share in an owner-only file (one line), as a PIN file is read."""
    try:
        return PinFile(path).read()
    except PrintersError as exc:
        raise CeremonyError(exc.message.replace("PIN file", "share file")) from None


def check_custodians(*, session: Session, names: Sequence[str]) -> tuple[str, str]:
    """Two different custodians, each holding the key_custodian role once operators are
    enrolled; returns them in the order given."""
    cleaned = [name.strip() for name in names]
    if len(cleaned) != 2 or not all(cleaned):
        raise CeremonyError(
            f"a key ceremony needs two custodians (--custodian NAME twice), {len(cleaned)} given"
        )
    if cleaned[0] == cleaned[1]:
        raise CeremonyError(f"custodian {cleaned[0]!r} named twice: two different people")
    if _enrolled(session):
        for name in cleaned:
            if Role.KEY_CUSTODIAN not in roles_of(session=session, name=name):
                raise CeremonyError(f"custodian {name!r} does not hold the key_custodian role")
    return cleaned[0], cleaned[1]


def _enrolled(session: Session) -> bool:
    return session.exec(select(Operator).limit(1)).first() is not None


def _refuse_test_once_enrolled(session: Session, *, test: bool) -> None:
    if test and _enrolled(session):
        raise CeremonyError(
            "operators are enrolled: a ceremony needs two key custodians (--custodian NAME "
            "twice) and their shares; generated TEST shares are refused"
        )


def new_test_shares() -> tuple[str, str]:
    return secrets.token_urlsafe(24), secrets.token_urlsafe(24)


def test_share_files(paths: keys.KeyPaths) -> tuple[Path, Path]:
    folder = paths.csca_key.parent
    return folder / "test-share-1", folder / "test-share-2"


def write_test_shares(paths: keys.KeyPaths, shares: Sequence[str]) -> tuple[Path, Path]:
    files = test_share_files(paths)
    for path, share in zip(files, shares, strict=True):
        write_private(path, share + "\n")
    return files


def test_passphrase(paths: keys.KeyPaths) -> bytes:
    """The passphrase of the TEST shares kept beside the offline CA key."""
    files = test_share_files(paths)
    if not all(path.is_file() for path in files):
        raise CeremonyError(
            "no TEST shares kept beside the offline CA key: name two custodians "
            "(--custodian NAME twice) and enter their shares"
        )
    return passphrase([read_share_file(path) for path in files])


def _detail(custodians: tuple[str, str], ds: x509.Certificate, **more: object) -> dict[str, object]:
    ski = ds.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    return {
        "custodians": list(custodians),
        "ds_serial": f"{ds.serial_number:x}",
        "ds_ski": ski.hex(),
        **more,
    }


def init_ceremony(
    *,
    session: Session,
    paths: keys.KeyPaths,
    custodians: Sequence[str],
    shares: Sequence[str] | None,
    now: datetime,
    actor: str,
    overwrite: bool = False,
) -> keys.KeyPaths:
    """``keys init`` with two custodians: the CSCA key encrypted under their ``shares``
    (``None``: two generated TEST shares, written beside the offline CA key; refused once
    operators are enrolled). Records ``key.init`` in ``session`` (the caller commits)."""
    test = shares is None
    _refuse_test_once_enrolled(session, test=test)
    names = check_custodians(session=session, names=custodians)
    chosen = new_test_shares() if shares is None else tuple(shares)
    secret = passphrase(chosen)
    keys.init_keys(paths, now=now, passphrase=secret, overwrite=overwrite)
    if test:
        write_test_shares(paths, chosen)
    ds = keys.load_certificate(paths.ds_cert)
    csca = keys.load_certificate(paths.csca_cert)
    audit.record(
        session=session,
        kind="key.init",
        actor=actor,
        at=now,
        subject=f"ds:{ds.serial_number:x}",
        detail=_detail(names, ds, csca_serial=f"{csca.serial_number:x}", test_shares=test),
    )
    return paths


def rotate_ceremony(
    *,
    session: Session,
    paths: keys.KeyPaths,
    custodians: Sequence[str],
    shares: Sequence[str] | None,
    now: datetime,
    actor: str,
) -> x509.Certificate:
    """``keys rotate`` with two custodians and their shares (which must open the offline
    CA key: nothing changes otherwise; ``None``: the TEST shares ``init_ceremony`` kept,
    refused once operators are enrolled). Records ``key.rotate`` in ``session``."""
    test = shares is None
    _refuse_test_once_enrolled(session, test=test)
    names = check_custodians(session=session, names=custodians)
    secret = test_passphrase(paths) if shares is None else passphrase(shares)
    ds = keys.rotate_ds(paths, now=now, passphrase=secret)
    audit.record(
        session=session,
        kind="key.rotate",
        actor=actor,
        at=now,
        subject=f"ds:{ds.serial_number:x}",
        detail=_detail(names, ds, test_shares=test),
    )
    return ds
