"""End to end through a real Prefect server: deploy from ``prefect.yaml``, start process
workers, trigger the production deployment, wait for it, read its artifacts back.

The server is the module's ``prefect_api`` (``tests/flows/prefect_server.py``: own PostgreSQL
database, free loopback port, temporary ``PREFECT_HOME``; stopped and dropped at the end).
Every worker started here is stopped with its process group, whatever happens.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from flows.cli import run
from tests.factories import good_rows
from tests.flows.consistency import assert_line_consistent
from tests.flows.homes import ready_home
from tests.flows.prefect_server import (
    BIN,
    ROOT,
    fresh_database,
    prefect,
    run_id_of,
    stop,
    wait_for_runs,
)


def deploy(env: dict[str, str]) -> str:
    prefect(env, "work-pool", "create", "cardline-line", "--type", "process", "--overwrite")
    return prefect(env, "deploy", "--all")


def start_worker(stack: ExitStack, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A process worker on the cardline-line pool, one flow run at a time; stopped (its
    process group: its flow runs too) when ``stack`` closes."""
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "cardline-line", "--limit", "1"],
            env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    stack.callback(stop, worker)
    return worker


@pytest.mark.postgres
@pytest.mark.slow
def test_deploy_start_a_worker_and_run_production(
    prefect_api: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=4, chips=10)
    capsys.readouterr()
    env = {**prefect_api, "CARDLINE_HOME": str(home)}

    deployed = deploy(env)
    assert "production" in deployed and "daily-report" in deployed
    with ExitStack() as stack:
        start_worker(stack, env, tmp_path / "worker.log")
        run_id = run_id_of(prefect(env, "deployment", "run", "production/production"))
        result = wait_for_runs(env, [run_id])[run_id]
    assert result["state"] == "COMPLETED", (tmp_path / "worker.log").read_text()[-3000:]
    artifacts = result["artifacts"]
    assert isinstance(artifacts, dict)
    assert "4 cards started in 1 batches; 4 passed QC" in str(artifacts["hn1-01-production-run"])
    assert run(["-q", "check"]) == 0
    assert_the_run_logged_masked_json_lines(home / "logs" / "cardline.jsonl", run_id)


def assert_the_run_logged_masked_json_lines(log_file: Path, run_id: str) -> None:
    """The worker's flow run logged as a command does (the composition root configured it in
    the worker's process): JSON lines in the home's log file carrying the run's id and flow,
    and nowhere in the file an unmasked ID number or a name of the test's applicants."""
    text = log_file.read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines()]
    of_run = [r for r in records if r.get("flow_run_id") == run_id]
    assert of_run, f"no line of flow run {run_id} in {log_file}"
    assert {r.get("flow") for r in of_run} == {"production"}
    without_run_ids = text.replace(run_id, "")
    assert not re.search(r"(?<!\d)\d{12}(?!\d)", without_run_ids), "an unmasked 12-digit ID"
    for row in good_rows(4):  # the applicants ready_home imported
        assert row["id_number"] not in text
        assert row["full_name"] not in text


APPLICATIONS = 16
BATCH = 3

WAITING_ON_STOCK = """
SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE NOT l.granted AND c.relname = 'stock_lot'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


@pytest.fixture
def cardline_pg(pg_admin: Engine) -> Iterator[str]:
    with fresh_database(pg_admin, "cardline_e2e") as url:
        yield url


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_run_production_at_once_on_postgresql(
    prefect_api: dict[str, str],
    cardline_pg: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two process workers, two runs of production/production at once on one PostgreSQL
    database: every application gets exactly one good card, no card goes through a stage
    twice, both runs take part, and stock reconciles.

    So that both runs really overlap, the test holds an EXCLUSIVE lock on the chip lots
    until both runs wait for it at the start of a batch (the chip reservation locks the
    lots): each holds a batch of applications then, and both go on together.
    """
    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.setenv("CARDLINE_DB_URL", cardline_pg)
    ready_home(tmp_path, applications=APPLICATIONS, chips=2 * APPLICATIONS)
    capsys.readouterr()

    deploy(prefect_api)
    engine = sa.create_engine(cardline_pg)
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        logs = [tmp_path / f"worker{n}.log" for n in (1, 2)]
        for n, log in enumerate(logs, start=1):
            worker_env = {
                **prefect_api,
                # Two machines of one centre: a home each, one database, the centre's keys.
                "CARDLINE_HOME": str(tmp_path / f"worker{n}"),
                "CARDLINE_KEYS_DIR": str(home / "keys"),
                "CARDLINE_DB_URL": cardline_pg,
                "CARDLINE_PRINTER": "spool",  # real PDFs; no simulated printer faults
                # Each worker drives its own machines (print-0n, ...): a run holds its
                # machines' concurrency slots from first card to last.
                "CARDLINE_STATION": f"0{n}",
                "PREFECT_WORKER_QUERY_SECONDS": "2",
            }
            start_worker(stack, worker_env, log)

        barrier = stack.enter_context(engine.connect())
        barrier.begin()
        barrier.execute(sa.text("LOCK TABLE stock_lot IN EXCLUSIVE MODE"))
        params = ["--param", f"batch_size={BATCH}"]
        run_ids = [
            run_id_of(prefect(prefect_api, "deployment", "run", "production/production", *params))
            for _ in range(2)
        ]
        with engine.connect() as watcher:
            deadline = time.monotonic() + 180
            while watcher.execute(sa.text(WAITING_ON_STOCK)).scalar_one() < 2:
                assert time.monotonic() < deadline, "the two runs never both reached a batch start"
                time.sleep(0.5)
        barrier.rollback()  # both go
        results = wait_for_runs(prefect_api, run_ids)
        worker_logs = [log.read_text() for log in logs]

    for run_id in run_ids:
        assert results[run_id]["state"] == "COMPLETED", "\n".join(w[-3000:] for w in worker_logs)
    # Each worker ran one of the two runs, on its own machines.
    with engine.connect() as connection:
        machines = connection.execute(
            sa.text("SELECT DISTINCT machine FROM stage_event WHERE machine LIKE 'print-%'")
        ).scalars()
        assert set(machines) == {"print-01", "print-02"}, "\n".join(w[-3000:] for w in worker_logs)

    started = []
    for run_id in run_ids:
        artifacts = results[run_id]["artifacts"]
        assert isinstance(artifacts, dict)
        [summary] = [v for k, v in artifacts.items() if k.endswith("-production-run")]
        found = re.search(r"(\d+) cards started in (\d+) batches", str(summary))
        assert found, artifacts["hn1-01-production-run"]
        started.append(int(found.group(1)))
    assert all(n > 0 for n in started), f"both runs took part: {started}"
    with engine.connect() as connection:
        cards = connection.execute(sa.text("SELECT count(*) FROM card")).scalar_one()
    assert sum(started) == cards, "every card was started by exactly one of the runs"

    assert_line_consistent(engine, applications=APPLICATIONS)
    engine.dispose()
    assert run(["-q", "check"]) == 0, capsys.readouterr().err
