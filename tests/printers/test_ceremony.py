"""The key ceremony (``printers.ceremony``): ``keys init`` and ``keys rotate`` need two
different custodians and both their shares; once operators are enrolled the custodians must
hold the key_custodian role; a refused ceremony changes no file, no token object and writes
no audit row; a done one writes one audit row naming both custodians and the new DS. Real
SoftHSM2 tokens under each test's directory, real SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy.engine import Engine
from sqlmodel import Session

from flows.cli import run
from line import audit
from line.models import Operator
from line.operators import Role
from printers import ceremony, keys
from printers.ceremony import CeremonyError

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
ALICE, BOB = "alice-share-0123456789", "bob-share-9876543210"


def snapshot(paths: keys.KeyPaths) -> dict[str, bytes]:
    """Every file of the keys directory (the token's objects included) and the offline CA."""
    found = {}
    for folder in (paths.directory, paths.csca_key.parent):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                found[str(path)] = path.read_bytes()
    return found


def made(tmp_path: Path, engine: Engine) -> keys.KeyPaths:
    paths = keys.KeyPaths.in_directory(tmp_path / "keys")
    with Session(engine) as session:
        ceremony.init_ceremony(
            session=session,
            paths=paths,
            custodians=["alice", "bob"],
            shares=[ALICE, BOB],
            now=NOW,
            actor="root",
        )
        session.commit()
    return paths


def ski(certificate: x509.Certificate) -> str:
    extension = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return extension.value.digest.hex()


def test_two_custodians_make_and_rotate_the_keys_and_each_ceremony_is_audited(
    tmp_path: Path, engine: Engine
) -> None:
    paths = made(tmp_path, engine)
    first = keys.load_certificate(paths.ds_cert)
    assert paths.csca_key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with Session(engine) as session:
        rotated = ceremony.rotate_ceremony(
            session=session,
            paths=paths,
            custodians=["bob", "alice"],
            shares=[BOB, ALICE],  # either order
            now=NOW + timedelta(days=30),
            actor="root",
        )
        session.commit()
    assert keys.load_certificate(paths.ds_cert) == rotated != first
    with Session(engine) as session:
        rows = audit.events(session=session)
    assert [(row.kind, row.actor, row.subject) for row in rows] == [
        ("key.init", "root", f"ds:{first.serial_number:x}"),
        ("key.rotate", "root", f"ds:{rotated.serial_number:x}"),
    ]
    init, rotate = (json.loads(row.detail) for row in rows)
    assert init["custodians"] == ["alice", "bob"] and rotate["custodians"] == ["bob", "alice"]
    assert (init["ds_ski"], rotate["ds_ski"]) == (ski(first), ski(rotated))
    assert rotate["ds_serial"] == f"{rotated.serial_number:x}" and not rotate["test_shares"]
    text = " ".join(row.detail for row in rows)
    assert ALICE not in text and BOB not in text, "no secret in the audit record"


@pytest.mark.parametrize(
    ("custodians", "shares", "error", "says"),
    [
        (["alice"], [ALICE, BOB], CeremonyError, "needs two custodians"),
        (["alice", "alice"], [ALICE, BOB], CeremonyError, "named twice"),
        (["alice", "bob"], [ALICE], CeremonyError, "two shares, 1 given"),
        (["alice", "bob"], [ALICE, ALICE], CeremonyError, "the two shares are the same"),
        (["alice", "bob"], [ALICE, "mallory-guess-0123456"], keys.KeyWrongShares, "wrong share"),
    ],
)
def test_a_refused_rotation_changes_nothing(
    tmp_path: Path,
    engine: Engine,
    custodians: list[str],
    shares: list[str],
    error: type[Exception],
    says: str,
) -> None:
    paths = made(tmp_path, engine)
    before = snapshot(paths)
    with Session(engine) as session, pytest.raises(error, match=says):
        ceremony.rotate_ceremony(
            session=session, paths=paths, custodians=custodians, shares=shares, now=NOW,
            actor="root",
        )  # fmt: skip
    assert snapshot(paths) == before, "no file and no token object changed"
    with Session(engine) as session:
        assert [row.kind for row in audit.events(session=session)] == ["key.init"]


def test_once_operators_are_enrolled_only_key_custodians_take_part(
    tmp_path: Path, engine: Engine
) -> None:
    paths = made(tmp_path, engine)
    with Session(engine) as session:
        for name, role in (("alice", Role.KEY_CUSTODIAN), ("bob", Role.OPERATOR)):
            session.add(Operator(name=name, role=role.value, added_by="root", added_at=NOW))
        session.commit()
    before = snapshot(paths)
    with Session(engine) as session:
        with pytest.raises(CeremonyError, match="'bob' does not hold the key_custodian role"):
            ceremony.rotate_ceremony(
                session=session, paths=paths, custodians=["alice", "bob"],
                shares=[ALICE, BOB], now=NOW, actor="root",
            )  # fmt: skip
        with pytest.raises(CeremonyError, match="TEST shares are refused"):
            ceremony.init_ceremony(
                session=session, paths=keys.KeyPaths.in_directory(tmp_path / "other"),
                custodians=ceremony.TEST_CUSTODIANS, shares=None, now=NOW, actor="root",
            )  # fmt: skip
    assert snapshot(paths) == before
    assert not (tmp_path / "other").exists()
    with Session(engine) as session:
        session.add(
            Operator(name="bob", role=Role.KEY_CUSTODIAN.value, added_by="root", added_at=NOW)
        )
        ceremony.rotate_ceremony(
            session=session, paths=paths, custodians=["alice", "bob"],
            shares=[ALICE, BOB], now=NOW, actor="root",
        )  # fmt: skip
        session.commit()
        assert [row.kind for row in audit.events(session=session)] == ["key.init", "key.rotate"]


def test_the_command_line_takes_each_share_from_its_own_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``keys init`` with no custodian is the TEST ceremony (said in the output); ``keys
    rotate`` with both custodians reads their shares from two owner-only files."""
    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    assert run(["-q", "db", "upgrade"]) == 0
    assert run(["-q", "keys", "init"]) == 0
    out = capsys.readouterr().out
    assert "TEST shares generated" in out and "test-custodian-1 and test-custodian-2" in out
    paths = keys.KeyPaths.in_directory(tmp_path / "home" / "keys")
    first, second = ceremony.test_share_files(paths)
    wrong = tmp_path / "wrong.share"
    wrong.write_text("not-the-share-of-anyone\n")
    wrong.chmod(0o600)
    before = snapshot(paths)
    command = ["-q", "keys", "rotate", "--custodian", "carol", "--custodian", "dave"]
    assert run([*command, "--share-file", str(first), "--share-file", str(wrong)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "do not open the offline CA key" in err
    assert snapshot(paths) == before
    assert run([*command, "--share-file", str(first)]) != 0, "one share file for two custodians"
    capsys.readouterr()
    assert run([*command, "--share-file", str(second), "--share-file", str(first)]) == 0
    assert "custodians carol and dave" in capsys.readouterr().out


def test_the_shares_are_typed_at_a_prompt_never_given_as_arguments(tmp_path: Path) -> None:
    """The installed command, its shares on standard input (no terminal: getpass reads
    the pipe): init asks each custodian twice; a mistyped share at rotate is refused in one
    line and changes nothing."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CARDLINE_HOME": str(tmp_path / "home")}
    env.pop("CARDLINE_DB_URL", None)
    cardline = str(Path(sys.executable).parent / "cardline")

    def command(*args: str, typed: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cardline, "-q", *args], env=env, input="".join(f"{t}\n" for t in typed),
            capture_output=True, text=True, timeout=120, start_new_session=True,
        )  # fmt: skip

    assert command("db", "upgrade", typed=[]).returncode == 0
    who = ["--custodian", "alice", "--custodian", "bob"]
    done = command("keys", "init", *who, typed=[ALICE, ALICE, BOB, BOB])
    assert done.returncode == 0, done.stderr
    assert "encrypted under the shares of alice and bob" in done.stdout
    assert ALICE not in done.stdout + done.stderr, "a share is never echoed"
    paths = keys.KeyPaths.in_directory(tmp_path / "home" / "keys")
    assert not any(path.exists() for path in ceremony.test_share_files(paths))
    before = snapshot(paths)
    refused = command("keys", "rotate", *who, typed=[ALICE, "bob-mistyped-9876543210"])
    assert refused.returncode == 1
    errors = [line for line in refused.stderr.splitlines() if line.startswith("cardline:")]
    assert errors == [
        f"cardline: error: {paths.csca_key}: the custodians' shares do not open the offline "
        "CA key (a wrong share?)"
    ]
    assert snapshot(paths) == before
    assert command("keys", "rotate", *who, typed=[ALICE, BOB]).returncode == 0
