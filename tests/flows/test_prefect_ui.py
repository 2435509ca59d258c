"""What a manager sees in the Prefect UI, read back through a real server's API after a
production run: cardline's own log lines of each stage in the run's logs (masked, as
sentences), run and task names that say what ran, artifacts without Python reprs, and
no personal data anywhere (logs, artifacts, names).

The server is the module's ``prefect_api`` (a real ``prefect server start`` on its own
PostgreSQL database, see ``tests/flows/prefect_server.py``); the run is ``cardline run``,
the installed command, reporting to it.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from tests.factories import good_rows
from tests.flows.homes import ready_home
from tests.flows.prefect_server import BIN, ROOT, _api

APPLICATIONS = 6
BATCH = 3


def _post(env: dict[str, str], path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    found = _api(env, "POST", path, body)
    assert isinstance(found, list)
    return found


def _personal_data_in(text: str) -> list[str]:
    rows = good_rows(APPLICATIONS)
    values = [row["id_number"] for row in rows] + [row["full_name"] for row in rows]
    values += [row["old_id_number"] for row in rows if row.get("old_id_number")]
    return [value for value in values if value and value in text]


@pytest.fixture(scope="module")
def production_run(
    prefect_api: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One production run of 6 applications in batches of 3, reported to the server."""
    folder = tmp_path_factory.mktemp("ui")
    home = folder / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CARDLINE_HOME", str(home))
        patch.delenv("CARDLINE_DB_URL", raising=False)
        ready_home(folder, applications=APPLICATIONS, chips=20)
    env = {**prefect_api, "CARDLINE_HOME": str(home)}
    done = subprocess.run(
        [str(BIN / "cardline"), "run", "--batch-size", str(BATCH)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (flow_run,) = _post(env, "/flow_runs/filter", {"flows": {"name": {"any_": ["production"]}}})
    run_id = flow_run["id"]
    logs = _post(env, "/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200})
    tasks = _post(env, "/task_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
    artifacts = _post(env, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    return {"run": flow_run, "logs": logs, "tasks": tasks, "artifacts": artifacts}


@pytest.mark.postgres
@pytest.mark.slow
def test_the_runs_logs_hold_cardlines_own_lines_of_each_stage(
    production_run: dict[str, Any],
) -> None:
    messages = [log["message"] for log in production_run["logs"]]
    for stage in ("print", "chip-encode", "qc"):
        lines = [m for m in messages if m.startswith(f"{stage}.batch: ")]
        good = [int(re.search(r"good=(\d+)", m).group(1)) for m in lines]  # type: ignore[union-attr]
        assert len(lines) >= APPLICATIONS // BATCH and sum(good) == APPLICATIONS, lines
    retried = [m for m in messages if "left_for_retry" in m]
    if retried:  # the virtual printer went offline on a try: the log says what happened
        assert any("failed on attempt 1 of 3" in m and "retrying" in m for m in messages)
        assert not any("kept failing" in m for m in messages), "it did not keep failing"
    assert any(m.startswith("lease.acquired: ") and "print-01" in m for m in messages)
    assert all(log["level"] >= 20 for log in production_run["logs"]), "INFO and up, no DEBUG"


@pytest.mark.postgres
@pytest.mark.slow
def test_runs_and_tasks_are_named_for_what_they_did(production_run: dict[str, Any]) -> None:
    assert re.fullmatch(
        r"production HN1/01 \d{4}-\d\d-\d\d \d\d:\d\d", production_run["run"]["name"]
    ), production_run["run"]["name"]
    names = {task["name"] for task in production_run["tasks"]}
    for number in (1, 2):
        for stage in ("print", "chip-encode", "qc"):
            assert f"{stage} batch {number}: 3 cards" in names, names
        assert f"start batch {number}: up to 3 cards" in names, names


@pytest.mark.postgres
@pytest.mark.slow
def test_no_personal_data_and_no_python_reprs_in_what_the_ui_shows(
    production_run: dict[str, Any],
) -> None:
    shown = json.dumps(
        [
            production_run["run"]["name"],
            [task["name"] for task in production_run["tasks"]],
            [log["message"] for log in production_run["logs"]],
            [(a["key"], a["data"], a["description"]) for a in production_run["artifacts"]],
        ],
        ensure_ascii=False,
    )
    assert _personal_data_in(shown) == []
    assert not re.search(r"(?<![\d-])\d{12}(?!\d)", shown), "an unmasked 12-digit number"
    keyed = {a["key"]: a for a in production_run["artifacts"] if a["key"]}
    summary = str(keyed["hn1-01-production-run"]["data"])
    assert "6 cards started in 2 batches; 6 passed QC" in summary
    for artifact in production_run["artifacts"]:
        data = str(artifact["data"])
        assert "{'" not in data and "': " not in data, (artifact["key"], data)


def test_a_forwarded_line_is_a_masked_sentence_and_prefects_own_are_not_sent_back() -> None:
    """The forwarder alone, with a plain logger standing in for the run's."""
    import logging

    from flows.prefect_log import RunLogForwarder
    from line.logsetup import configure_logging, get_logger

    configure_logging(log_file=None, console=False)
    sent: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            sent.append(record.getMessage())

    run_logger = logging.getLogger("tests.run-logger")
    run_logger.propagate = False
    run_logger.addHandler(Collect())
    forwarder = RunLogForwarder(run_logger)
    root = logging.getLogger()
    root.addHandler(forwarder)
    try:
        get_logger("line.intake").info(
            "intake.row", id_number="079070993908", full_name="Nguyễn Văn A", row=3
        )
        get_logger("line.intake").debug("intake.detail", row=4)
        logging.getLogger("prefect.tests-own").info("Finished in state Completed()")
        logging.getLogger("printers.chip").warning("plain %s record", "stdlib 001099012345")
    finally:
        root.removeHandler(forwarder)
    assert sent == [
        "intake.row: id_number=********3908, full_name=[redacted], row=3",
        "plain stdlib ********2345 record",
    ]


def test_a_forwarded_line_is_written_once_to_this_processs_own_log() -> None:
    """The copy sent to the run's logger propagates to the root: our handlers skip it."""
    import logging

    from flows.prefect_log import RunLogForwarder, not_forwarded

    written: list[str] = []

    class Ours(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.append(record.getMessage())

    ours = Ours()
    ours.addFilter(not_forwarded)
    run_logger = logging.getLogger("prefect.tests-run")  # propagates to the root, as Prefect's
    root = logging.getLogger()
    forwarder = RunLogForwarder(run_logger)
    root.addHandler(ours)
    root.addHandler(forwarder)
    try:
        logging.getLogger("line.controller").warning("line.short_of_chips")
    finally:
        root.removeHandler(forwarder)
        root.removeHandler(ours)
    assert written == ["line.short_of_chips"]
