"""End to end through a real Prefect server: deploy from ``prefect.yaml``, start a process
worker, trigger the production deployment, wait for it, read its artifacts back.

What it starts, and stops at the end (whatever happens): ``prefect server start`` on a free
loopback port with a temporary ``PREFECT_HOME`` and its own PostgreSQL database (the
Prefect server on SQLite stalls under load, DESIGN.md), and ``prefect worker start`` on a
process work pool. The database is dropped afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from flows.cli import run
from tests.flows.homes import ready_home

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

WAIT_FOR_RUN = """
import asyncio, json, sys, time
from uuid import UUID
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

async def main(run_id):
    async with get_client() as client:
        deadline = time.monotonic() + 240
        while True:
            flow_run = await client.read_flow_run(run_id)
            if flow_run.state and flow_run.state.is_final():
                break
            if time.monotonic() > deadline:
                print(json.dumps({"state": "TIMEOUT"}))
                return
            await asyncio.sleep(1)
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
        print(json.dumps({
            "state": flow_run.state.type.value,
            "artifacts": {a.key: a.data for a in artifacts if a.key},
        }, default=str))

asyncio.run(main(UUID(sys.argv[1])))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def prefect_env(tmp_path: Path, pg_admin: Engine) -> Iterator[dict[str, str]]:
    database = f"prefect_e2e_{uuid.uuid4().hex[:8]}"
    with pg_admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "CARDLINE_HOME": str(tmp_path / "home"),
        "CARDLINE_SRC": str(ROOT),
    }
    env.pop("CARDLINE_DB_URL", None)
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"prefect server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}",
                        pytrace=False,
                    )
                time.sleep(0.5)
        yield env
    finally:
        stop(server)
        with pg_admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def prefect(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "prefect"), "--no-prompt", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.mark.postgres
@pytest.mark.slow
def test_deploy_start_a_worker_and_run_production(
    prefect_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CARDLINE_HOME", prefect_env["CARDLINE_HOME"])
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=4, chips=10)
    capsys.readouterr()

    prefect(prefect_env, "work-pool", "create", "cardline-line", "--type", "process")
    deployed = prefect(prefect_env, "deploy", "--all")
    assert "production" in deployed and "daily-report" in deployed
    worker = subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "cardline-line"],
        env=prefect_env, cwd=ROOT, stdout=(tmp_path / "worker.log").open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        started = prefect(prefect_env, "deployment", "run", "production/production")
        run_id = next(line.split()[-1] for line in started.splitlines() if "UUID" in line)
        done = subprocess.run(
            [sys.executable, "-c", WAIT_FOR_RUN, run_id],
            env=prefect_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        stop(worker)
    assert result["state"] == "COMPLETED", (tmp_path / "worker.log").read_text()[-3000:]
    assert "4 cards started in 1 batches; 4 passed QC" in str(result["artifacts"]["production-run"])
    assert run(["-q", "check"]) == 0
