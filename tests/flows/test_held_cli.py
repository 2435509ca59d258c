"""What a manager does with an application the line held for its data: a photo overwritten
after intake is never printed; released as it is, the line holds it again; accepted
(``card release --accept-photo``), it is printed with the photo the manager looked at; or
cancelled. Every decision is a stage event with who made it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.cli import run
from line.synthetic import portrait
from tests.flows.homes import ready_home


def _run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    capsys.readouterr()
    assert run(["-q", *args, "--json"]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_a_held_application_is_released_accepted_or_cancelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import random

    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    monkeypatch.setenv("CARDLINE_RENDER_PROCESSES", "0")
    ready_home(tmp_path, applications=3, chips=10, own_photos=True)
    photos = sorted((tmp_path / "in" / "photos").iterdir())
    photos[0].write_bytes(portrait(random.Random(4242)))  # overwritten after intake
    photos[1].unlink()

    first = _run_json(capsys, "run", "--without-prefect")
    assert first["passed"] == 1
    assert first["held_for"] == {"print.photo_changed": 1, "print.photo_not_found": 1}

    # Released as it is: the photo is still not the one recorded, so it is held again.
    assert run(["-q", "card", "release", "1"]) == 0
    again = _run_json(capsys, "run", "--without-prefect")
    assert (again["started"], again["held_for"]) == (0, {"print.photo_changed": 1})

    # A reason that is not a manager's decision is refused, naming the allowed ones.
    capsys.readouterr()
    assert run(["-q", "card", "release", "1", "--reason", "print.jam"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "manager.retry" in err

    # The manager looked at the photo as it is now and accepts it: it is printed.
    assert run(["-q", "card", "release", "1", "--accept-photo"]) == 0
    accepted = _run_json(capsys, "run", "--without-prefect")
    assert (accepted["started"], accepted["passed"]) == (1, 1)

    # A photo that is gone cannot be accepted; the application can be cancelled.
    capsys.readouterr()
    assert run(["-q", "card", "release", "2", "--accept-photo"]) == 1
    assert "cannot be read" in capsys.readouterr().err
    assert run(["-q", "card", "cancel", "2"]) == 0
    shown = _run_json(capsys, "card", "show", "1")
    decisions = [e["reason_code"] for e in shown["events"] if e["stage"] == "manager"]  # type: ignore[index, union-attr]
    assert decisions == ["manager.retry", "manager.photo_accepted", "manager.retry"]
    cancelled = _run_json(capsys, "card", "show", "2")
    assert cancelled["application"]["state"] == "cancelled"  # type: ignore[index]
    assert run(["-q", "check"]) == 0


def test_a_stopped_or_busy_station_is_one_line_before_prefect_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``cardline run`` (the flow) on a station whose machine is out of service, or whose
    machines another run holds, says so in one line before Prefect starts: with
    PREFECT_API_URL at a port nobody answers, an attempt to start the flow would say so."""
    import os
    import subprocess
    from datetime import UTC, datetime, timedelta

    from line.db import make_engine, session_scope
    from line.leases import acquire
    from line.machines import put_back
    from line.settings import Settings
    from line.types import Stage

    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=2, chips=5)
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    cardline = str(Path(".venv/bin/cardline").resolve())

    def run_flow() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cardline, "-q", "run"], env=env, capture_output=True, text=True, timeout=120
        )

    assert run(["-q", "machine", "out", "qc-01", "--reason", "lamp broken"]) == 0
    stopped = run_flow()
    assert stopped.returncode == 1
    assert stopped.stderr.count("\n") == 1 and "qc-01" in stopped.stderr
    assert "out of service" in stopped.stderr and "Traceback" not in stopped.stderr
    engine = make_engine(Settings().database_url)
    with session_scope(engine) as session:  # back in service, as an approved machine-in does
        put_back(session=session, name="qc-01", actor="supervisor", at=datetime.now(UTC))
    with session_scope(engine) as session:
        acquire(
            session=session,
            machines={"print-01": Stage.PRINT, "encode-01": Stage.ENCODE, "qc-01": Stage.QC},
            holder="cardline-run@HN1/otherhost:4242",
            at=datetime.now(UTC),
            ttl=timedelta(minutes=10),
        )
    busy = run_flow()
    assert busy.returncode == 1
    assert busy.stderr.count("\n") == 1 and "otherhost:4242" in busy.stderr
    assert "machines busy" in busy.stderr and "Traceback" not in busy.stderr
    engine.dispose()
