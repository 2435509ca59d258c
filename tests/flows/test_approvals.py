"""Maker-checker end to end: ``cardline stock adjust`` and ``cardline machine in`` wait in a
paused Prefect flow run for a second person, who answers with ``cardline approve`` or the
run's form in the UI.

Real parts: a Prefect server (``prefect_api``: its own PostgreSQL database, a free port),
the ``cardline`` executable in its own process for the maker and for the approver, and the
cardline database on SQLite or PostgreSQL. The second person's answer through the UI is the
HTTP call the UI's form makes (``POST /flow_runs/{id}/resume`` with the form's fields).
These tests run as one OS user: ``cardline approve`` is then always the maker (refused);
a second person is a name typed into the form, as the UI allows.
"""

from __future__ import annotations

import functools
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from line.approvals import Request, waiting
from line.audit import events
from line.db import make_engine, session_scope
from line.operators import os_user
from tests.flows.prefect_server import fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CARDLINE = str(Path(".venv/bin/cardline").resolve())
WAIT = 180  # seconds a process may take at most (a bound on a hang, not a timed assertion)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path, pg_admin: Engine) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'home' / 'cardline.db'}"
        return
    with fresh_database(pg_admin, "cardline_maker") as url:
        yield url


@pytest.fixture
def env(prefect_api: dict[str, str], tmp_path: Path, database: str) -> dict[str, str]:
    """The environment of every process of a test: the server, a home, its database
    (made, with a lot of 10 chips and print-01 out of service)."""
    env = {**prefect_api, "CARDLINE_HOME": str(tmp_path / "home"), "CARDLINE_DB_URL": database}
    cardline(env, "db", "upgrade")
    cardline(env, "stock", "receive", "--lot", "L1", "--supplier", "Chip Co", "--quantity",
             "10", "--first-uid", "04A00000000001")  # fmt: skip
    cardline(env, "machine", "out", "print-01", "--reason", "head worn")
    return env


def cardline(env: dict[str, str], *args: str, code: int = 0) -> str:
    """Run ``cardline -q ARGS``; it must exit with ``code``; its stdout and stderr."""
    done = subprocess.run(
        [CARDLINE, "-q", *args], env=env, capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode == code, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout + done.stderr


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """The maker's command, left running (it waits for the decision)."""
    return subprocess.Popen(
        [CARDLINE, "-q", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def finish(maker: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = maker.communicate(timeout=WAIT)
    return maker.returncode, out, err


@functools.cache
def _engine(url: str) -> Engine:
    return make_engine(url)


def engine_of(env: dict[str, str]) -> Engine:
    """One engine per database for the whole module: ``make_engine`` opens and closes the
    SQLite files, which drops the POSIX locks an earlier engine's open connection holds in
    this process (its reads then missed the other processes' commits)."""
    return _engine(env["CARDLINE_DB_URL"])


def waiting_request(env: dict[str, str], maker: subprocess.Popen[str]) -> Request:
    """The one request the maker's run recorded, once it has."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and maker.poll() is None:
        with session_scope(engine_of(env)) as session:
            found = waiting(session=session)
        if found:
            assert len(found) == 1
            return found[0]
        time.sleep(0.5)
    pytest.fail(f"no request recorded: {finish(maker)}")


def api(env: dict[str, str], method: str, path: str, body: object = None) -> dict[str, object]:
    request = urllib.request.Request(
        env["PREFECT_API_URL"] + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        found: dict[str, object] = json.loads(response.read())
    return found


def paused(env: dict[str, str], run_id: str) -> bool:
    """Whether the run is paused (it pauses just after recording its request)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        state = api(env, "GET", f"/flow_runs/{run_id}")["state"]
        assert isinstance(state, dict)
        if state["type"] == "PAUSED":
            return True
        time.sleep(0.5)
    return False


def fill_in_form(env: dict[str, str], run_id: str, approver: str, approve: bool) -> None:
    """What the run page's Resume form sends when submitted. Prefect's ``pause_flow_run``
    sets the run Paused a moment before it saves the form's schema; until then the server
    rejects the answer ("Run input schema not found"), as it would a person that quick."""
    answer = {"approver": approver, "approve": approve, "note": "counted twice"}
    deadline = time.monotonic() + 60
    while True:
        result = api(env, "POST", f"/flow_runs/{run_id}/resume", {"run_input": answer})
        reason = (result.get("details") or {}).get("reason", "")
        if result["status"] == "ACCEPT" or "schema not found" not in reason:
            break
        assert time.monotonic() < deadline, result
        time.sleep(0.5)
    assert result["status"] == "ACCEPT", result


def adjustments(env: dict[str, str]) -> list[tuple[int, str, str]]:
    with engine_of(env).connect() as connection:
        rows = connection.execute(
            sa.text("SELECT quantity, reason, actor FROM stock_movement WHERE kind='adjustment'")
        )
        return [(int(q), str(r), str(a)) for q, r, a in rows]


def audit(env: dict[str, str], run_id: str) -> list[tuple[str, str]]:
    with session_scope(engine_of(env)) as session:
        return [(e.kind, e.actor) for e in events(session=session, subject=run_id)]


ADJUST = ("stock", "adjust", "--lot", "L1", "--quantity", "-2", "--reason", "2 bodies cracked")


def test_an_adjustment_waits_and_the_makers_own_approval_books_nothing(
    env: dict[str, str],
) -> None:
    maker = start(env, *ADJUST)
    asked = waiting_request(env, maker)
    assert asked.maker == os_user() and asked.change.summary == "chip lot L1 -2 (2 bodies cracked)"
    assert paused(env, asked.run_id)
    listed = cardline(env, "approvals")
    assert asked.run_id in listed and "chip lot L1 -2" in listed and f"by {os_user()}" in listed

    # From another terminal, as the same OS user: refused at once; the change still waits.
    said = cardline(env, "approve", asked.run_id, code=1)
    assert f"{os_user()} made this change: a second person must approve it" in said
    assert "still waits" in said and paused(env, asked.run_id)

    # The maker's own name in the UI's form: the flow refuses it and books nothing.
    fill_in_form(env, asked.run_id, os_user(), approve=True)
    code, out, err = finish(maker)
    assert code == 1, (out, err)
    first = out.splitlines()[0]
    assert "waits for a second person's approval" in first and asked.run_id in first
    assert f"cardline approve {asked.run_id}" in first
    assert err.strip().endswith("a second person must approve it") and err.count("\n") == 1
    assert adjustments(env) == []
    assert audit(env, asked.run_id) == [
        ("approval.request", os_user()),
        ("approval.refused", os_user()),
    ]
    assert cardline(env, "approvals") == "no change waits for approval\n"
    cardline(env, "check")


def test_a_second_persons_approval_books_the_adjustment(env: dict[str, str]) -> None:
    maker = start(env, *ADJUST)
    asked = waiting_request(env, maker)
    assert paused(env, asked.run_id)
    assert adjustments(env) == []  # nothing booked while it waits
    fill_in_form(env, asked.run_id, "second-person", approve=True)
    code, out, err = finish(maker)
    assert (code, err) == (0, ""), out
    assert out.splitlines()[-1] == (
        "approved by second-person: lot L1: -2, now 8 on hand (8 available)"
    )
    assert adjustments(env) == [(-2, "2 bodies cracked", os_user())]
    assert audit(env, asked.run_id) == [
        ("approval.request", os_user()),
        ("approval.given", "second-person"),
    ]
    ledger = cardline(env, "stock", "ledger", "--lot", "L1")
    assert "adjustment" in ledger and "2 bodies cracked" in ledger
    assert "reconcile" in cardline(env, "check")


def test_a_refusal_books_nothing(env: dict[str, str]) -> None:
    maker = start(env, *ADJUST)
    asked = waiting_request(env, maker)
    assert paused(env, asked.run_id)
    said = cardline(env, "approve", asked.run_id, "--refuse", "--note", "count again")
    assert said == f"chip lot L1 -2 (2 bodies cracked): refused by {os_user()}\n"
    code, out, err = finish(maker)
    assert code == 1 and err.strip().endswith(f"refused by {os_user()}: count again"), (out, err)
    assert adjustments(env) == []
    assert audit(env, asked.run_id) == [
        ("approval.request", os_user()),
        ("approval.refused", os_user()),
    ]
    cardline(env, "check")


def test_a_machine_goes_back_in_service_only_with_a_second_persons_approval(
    env: dict[str, str],
) -> None:
    maker = start(env, "machine", "in", "print-01", "--note", "new head")
    asked = waiting_request(env, maker)
    assert asked.change.summary == "machine print-01 back in service (new head)"
    assert paused(env, asked.run_id)
    assert "still waits" in cardline(env, "approve", asked.run_id, code=1)
    assert "OUT OF SERVICE" in cardline(env, "machine", "list")
    fill_in_form(env, asked.run_id, "second-person", approve=True)
    code, out, err = finish(maker)
    assert (code, err) == (0, ""), out
    assert out.splitlines()[-1] == "approved by second-person: print-01: back in service"
    assert "in service" in cardline(env, "machine", "list")
    assert "OUT OF SERVICE" not in cardline(env, "machine", "list")

    # A machine in service has nothing to approve: one line, no flow run.
    said = cardline(env, "machine", "in", "print-01", code=1)
    assert said == "cardline: error: machine print-01 is in service already: nothing to approve\n"


def test_a_machine_put_back_refused_in_the_form_stays_out(env: dict[str, str]) -> None:
    maker = start(env, "machine", "in", "print-01")
    asked = waiting_request(env, maker)
    assert paused(env, asked.run_id)
    fill_in_form(env, asked.run_id, "second-person", approve=False)
    code, _, err = finish(maker)
    assert code == 1 and "refused by second-person: counted twice" in err
    assert "OUT OF SERVICE" in cardline(env, "machine", "list")


def test_nobody_deciding_in_time_changes_nothing(env: dict[str, str]) -> None:
    code, out, err = finish(start(env, *ADJUST, "--timeout", "3"))
    assert code == 1 and err.strip().endswith("nobody approved it within 3 s"), (out, err)
    assert adjustments(env) == []
    with session_scope(engine_of(env)) as session:
        assert waiting(session=session) == []
        assert [e.kind for e in events(session=session, kind="approval.expired")] == [
            "approval.expired"
        ]
