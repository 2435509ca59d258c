"""Two runs, one station: ``cardline run --without-prefect`` holds its machines' lease.

Real parts: the installed ``cardline`` command as separate processes on one PostgreSQL
database (a database of its own, on the server this machine runs), the virtual devices,
the stock ledger. To keep the first run in the middle of its work while the others try, the
test holds ``LOCK TABLE application IN EXCLUSIVE MODE``: the run takes its lease, then
waits for the lock where it picks its first batch, as a run waits on a busy database.
The in-process tests use a SQLite home.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from flows.cli import run
from line.leases import Worker
from line.operators import os_user
from tests.flows.homes import ready_home
from tests.flows.prefect_server import clean_environ, fresh_database, stop
from tests.line.helpers import STATION, THIEF, TakenDuringPrint

CARDLINE = str(Path(sys.executable).parent / "cardline")


def cards(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        found = connection.execute(sa.text("SELECT state, count(*) FROM card GROUP BY state"))
        return {state: int(n) for state, n in found}


def until(what: str, condition: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


@pytest.fixture
def pg_home(
    tmp_path: Path, pg_admin: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str]]:
    with fresh_database(pg_admin, "cardline_leases") as url:
        home = tmp_path / "home"
        monkeypatch.setenv("CARDLINE_HOME", str(home))
        monkeypatch.setenv("CARDLINE_DB_URL", url)
        yield home, url


@pytest.mark.postgres
@pytest.mark.slow
def test_two_cardline_runs_on_one_database_one_drives_the_other_says_who(
    pg_home: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, url = pg_home
    ready_home(tmp_path, applications=4, chips=10)
    capsys.readouterr()
    env = {**clean_environ(), "CARDLINE_HOME": str(home), "CARDLINE_DB_URL": url}
    engine = sa.create_engine(url)
    started: list[subprocess.Popen[bytes]] = []

    def cardline(name: str, *args: str, quiet: bool = True) -> subprocess.Popen[bytes]:
        out, err = (tmp_path / f"{name}.out").open("wb"), (tmp_path / f"{name}.err").open("wb")
        options = ["-q"] if quiet else []
        with out, err:
            process = subprocess.Popen(
                [CARDLINE, *options, "run", "--without-prefect", "--batch-size", "2", *args],
                env=env, stdout=out, stderr=err, start_new_session=True,
            )  # fmt: skip
        started.append(process)
        return process

    def text(name: str, stream: str) -> str:
        return (tmp_path / f"{name}.{stream}").read_text()

    def holder() -> tuple[str | None, int | None]:
        with engine.connect() as connection:
            found = connection.execute(
                sa.text("SELECT DISTINCT holder, pid FROM machine_lease WHERE token IS NOT NULL")
            ).all()
        return (found[0][0], found[0][1]) if len(found) == 1 else (None, None)

    blocker = engine.connect()
    try:
        blocker.begin()
        blocker.execute(sa.text("LOCK TABLE application IN EXCLUSIVE MODE"))
        first = cardline("first")
        until("the first run holds the machines", lambda: holder()[1] == first.pid)
        actor = holder()[0]
        assert actor == Worker(socket.gethostname(), first.pid, None).actor(os_user(), "HN1")

        second = cardline("second")
        assert second.wait(timeout=120) == 1
        err = text("second", "err")
        assert err.count("\n") == 1 and err.startswith(
            f"cardline: error: machines busy: encode-01, print-01, qc-01 held by {actor} since "
        ), err
        assert "(cardline run --wait SECONDS)" in err

        third = cardline("third", "--wait", "600", quiet=False)  # it says it waits
        until(
            "the third run waits",
            lambda: "lease.waiting" in text("third", "err") or third.poll() is not None,
        )
        assert "lease.waiting" in text("third", "err"), text("third", "err")[-2000:]
        assert third.poll() is None and first.poll() is None
        assert cards(engine) == {}  # the first run has not started a card yet
        blocker.rollback()  # the first run goes on, then the third gets the machines

        assert first.wait(timeout=300) == 0, text("first", "err")[-2000:]
        assert "run: 4 cards started in 2 batches" in text("first", "out")
        assert third.wait(timeout=300) == 0, text("third", "err")[-2000:]
        assert "run: 0 cards started" in text("third", "out")  # nothing was left for it
        assert "lease.acquired" in text("third", "err")
    finally:
        blocker.close()
        for process in started:
            stop(process)
    try:
        assert cards(engine) == {"qc_passed": 4}
        with engine.connect() as connection:
            actors = {
                a for (a,) in connection.execute(sa.text("SELECT DISTINCT actor FROM stage_event"))
            }
            free = connection.execute(
                sa.text("SELECT count(*) FROM machine_lease WHERE token IS NULL")
            ).scalar_one()
        assert actors == {actor}  # every stage event names the worker process that drove it
        assert free == 3
    finally:
        engine.dispose()
    assert run(["-q", "check"]) == 0


def test_a_direct_run_whose_lease_is_taken_stops_before_its_next_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import flows.wiring

    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=4, chips=10)
    url = f"sqlite:///{home / 'cardline.db'}"
    real_build = flows.wiring.build_line

    def build_line(**kwargs: Any) -> Any:
        line = real_build(**kwargs)
        printer = TakenDuringPrint(line.devices.printer, url)
        return dataclasses.replace(line, devices=dataclasses.replace(line.devices, printer=printer))

    monkeypatch.setattr(flows.wiring, "build_line", build_line)
    capsys.readouterr()
    assert run(["-q", "run", "--without-prefect", "--batch-size", "2"]) == 1
    # The thief (in this process here, for the test) logs its takeover; the run says one line.
    err = "".join(
        line for line in capsys.readouterr().err.splitlines(True) if "lease.taken_over" not in line
    )
    assert err.count("\n") == 1 and err.startswith(
        "cardline: error: lost the lease on encode-01, print-01, qc-01: now encode-01, "
        f"print-01, qc-01 held by {THIEF} since "
    ), err
    assert "stopped before its next batch" in err
    # The batch it had printed stays printed, for the next run; no second batch started.
    engine = sa.create_engine(url)
    try:
        assert cards(engine) == {"printed": 2}
    finally:
        engine.dispose()
    assert run(["-q", "machine", "list", "--json"]) == 0
    listed = {m["name"]: m["lease"] for m in json.loads(capsys.readouterr().out)}
    assert {name: lease["holder"] for name, lease in listed.items()} == dict.fromkeys(
        STATION, THIEF
    )
    assert run(["machine", "list"]) == 0
    assert f"driven now by {THIEF} since" in capsys.readouterr().out


def test_a_direct_run_releases_its_machines_when_it_ends_and_records_who_drove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=2, chips=5)
    capsys.readouterr()
    assert run(["-q", "run", "--without-prefect"]) == 0
    capsys.readouterr()
    assert run(["-q", "machine", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["lease"] for m in listed] == [None, None, None]  # released
    actor = Worker(socket.gethostname(), os.getpid(), None).actor(os_user(), "HN1")
    assert {m["changed_by"] for m in listed} == {actor}
    engine = sa.create_engine(f"sqlite:///{home / 'cardline.db'}")
    try:
        with engine.connect() as connection:
            actors = {
                a for (a,) in connection.execute(sa.text("SELECT DISTINCT actor FROM stage_event"))
            }
    finally:
        engine.dispose()
    assert actors == {actor}
