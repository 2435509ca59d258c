"""No user input makes a traceback: every command, fed hostile arguments, says one line.

``HOSTILE`` has a row for every command of the Typer app (a new command without one fails
``test_every_command_has_hostile_arguments``): overlong numbers, empty strings, unknown
codes, unsupported database URLs, bad files, bad environment variables. Each case runs in
process through ``flows.cli.run`` (the installed entry point's body) against a home with
data in it, on SQLite and on PostgreSQL, and must exit 1 (the command could not do it) or 2
(the command line is wrong) with exactly one non-empty line on stderr and no traceback.
A few run through the real ``cardline`` executable as well, including bytes that are not
UTF-8, which only a real process can be given.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer.main
from sqlalchemy.engine import Engine

from flows.cli import app, run
from line.synthetic import write_csv
from tests.conftest import PG_URL
from tests.factories import good_rows, photo_file

CARDLINE = Path(sys.executable).parent / "cardline"

BIG = "9" * 23  # beyond int64: SQLite's OverflowError once
OVER_INT32 = "99999999999"  # 11 digits: PostgreSQL's NumericValueOutOfRange once
LONG = "L" * 300  # beyond every VARCHAR of the schema
TWO = ("--custodian", "alice", "--custodian", "bob")  # a key ceremony's custodians
RUN_ID = "6f1c1a52-0000-4000-8000-000000000001"  # a flow run id no change waits under


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    def id(self) -> str:
        where = ",".join(f"{k}={v[:20]}" for k, v in self.env.items())
        text = " ".join(arg if len(arg) <= 24 else arg[:20] + "..." for arg in self.args)
        return f"{text} [{where}]" if where else text


def case(*args: str, **env: str) -> Case:
    return Case(tuple(args), env)


BAD_URLS = [
    "mysql://user@localhost/cardline",  # a database cardline does not run on
    "postgresql://postgres@127.0.0.1/test",  # psycopg2, the default driver: not installed
    "postgresql+asyncpg://postgres@127.0.0.1/test",  # an asyncio driver
    "not a url",
    "sqlite:////nonexistent/dir/cardline.db",
]


def bad_urls(*args: str) -> list[Case]:
    return [case(*args, CARDLINE_DB_URL=url) for url in BAD_URLS]


RECEIVE = ("stock", "receive", "--lot", "L9", "--supplier", "S")
EXPECT = ("stock", "expect", "--order", "P1", "--supplier", "S")

# Arguments in braces ("{bomb}", "{free_port}"...) are files and values of the home the
# cases run against (``_files``).

HOSTILE: dict[tuple[str, ...], list[Case]] = {
    ("db", "upgrade"): [*bad_urls("db", "upgrade"), case("db", "upgrade", "extra")],
    ("db", "current"): bad_urls("db", "current"),
    # valid arguments would make cluster-wide roles on PostgreSQL: only refused ones here
    ("db", "roles"): [
        case("db", "roles", "--prefix", "Bad-Prefix"),
        case("db", "roles", "--prefix", ""),
        case("db", "roles", "--prefix", LONG),
        *bad_urls("db", "roles"),
    ],
    ("operator", "add"): [
        case("operator", "add", "bob", "--role", "operator"),  # the first must be a supervisor
        case("operator", "add", "Bad Name", "--role", "supervisor"),
        case("operator", "add", "", "--role", "supervisor"),
        case("operator", "add", LONG, "--role", "supervisor"),
        case("operator", "add", "bob", "--role", "king"),
        case("operator", "add", "bob"),
        case("operator", "add"),
        *bad_urls("operator", "add", "bob", "--role", "supervisor"),
    ],
    ("operator", "remove"): [
        case("operator", "remove", "nobody"),
        case("operator", "remove", "nobody", "--role", "king"),
        case("operator", "remove", LONG),
        case("operator", "remove"),
    ],
    ("operator", "list"): [*bad_urls("operator", "list"), case("operator", "list", "extra")],
    ("intake",): [
        case("intake", ""),
        case("intake", "/nonexistent/applications.csv"),
        case("intake", "{dir}"),
        case("intake", "{binary}"),
        case("intake", "{semicolon}"),
        case("intake", "{tabs}", "--format", "csv"),
        case("intake", "{bomb}"),
        case("intake", "{semicolon}", "--format", "xml"),
        case("intake", "{semicolon}", "--batch-size", "0"),
        case("intake", "{semicolon}", "--batch-size", BIG),
        case("intake", "{good}", "--rejects", "/nonexistent/dir/rejects.csv"),
        case("intake", "{good}", "--rejects", "{dir}"),
        *bad_urls("intake", "{good}"),
    ],
    ("status",): [
        *bad_urls("status"),
        case("status", CARDLINE_SEED="abc"),
        case("status", CARDLINE_LOG_LEVEL="chatty"),
        case("status", CARDLINE_HOME="/dev/null"),
        case("status", CARDLINE_STATION="two words"),
        case("status", CARDLINE_RENDER_PROCESSES="99"),
        case("status", "--bogus"),
    ],
    ("card", "show"): [
        case("card", "show", OVER_INT32),
        case("card", "show", BIG),
        case("card", "show", "9" * 400),
        case("card", "show", ""),
        case("card", "show", "-1"),
        case("card", "show", "²"),  # a digit to str.isdigit, not to int()
        case("card", "show", "١٢٣"),  # Arabic-Indic digits: int() reads them
        case("card", "show", "0x1F"),
        case("card", "show"),
        *bad_urls("card", "show", "1"),
    ],
    ("card", "export"): [
        case("card", "export", BIG, "--out", "{tmp}/export"),
        case("card", "export", OVER_INT32, "--out", "{tmp}/export"),
        case("card", "export", "", "--out", "{tmp}/export"),
        case("card", "export", "1", "--out", "/nonexistent/dir/export"),
        case("card", "export", "1", "--out", "{binary}"),
        case("card", "export", "1"),
    ],
    ("card", "return"): [
        case("card", "return", "", "--reason", "delivery.damaged"),
        case("card", "return", LONG, "--reason", "delivery.damaged"),
        case("card", "return", "C0000000001-1", "--reason", ""),
        case("card", "return", "C0000000001-1", "--reason", "no.such.code"),
        case("card", "return", "C0000000001-1"),
    ],
    ("card", "release"): [
        case("card", "release", BIG, "--reason", "manager.released"),
        case("card", "release", "", "--reason", "manager.released"),
        case("card", "release", "1", "--reason", ""),
        case("card", "release", "1", "--reason", "no.such.code"),
    ],
    ("card", "cancel"): [
        case("card", "cancel", OVER_INT32, "--reason", "manager.cancelled"),
        case("card", "cancel", ""),
        case("card", "cancel", "1", "--reason", "no.such.code"),
    ],
    ("run",): [
        case("run", "--batch-size", "0"),
        case("run", "--batch-size", BIG),
        case("run", "--limit", "0"),
        case("run", "--limit", BIG),
        case("run", "--resume-after", "-1"),
        case("run", "--resume-after", BIG),
        case("run", "--wait", "nan"),
        case("run", "--wait", "1e300"),
        case("run", "--without-prefect", CARDLINE_LINE_SPEC="{bomb}"),
        *bad_urls("run", "--without-prefect"),
    ],
    ("machine", "list"): [*bad_urls("machine", "list"), case("machine", "list", "extra")],
    ("machine", "out"): [
        case("machine", "out", "", "--reason", "worn"),
        case("machine", "out", LONG, "--reason", "worn"),
        case("machine", "out", "print 02", "--reason", "worn"),
        case("machine", "out", "print-02", "--reason", ""),
        case("machine", "out", "print-02", "--reason", "worn", "--stage", "paint"),
        case("machine", "out", "laminator-1", "--reason", "worn"),  # new, no stage in its name
        case("machine", "out", "print-02"),
        *bad_urls("machine", "out", "print-02", "--reason", "worn"),
    ],
    ("machine", "in"): [
        case("machine", "in", ""),
        case("machine", "in", LONG),
        case("machine", "in", "never-seen-99"),
    ],
    ("station", "load"): [
        case("station", "load", ""),
        case("station", "load", "/nonexistent/stations.csv"),
        case("station", "load", "/"),  # a directory
        case("station", "load", "/bin/sh"),  # not UTF-8 text
        case("station", "load", LONG),
        case("station", "load"),
    ],
    ("station", "list"): [case("station", "list", "extra")],
    ("dispatch",): [
        case("dispatch", "--max-cards", "0"),
        case("dispatch", "--max-cards", BIG),
        *bad_urls("dispatch"),
    ],
    ("deliver",): [
        case("deliver", ""),
        case("deliver", "NOPE"),
        case("deliver", LONG),
        case("deliver", "{delivered}"),  # twice: "already delivered on DATE"
        case("deliver"),
    ],
    ("keys", "init"): [
        case("keys", "init"),  # the home has keys: refused without --force
        case("keys", "init", CARDLINE_KEYS_DIR="/dev/null/keys"),
        case("keys", "init", CARDLINE_KEYS_DIR="{binary}"),
        case("keys", "init", "--custodian", "alice", "--custodian", "alice"),  # one person
        case("keys", "init", "--custodian", "alice"),
    ],
    ("keys", "rotate"): [
        case("keys", "rotate", CARDLINE_KEYS_DIR="/nonexistent/keys"),
        case("keys", "rotate", CARDLINE_KEYS_DIR="{badkeys}"),
        case("keys", "rotate", CARDLINE_CSCA_KEY_FILE="{binary}"),
        case("keys", "rotate", CARDLINE_PKCS11_MODULE="{binary}"),  # no PIN file named
        case("keys", "rotate", "--custodian", "alice"),
        case("keys", "rotate", *TWO, "--share-file", "{binary}", "--share-file", "/nonexistent"),
        case("keys", "rotate", *TWO, "--share-file", "{binary}"),  # one file for two people
    ],
    ("keys", "show"): [
        case("keys", "show", CARDLINE_KEYS_DIR="/nonexistent/keys"),
        case("keys", "show", CARDLINE_KEYS_DIR="{badkeys}"),
        case("keys", "show", CARDLINE_KEYS_DIR="{binary}"),
    ],
    ("chip", "serve"): [
        case("chip", "serve", "--port", "0"),
        case("chip", "serve", "--port", "70000"),
        case("chip", "serve", "--first-uid", "zz"),
        case("chip", "serve", "--first-uid", ""),
        case("chip", "serve", "--first-uid", "0011"),  # 2 bytes: too short for a UID
        case("chip", "serve", "--first-uid", "FFFFFFFF", "--count", "2"),  # overflows 4 bytes
        case("chip", "serve", "--count", "0"),
        case("chip", "serve", "--count", BIG),
        case("chip", "serve", "--defect-rate", "nan"),
        case("chip", "serve", "--defect-rate", "2"),
        case("chip", "serve", "--wait-seconds", "nan"),
        case("chip", "serve", "--port", "{free_port}", "--wait-seconds", "0.3"),  # no vpcd
        case("chip", "serve", "--host", "no-such-host.invalid", "--wait-seconds", "0"),
        case("chip", "serve", "--host", "h" * 300, "--port", "{free_port}", "--wait-seconds", "0"),
        case("chip", "serve", "--lot", "-x", "--port", "{free_port}", "--wait-seconds", "0"),
    ],
    ("stock", "receive"): [
        case(*RECEIVE, "--quantity", OVER_INT32, "--first-uid", "04E00000000001"),
        case(*RECEIVE, "--quantity", BIG, "--item", "ribbon"),
        case(*RECEIVE, "--quantity", "0", "--first-uid", "04E00000000001"),
        case(*RECEIVE, "--quantity", "5", "--first-uid", "zz"),
        case(*RECEIVE, "--quantity", "5", "--first-uid", "04E00000000001", "--defect-rate", "nan"),
        case(*RECEIVE, "--quantity", "5", "--first-uid", "04E00000000001", "--order", "NOPE"),
        case(*RECEIVE, "--quantity", "5", "--item", "unobtainium"),
        case("stock", "receive", "--lot", LONG, "--supplier", "S", "--quantity", "5"),
        case("stock", "receive", "--lot", "", "--supplier", "S", "--quantity", "5"),
        # a lot number received already
        case(
            "stock",
            "receive",
            "--lot",
            "L1",
            "--supplier",
            "S",
            "--quantity",
            "5",
            "--first-uid",
            "04F00000000001",
        ),  # fmt: skip
        case("stock", "receive", "--lot", "L9"),
    ],
    ("stock", "adjust"): [
        case("stock", "adjust", "--lot", "NOPE", "--quantity", "1", "--reason", "count"),
        case("stock", "adjust", "--lot", "L1", "--quantity", BIG, "--reason", "count"),
        case("stock", "adjust", "--lot", "L1", "--quantity", "-" + BIG, "--reason", "count"),
        case("stock", "adjust", "--lot", "L1", "--quantity", "1", "--reason", ""),
    ],
    ("stock", "expect"): [
        case(*EXPECT, "--quantity", OVER_INT32, "--date", "{next_month}"),
        case(*EXPECT, "--quantity", "5", "--date", "2021-13-40"),
        case(*EXPECT, "--quantity", "5", "--date", ""),
        case(*EXPECT, "--quantity", "5", "--date", "２０２７-０１-０１"),  # full-width digits
        case(*EXPECT, "--quantity", "5", "--date", "9999-12-31"),
        case(
            "stock",
            "expect",
            "--order",
            LONG,
            "--supplier",
            "S",
            "--quantity",
            "5",
            "--date",
            "{next_month}",
        ),  # fmt: skip
    ],
    ("stock", "delay"): [
        case("stock", "delay", "--order", "NOPE", "--to", "{next_month}", "--reason", "late"),
        case("stock", "delay", "--order", "NOPE", "--to", "soon", "--reason", "late"),
    ],
    ("stock", "split"): [
        case("stock", "split", "--order", "NOPE", "--quantity", "1", "--date", "{next_month}"),
        case("stock", "split", "--order", "NOPE", "--quantity", BIG, "--date", "{next_month}"),
    ],
    ("stock", "status"): [*bad_urls("stock", "status"), case("stock", "status", "extra")],
    ("stock", "ledger"): [
        case("stock", "ledger", "--lot", "NOPE"),
        case("stock", "ledger", "--lot", ""),
        case("stock", "ledger", "--lot", LONG),
        case("stock", "ledger", "--limit", "0"),
        case("stock", "ledger", "--limit", BIG),
    ],
    ("check",): [*bad_urls("check"), case("check", CARDLINE_SEED="")],
    ("reconcile",): [
        *bad_urls("reconcile"),
        case("reconcile", "--day", "soon"),
        case("reconcile", "--day", "0001-01-01"),
        case("reconcile", "--from", "9999-12-30", "--to", "9999-12-31"),
        case("reconcile", "--from", "0001-01-01", "--to", "9999-12-31"),
        case("reconcile", "--to", "2026-11-01"),
        case("reconcile", "--pdf", "{dir}"),
        case("reconcile", "--pdf", "/nonexistent/dir/r.pdf"),
    ],
    ("purge",): [
        *bad_urls("purge"),
        case("purge", "--delivered-before", "2026-13-01"),
        case("purge", "--delivered-before", ""),
        case("purge", "--delivered-before", LONG),
        case("purge", "--delivered-before", "٢٠٢٦-٠١-٠١"),
        case("purge", "--dry-run", CARDLINE_LINE_SPEC="{bomb}"),
        case("purge", CARDLINE_LINE_SPEC="{scalar}"),
    ],
    ("approve",): [
        case("approve"),
        case("approve", "not-a-run-id"),
        case("approve", RUN_ID),  # nothing waits under it: one line, before Prefect starts
        case("approve", RUN_ID, "--refuse", "--note", "N" * 600),
        *bad_urls("approve", RUN_ID),
    ],
    ("approvals",): [case("approvals", "extra"), *bad_urls("approvals")],
    ("spec", "show"): [
        case("spec", "show", CARDLINE_LINE_SPEC="{bomb}"),
        case("spec", "show", CARDLINE_LINE_SPEC="/nonexistent/line.yaml"),
        case("spec", "show", CARDLINE_LINE_SPEC="{dir}"),
        case("spec", "show", CARDLINE_LINE_SPEC="{binary}"),
    ],
    ("spec", "check"): [
        case("spec", "check", "{bomb}"),
        case("spec", "check", "{deep}"),
        case("spec", "check", "{big}"),
        case("spec", "check", "{binary}"),
        case("spec", "check", "{scalar}"),
        case("spec", "check", "{dir}"),
        case("spec", "check", ""),
        case("spec", "check", "/nonexistent/line.yaml"),
        case("spec", "check"),
    ],
    # Arguments the demo accepts start the whole line as flows: only refused ones here.
    ("demo",): [
        case("demo", "--count", "0"),
        case("demo", "--count", BIG),
        case("demo", "--count", "many"),
        case("demo", "--seed", "x"),
    ],
    ("simulate",): [
        case("simulate"),
        case("simulate", "no-such-scenario"),
        case("simulate", ""),
        case("simulate", "{bomb}"),
        case("simulate", "{deep}"),
        case("simulate", "{binary}"),
        case("simulate", "{scalar}"),
        case("simulate", "{dir}"),
        case("simulate", "{bomb}", "-n", "0"),
        case("simulate", "{bomb}", "--seed", "-1"),
        case("simulate", "{bomb}", "--mode", "exact"),
        case("simulate", "{bomb}", "--out", "/nonexistent/dir/plan.pdf"),
        case("simulate", "{bomb}", "--out", "{dir}"),
        case("simulate", "{scalar}", "--precision", "0"),
        case("simulate", "{scalar}", "--warmup", "nan"),
        case("simulate", "{scalar}", "--max-replications", BIG),
        case("simulate", "--backtest"),
        case("simulate", "--calibrate"),
    ],
    ("calibrate",): [
        case("calibrate", "--since", "2026-13-40"),
        case("calibrate", "--since", "2026-02-01", "--until", "2026-01-01"),
        case("calibrate", "--spec-out", "/nonexistent/dir/line.yaml"),
        case("calibrate", "-n", "0"),
        case("calibrate", "extra"),
    ],
    ("plan",): [
        case("plan"),
        case("plan", "no-such-scenario", "--vary", "line.stages.qc.machines=1..2"),
        case("plan", "{bomb}", "--vary", "line.stages.qc.machines=1..2"),
        case("plan", "{binary}", "--vary", "line.stages.qc.machines=1..2"),
        case("plan", "{bomb}", "--vary", "line.stages.qc.machines=1..2", "--mode", "exact"),
        case("plan", "{bomb}", "--vary", "x=1..2", "--out", "/nonexistent/dir/plan.pdf"),
        case("plan", "{bomb}"),
    ],
}
"""Hostile arguments of every command (a row per command path of the Typer app)."""

GLOBAL = [
    case("--bogus"),
    case("no-such-command"),
    case("card", "no-such-command"),
    case("card"),  # a bare group: its help on stdout, one line on stderr
    case("card", "show", "\udcff\udcfe"),  # bytes that are not UTF-8, as Python passes them
]


def commands(command: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path of the Typer app (``("stock", "receive")``, ``("run",)``...)."""
    command = typer.main.get_command(app) if command is None else command
    children = getattr(command, "commands", None)
    if children is None:
        yield path
        return
    for name, child in sorted(children.items()):
        yield from commands(child, (*path, name))


def test_every_command_has_hostile_arguments() -> None:
    assert set(commands()) == set(HOSTILE), "add a row to HOSTILE for each new command"
    assert all(HOSTILE.values())


# --- the homes the cases run against ---------------------------------------------------------


def _files(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level, name in enumerate("bcdefgh"):
        previous = "abcdefgh"[level]
        bomb.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
    bomb.append("stages: *h")  # 9**8 values in 700 bytes
    (folder / "bomb.yaml").write_text("\n".join(bomb) + "\n", encoding="utf-8")
    (folder / "deep.yaml").write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    (folder / "big.yaml").write_text("# " + "x" * (2 << 20), encoding="utf-8")
    (folder / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (folder / "scalar.yaml").write_text("42\n", encoding="utf-8")
    header = "id_number;full_name;date_of_birth;sex;nationality;place_of_origin;"
    header += "place_of_residence;photo;destination"
    (folder / "semicolon.csv").write_text(header + "\n", encoding="utf-8")
    (folder / "tabs.csv").write_text(header.replace(";", "\t") + "\n", encoding="utf-8")
    (folder / "a-dir").mkdir(exist_ok=True)
    (folder / "badkeys").mkdir(exist_ok=True)
    for name in ("csca.pem", "ds.pem", "ds.key"):
        (folder / "badkeys" / name).write_text("not a PEM file\n", encoding="utf-8")
    photo_file(folder / "photos", "a.jpg")
    photo_file(folder / "photos", "b.png")
    write_csv(folder / "good.csv", good_rows(3, seed=99))
    with socket.socket() as s:  # a port nobody listens on (never vpcd's 35963)
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    from datetime import date, timedelta

    return {
        "{bomb}": str(folder / "bomb.yaml"),
        "{deep}": str(folder / "deep.yaml"),
        "{big}": str(folder / "big.yaml"),
        "{binary}": str(folder / "binary.bin"),
        "{scalar}": str(folder / "scalar.yaml"),
        "{semicolon}": str(folder / "semicolon.csv"),
        "{tabs}": str(folder / "tabs.csv"),
        "{dir}": str(folder / "a-dir"),
        "{badkeys}": str(folder / "badkeys"),
        "{good}": str(folder / "good.csv"),
        "{tmp}": str(folder),
        "{free_port}": str(free_port),
        "{next_month}": (date.today() + timedelta(days=30)).isoformat(),
    }


@dataclass
class Home:
    """A cardline home with data in it (applications, keys, stock, cards through the line,
    a delivered batch), and the environment that points the CLI at it."""

    env: dict[str, str]
    files: dict[str, str]

    def argv(self, c: Case) -> list[str]:
        return [self.fill(arg) for arg in c.args]

    def fill(self, text: str) -> str:
        for key, value in self.files.items():
            text = text.replace(key, value)
        return text


def _prepare(folder: Path, db_url: str | None) -> Home:
    env = {"CARDLINE_HOME": str(folder / "home")}
    if db_url is not None:
        env["CARDLINE_DB_URL"] = db_url
    files = _files(folder / "files")
    with pytest.MonkeyPatch.context() as mp:
        _set_env(mp, env)
        photo_file(folder / "in" / "photos", "a.jpg")
        photo_file(folder / "in" / "photos", "b.png")
        write_csv(folder / "in" / "batch.csv", good_rows(4))
        lot = ["--lot", "L1", "--supplier", "Chip Co", "--quantity", "10"]
        for args in (
            ["db", "upgrade"],
            ["intake", str(folder / "in" / "batch.csv")],
            ["keys", "init"],
            ["stock", "receive", *lot, "--first-uid", "04D00000000001"],
            ["run", "--without-prefect"],
        ):
            assert run(["-q", *args]) == 0, args
        import io
        from contextlib import redirect_stdout

        out = io.StringIO()
        with redirect_stdout(out):
            assert run(["-q", "dispatch", "--max-cards", "1", "--json"]) == 0
        code = json.loads(out.getvalue())[0]["code"]
        assert run(["-q", "deliver", code]) == 0
    files["{delivered}"] = code
    return Home(env=env, files=files)


def _set_env(mp: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in [n for n in os.environ if n.startswith("CARDLINE_")]:
        mp.delenv(name)
    for name, value in env.items():
        mp.setenv(name, value)


@pytest.fixture(scope="module")
def sqlite_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    return _prepare(tmp_path_factory.mktemp("hostile-sqlite"), None)


@pytest.fixture(scope="module")
def pg_home(tmp_path_factory: pytest.TempPathFactory, pg_admin: Engine) -> Iterator[Home]:
    schema = f"cardline_hostile_{uuid.uuid4().hex[:12]}"
    with pg_admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        yield _prepare(tmp_path_factory.mktemp("hostile-pg"), url)
    finally:
        with pg_admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home(request: pytest.FixtureRequest) -> Home:
    fixture = "sqlite_home" if request.param == "sqlite" else "pg_home"
    prepared: Home = request.getfixturevalue(fixture)
    return prepared


# --- the cases --------------------------------------------------------------------------------

CASES = [c for cases in HOSTILE.values() for c in cases] + GLOBAL


def one_line(code: int, err: str) -> None:
    assert code in (1, 2), (code, err)
    assert "Traceback" not in err, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("cardline: error: ") and err.strip() != "cardline: error:", err
    assert len(err) <= 1100, f"{len(err)} characters"


@pytest.mark.parametrize("hostile", CASES, ids=[c.id() for c in CASES])
def test_hostile_arguments_get_one_line_and_exit_1_or_2(
    hostile: Case, home: Home, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _set_env(monkeypatch, {**home.env, **{k: home.fill(v) for k, v in hostile.env.items()}})
    code = run(home.argv(hostile))
    out, err = capsys.readouterr()
    one_line(code, err)
    assert "Traceback" not in out


# Through the real executable: what a user's shell runs, bytes included.
REAL = [
    case("card", "show", BIG),
    case("card", "show", OVER_INT32),
    case("status", CARDLINE_DB_URL="mysql://user@localhost/cardline"),
    case("spec", "check", "{bomb}"),
    case("stock", "ledger", "--lot", "NOPE"),
    case("chip", "serve", "--port", "{free_port}", "--wait-seconds", "0.3"),
    case("machine", "out", "print 02", "--reason", "worn"),
]


@pytest.mark.parametrize("hostile", REAL, ids=[c.id() for c in REAL])
def test_the_installed_command_says_one_line_too(hostile: Case, home: Home) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDLINE_")}
    env.update(home.env)
    env.update({k: home.fill(v) for k, v in hostile.env.items()})
    done = subprocess.run(
        [str(CARDLINE), *home.argv(hostile)], env=env, capture_output=True, text=True, timeout=120
    )
    one_line(done.returncode, done.stderr)


def test_bytes_that_are_not_utf8_are_one_line(home: Home) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDLINE_")}
    env.update(home.env)
    for argv in (
        [b"card", b"show", b"\xff\xfe"],
        [b"machine", b"out", b"print-\xff", b"--reason", b"worn"],
        [b"stock", b"ledger", b"--lot", b"\xc3\x28"],
    ):
        done = subprocess.run(
            [os.fsencode(CARDLINE), *argv], env=env, capture_output=True, timeout=120
        )
        one_line(done.returncode, done.stderr.decode("utf-8", "replace"))
        assert b"not UTF-8" in done.stderr
