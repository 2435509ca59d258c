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
