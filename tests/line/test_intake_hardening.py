"""Intake hardening: ASCII-only digits, due-date windows, JSON Lines whose first line is
broken, and intake runs left ``running`` by a killed process.

The killed run is a real process (``killed_intake.py``) that SIGKILLs itself as it is about
to insert its second batch; the databases are the real SQLite and PostgreSQL of conftest.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from line.errors import IntakeFileError
from line.intake import (
    DUE_DATE_AHEAD,
    DUE_DATE_PAST,
    STALE_AFTER,
    RowValidator,
    import_file,
    mark_interrupted_runs,
)
from line.leases import Worker
from line.models import IntakeRun
from line.synthetic import write_csv
from tests.conftest import TODAY, StepClock
from tests.factories import good_rows
from tests.line.helpers import applications, in_script, report, run, zeros

HARNESS = Path(__file__).with_name("killed_intake.py")
ROOT = Path(__file__).resolve().parents[2]


def runs(engine: Engine) -> dict[int, dict[str, Any]]:
    table = IntakeRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return {row.id: row._asdict() for row in connection.execute(sa.select(table))}


# --- digits ---------------------------------------------------------------------------------


def test_the_issue_s_three_people_get_three_applications(
    engine: Engine, folder: Path, clock: StepClock
) -> None:
    """Before: 5 live applications for 3 people (the same IDs in Arabic-Indic and full-width
    digits passed the duplicate check beside the ASCII ones)."""
    a, b, c = good_rows(3)
    rows = [
        a,
        b,
        c,
        dict(a, id_number=in_script(a["id_number"], 0x660)),  # ٠٧٩... Arabic-Indic
        dict(b, id_number=in_script(b["id_number"], 0xFF10, {6, 7, 8})),  # full-width, 3 of them
    ]
    path = folder / "batch.csv"
    write_csv(path, rows)
    summary = run(engine, path, clock)
    assert (summary.accepted, summary.rejected, summary.duplicates) == (3, 2, 0)
    assert report(summary) == [
        (5, "id_number", "id_number.format"),
        (6, "id_number", "id_number.format"),
    ]
    with open(summary.reject_report, encoding="utf-8") as handle:
        reasons = [entry["reason"] for entry in csv.DictReader(handle)]
    assert "ARABIC-INDIC DIGIT" in reasons[0] and "FULLWIDTH DIGIT" in reasons[1]
    assert sorted(x.id_number for x in applications(engine)) == sorted(
        r["id_number"] for r in (a, b, c)
    )
    again = run(engine, path, clock)
    assert (again.accepted, again.rejected, again.duplicates) == (0, 2, 3)


DIGIT_FIELDS = ("id_number", "old_id_number", "destination", "date_of_birth", "due_date")


@pytest.fixture(scope="module")
def validator(tmp_path_factory: pytest.TempPathFactory) -> RowValidator:
    from tests.factories import photo_file

    base = tmp_path_factory.mktemp("digits")
    photo_file(base / "photos", "a.jpg", seed=1)
    photo_file(base / "photos", "b.png", seed=2)
    return RowValidator(base_dir=base, today=TODAY)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10_000), st.sampled_from(DIGIT_FIELDS), zeros, st.data())
def test_any_digit_of_another_script_in_any_digit_field_is_refused_naming_it(
    validator: RowValidator, seed: int, field: str, zero: int, data: st.DataObject
) -> None:
    row = good_rows(1, seed=seed)[0]
    row.setdefault("old_id_number", "")
    if not row["old_id_number"]:
        row["old_id_number"] = "025123456"
    if not row["due_date"]:
        row["due_date"] = (TODAY + timedelta(days=30)).isoformat()
    assert validator.validate(row)[1] == []
    value = row[field]
    digits = [i for i, char in enumerate(value) if char.isdigit()]
    positions = data.draw(st.sets(st.sampled_from(digits), min_size=1))
    row[field] = in_script(value, zero, positions)
    values, errors = validator.validate(row)
    assert values is None
    assert [(e.field, e.reason_code) for e in errors] == [(field, f"{field}.format")]
    assert "0-9" in errors[0].message


# --- due dates ------------------------------------------------------------------------------


def test_due_dates_at_the_window_s_edges_go_in_and_a_passed_one_is_warned(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    rows = good_rows(4)
    rows[0]["due_date"] = (TODAY - DUE_DATE_PAST).isoformat()  # a year back: late, still wanted
    rows[1]["due_date"] = (TODAY + DUE_DATE_AHEAD).isoformat()  # two years ahead
    rows[2]["due_date"] = TODAY.isoformat()
    rows[3]["due_date"] = (TODAY - timedelta(days=1)).isoformat()
    path = folder / "batch.csv"
    write_csv(path, rows)
    with capture_logs() as logs:
        summary = run(sqlite_engine, path, clock)
    assert (summary.accepted, summary.rejected) == (4, 0)
    (warning,) = [entry for entry in logs if entry["event"] == "intake.due_date_passed"]
    assert (warning["log_level"], warning["rows"], warning["first_rows"]) == ("warning", 2, [2, 5])


# --- JSON Lines whose first line is broken ---------------------------------------------------


def jsonl(folder: Path, lines: list[str]) -> Path:
    path = folder / "batch.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        ("{not json", [(1, "(row)", "row.json")]),
        ('{"id_number": "0791', [(1, "(row)", "row.json")]),  # cut in the middle
        ("[1, 2]", [(1, "(row)", "row.json")]),
        ('"a string"', [(1, "(row)", "row.json")]),
        ('{"notes": "x"}', [(1, "(row)", "row.unknown_field")]),
        (
            '{"id_number": "079301123456", "full_name": "Lê Thu"}',
            [
                (1, "date_of_birth", "date_of_birth.missing"),
                (1, "sex", "sex.missing"),
                (1, "nationality", "nationality.missing"),
                (1, "place_of_origin", "place_of_origin.missing"),
                (1, "place_of_residence", "place_of_residence.missing"),
                (1, "photo", "photo.missing"),
                (1, "destination", "destination.missing"),
            ],
        ),
    ],
    ids=["not-json", "cut", "array", "string", "unknown-field", "missing-fields"],
)
def test_a_broken_first_line_is_a_rejected_row_not_a_refused_file(
    sqlite_engine: Engine, folder: Path, clock: StepClock, first: str, expected: list[Any]
) -> None:
    rows = good_rows(2)
    path = jsonl(folder, [first, json.dumps(rows[0], ensure_ascii=False), "", json.dumps(rows[1])])
    summary = run(sqlite_engine, path, clock)
    assert (summary.rows, summary.accepted, summary.rejected) == (3, 2, 1)
    assert report(summary) == expected
    assert [a.source_row for a in applications(sqlite_engine)] == [2, 4]


def test_a_json_lines_file_in_which_nothing_parses_is_refused(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    path = jsonl(folder, ["", "{not json", "[1]", '{"id_number": "x"}', '{"notes": 1}'])
    with pytest.raises(IntakeFileError) as caught:
        run(sqlite_engine, path, clock)
    message = str(caught.value)
    assert message.startswith(f"{path}: line 2 is not JSON")  # the first line with text
    assert "no line is an application record" in message and "\n" not in message
    assert not (folder / "rejects").exists() and runs(sqlite_engine) == {}


def test_a_good_record_far_down_the_file_is_enough(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    path = jsonl(folder, ["{bad"] * 50 + [json.dumps(good_rows(1)[0])])
    summary = run(sqlite_engine, path, clock)
    assert (summary.accepted, summary.rejected) == (1, 50)
    assert report(summary)[0] == (1, "(row)", "row.json") and report(summary)[-1][0] == 50


# --- runs left running ----------------------------------------------------------------------


def test_a_killed_intake_is_marked_interrupted_by_the_next_one(
    tmp_path: Path, folder: Path, clock: StepClock
) -> None:
    url = f"sqlite:///{tmp_path / 'cardline.db'}"
    from line.db import make_engine
    from schema import upgrade

    engine = make_engine(url)
    upgrade(engine)
    rows = good_rows(12)
    rows[1]["sex"] = "X"  # rejected in the first batch: in the report before the kill
    rows[9]["sex"] = "X"  # rejected after the last beat: lost with the process
    path = folder / "batch.csv"
    write_csv(path, rows)
    killed = subprocess.run(
        [sys.executable, str(HARNESS), url, str(path), str(folder / "rejects"), "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr
    (left,) = runs(engine).values()
    assert left["status"] == "running" and left["finished_at"] is None
    assert (left["accepted"], left["rejected"]) == (5, 1)  # its first batch, at its beat
    assert left["host"] and left["node"] and left["heartbeat_at"] > left["started_at"]
    with open(left["reject_report"], encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines == [
        ["row", "field", "reason_code", "reason", "id_number_masked"],
        ["3", "sex", "sex.invalid", "must be M or F", "********" + rows[1]["id_number"][-4:]],
    ]

    with capture_logs() as logs:
        summary = run(engine, path, clock, batch_size=5)
    after = runs(engine)
    assert after[left["id"]]["status"] == "interrupted"
    assert after[left["id"]]["finished_at"] is not None
    assert after[summary.intake_run_id]["status"] == "completed"
    assert (summary.accepted, summary.rejected, summary.duplicates) == (5, 2, 5)
    assert len(applications(engine)) == 10
    assert {"event": "intake.interrupted_runs", "intake_run_ids": [left["id"]]}.items() <= next(
        entry for entry in logs if entry["event"] == "intake.interrupted_runs"
    ).items()
    engine.dispose()


def add_running(engine: Engine, **values: Any) -> int:
    table = IntakeRun.__table__  # type: ignore[attr-defined]
    started = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    row = {
        "source": "/in/x.csv",
        "source_format": "csv",
        "source_bytes": 1,
        "status": "running",
        "reject_report": "/r.csv",
        "started_at": started,
        "heartbeat_at": started,
        **values,
    }
    with engine.begin() as connection:
        return int(
            connection.execute(table.insert().values(**row).returning(table.c.id)).scalar_one()
        )


def test_only_runs_that_are_really_dead_are_marked(engine: Engine) -> None:
    here = Worker.here()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(gone.stdout)
    now = datetime(2026, 11, 1, 7, 10, tzinfo=UTC)  # 10 minutes after they began
    recent = now - timedelta(minutes=1)
    ids = {
        "dead here": add_running(
            engine, host=here.host, node=here.node, pid=dead_pid, heartbeat_at=recent
        ),
        "alive here": add_running(
            engine, host=here.host, node=here.node, pid=os.getpid(), heartbeat_at=recent
        ),
        "another host, beating": add_running(
            engine, host="worker-2", node="other-boot/1", pid=dead_pid, heartbeat_at=recent
        ),
        "another host, silent": add_running(
            engine,
            host="worker-2",
            node="other-boot/1",
            pid=1,
            heartbeat_at=now - STALE_AFTER - timedelta(seconds=1),
        ),
        "alive here, hung": add_running(
            engine,
            host=here.host,
            node=here.node,
            pid=os.getpid(),
            heartbeat_at=now - timedelta(hours=3),
        ),
        "before 0008, silent": add_running(
            engine, host=None, node=None, pid=None, heartbeat_at=None
        ),
        "completed": add_running(
            engine, status="completed", host=here.host, node=here.node, pid=dead_pid
        ),
    }
    marked = mark_interrupted_runs(engine=engine, now=now + timedelta(minutes=10), worker=here)
    # 20 minutes after the start, 11 after the last beat of the "beating" ones.
    assert sorted(marked) == sorted(
        ids[k]
        for k in ("dead here", "another host, silent", "alive here, hung", "before 0008, silent")
    )
    status = {name: runs(engine)[run_id]["status"] for name, run_id in ids.items()}
    assert status == {
        "dead here": "interrupted",
        "alive here": "running",
        "another host, beating": "running",
        "another host, silent": "interrupted",
        "alive here, hung": "interrupted",
        "before 0008, silent": "interrupted",
        "completed": "completed",
    }
    assert mark_interrupted_runs(engine=engine, now=now + timedelta(minutes=10), worker=here) == []


def test_two_intakes_at_once_leave_each_other_alone(
    engine: Engine, folder: Path, clock: StepClock
) -> None:
    """One intake is stopped in the middle (after its first batch, in its clock), a second
    one runs from start to end meanwhile, then the first finishes: on PostgreSQL as on
    SQLite, neither is marked interrupted, and every row is in once."""
    first_rows, second_rows = good_rows(10, seed=1), good_rows(3, seed=2)
    first, second = folder / "first.csv", folder / "second.csv"
    write_csv(first, first_rows)
    write_csv(second, second_rows)
    paused, go_on = threading.Event(), threading.Event()
    slow = StepClock(datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    reads = 0

    def slow_clock() -> datetime:
        nonlocal reads
        reads += 1
        if reads == 3:  # started, first batch, then this: the beat after the first batch
            paused.set()
            assert go_on.wait(60)
        return slow()

    results: dict[str, Any] = {}

    def first_intake() -> None:
        try:
            results["first"] = import_file(
                engine=engine, path=first, today=TODAY, clock=slow_clock,
                rejects_dir=folder / "rejects", batch_size=5,
            )  # fmt: skip
        except BaseException as exc:  # noqa: BLE001  (seen by the test below)
            results["error"] = exc
            paused.set()

    thread = threading.Thread(target=first_intake)
    thread.start()
    try:
        assert paused.wait(60) and "error" not in results
        (running,) = runs(engine).values()
        assert running["status"] == "running" and len(applications(engine)) == 5
        summary = run(engine, second, clock)  # same clock time: the first is not silent
        assert summary.accepted == 3
        assert runs(engine)[running["id"]]["status"] == "running"
    finally:
        go_on.set()
        thread.join(60)
    assert "error" not in results, results.get("error")
    assert results["first"].accepted == 10
    assert {r["status"] for r in runs(engine).values()} == {"completed"}
    assert len(applications(engine)) == 13


def test_the_reject_report_has_its_header_from_the_start(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    path = folder / "batch.csv"
    write_csv(path, good_rows(3))
    seen: list[bytes] = []

    def peeking_clock() -> datetime:
        for found in (folder / "rejects").glob("*.csv"):
            seen.append(found.read_bytes())
        return clock()

    summary = run(sqlite_engine, path, peeking_clock)  # type: ignore[arg-type]
    assert summary.accepted == 3
    assert seen and seen[0] == b"row,field,reason_code,reason,id_number_masked\r\n"
    assert Path(summary.reject_report).read_bytes() == seen[0]


def test_a_reject_report_that_cannot_be_written_refuses_the_intake(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    path = folder / "batch.csv"
    write_csv(path, good_rows(2))
    (folder / "taken").write_text("a file, not a directory", encoding="utf-8")
    with pytest.raises(IntakeFileError, match="cannot write the reject report"):
        run(sqlite_engine, path, clock, reject_report=folder / "taken" / "rejects.csv")
    assert runs(sqlite_engine) == {} and applications(sqlite_engine) == []


def test_the_run_records_who_ran_it(sqlite_engine: Engine, folder: Path, clock: StepClock) -> None:
    path = folder / "batch.csv"
    write_csv(path, good_rows(2))
    summary = run(sqlite_engine, path, clock)
    record = runs(sqlite_engine)[summary.intake_run_id]
    here = Worker.here()
    assert (record["host"], record["node"], record["pid"]) == (here.host, here.node, os.getpid())
    assert record["heartbeat_at"] == record["finished_at"]
    assert date(2026, 11, 1) == record["started_at"].date()


def test_a_long_stretch_between_batches_still_beats(sqlite_engine: Engine, folder: Path) -> None:
    """1,000 rows in one batch, a clock that moves a minute a read: the run beats at rows
    500 and 1,000 (its record shows the heartbeat move) before the batch goes in."""
    path = folder / "batch.csv"
    write_csv(path, good_rows(1000))
    ticks = StepClock(datetime(2026, 11, 1, 8, 0, tzinfo=UTC), timedelta(minutes=1))
    heartbeats: list[datetime] = []

    def watching_clock() -> datetime:
        for record in runs(sqlite_engine).values():
            heartbeats.append(record["heartbeat_at"])
        return ticks()

    summary = run(sqlite_engine, path, watching_clock)  # type: ignore[arg-type]
    assert summary.accepted == 1000
    # started at 08:01; beats at 08:02 (row 500) and 08:03 (row 1,000); the batch at 08:04
    assert sorted(set(heartbeats)) == [
        datetime(2026, 11, 1, 8, minute, tzinfo=UTC) for minute in (1, 2, 3)
    ]
