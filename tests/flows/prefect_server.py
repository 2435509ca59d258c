"""A real Prefect server for the tests that need one, and the pieces around it.

``prefect_server`` starts ``prefect server start`` on a free loopback port with a temporary
``PREFECT_HOME`` and its own PostgreSQL database (the Prefect server on SQLite stalls under
load, DESIGN.md), waits for it to answer, and yields the environment a client, a worker or a
flow process needs to reach it. Whatever happens, the server's process group is stopped and
its database dropped. ``fresh_database`` gives a cardline database of its own the same way.
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

WAIT_FOR_RUNS = """
import asyncio, json, sys, time
from uuid import UUID
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

async def main(run_ids, timeout):
    results = {}
    async with get_client() as client:
        deadline = time.monotonic() + timeout
        for run_id in run_ids:
            while True:
                flow_run = await client.read_flow_run(run_id)
                if flow_run.state and flow_run.state.is_final():
                    break
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
            final = flow_run.state is not None and flow_run.state.is_final()
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
            )
            results[str(run_id)] = {
                "state": flow_run.state.type.value if final else "TIMEOUT",
                "artifacts": {a.key: a.data for a in artifacts if a.key},
            }
    print(json.dumps(results, default=str))

asyncio.run(main([UUID(a) for a in sys.argv[2:]], float(sys.argv[1])))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started with ``start_new_session=True``, and its whole group."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # Children left behind by a leader that exited (flow runs of a worker, render pools).
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def clean_environ() -> dict[str, str]:
    """This process's environment without any PREFECT_ or CARDLINE_ setting: each test
    says which server, home and database its processes use."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CARDLINE_"))}


@contextmanager
def fresh_database(pg_admin: Engine, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (the server of ``PG_URL``); dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with pg_admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with pg_admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def prefect_server(folder: Path, pg_admin: Engine) -> Iterator[dict[str, str]]:
    """A Prefect server running until the block ends; yields the environment to reach it."""
    folder.mkdir(parents=True, exist_ok=True)
    with fresh_database(pg_admin, "prefect_e2e") as url:
        database = sa.make_url(url).set(drivername="postgresql+asyncpg")
        port = free_port()
        env = {
            **clean_environ(),
            "PREFECT_HOME": str(folder / "prefect"),
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "CARDLINE_SRC": str(ROOT),
        }
        server_env = {
            **env,
            "PREFECT_API_DATABASE_CONNECTION_URL": database.render_as_string(hide_password=False),
            # Expired leases of concurrency slots (a killed run's) are freed within 2 s,
            # not Prefect's 15 s.
            "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "2",
        }
        log = folder / "server.log"
        with log.open("wb") as output:
            server = subprocess.Popen(
                [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env=server_env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(
                            f"prefect server did not start: {log.read_text()[-2000:]}",
                            pytrace=False,
                        )
                    time.sleep(0.5)
            yield env
        finally:
            stop(server)


def prefect(env: dict[str, str], *args: str) -> str:
    """Run the ``prefect`` command line against the server of ``env``; it must succeed."""
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


def run_id_of(output: str) -> str:
    """The flow run id ``prefect deployment run`` printed."""
    return next(line.split()[-1] for line in output.splitlines() if "UUID" in line)


def wait_for_runs(
    env: dict[str, str], run_ids: Sequence[str], timeout: float = 300
) -> dict[str, dict[str, object]]:
    """Each flow run's final state type (or ``TIMEOUT``) and its artifacts' data by key."""
    done = subprocess.run(
        [sys.executable, "-c", WAIT_FOR_RUNS, str(timeout), *run_ids],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout + 60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results: dict[str, dict[str, object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def _api(env: dict[str, str], method: str, path: str, body: object) -> object:
    request = urllib.request.Request(
        env["PREFECT_API_URL"] + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else None


def occupied_limits(env: dict[str, str]) -> dict[str, int]:
    """Global concurrency limits with slots taken: name -> active slots."""
    limits = _api(env, "POST", "/v2/concurrency_limits/filter", {})
    assert isinstance(limits, list)
    return {str(x["name"]): int(x["active_slots"]) for x in limits if x["active_slots"]}


def drop_taken_limits(env: dict[str, str]) -> dict[str, int]:
    """Delete every global concurrency limit with slots taken (a killed run's, until their
    lease expires), as an operator may (``prefect gcl delete NAME``); returns what was
    taken. Not a reset of the slots to 0: the dead leases, once expired, would then free
    slots a live run holds. The production flow makes a missing machine limit again."""
    taken = occupied_limits(env)
    for name in taken:
        _api(env, "DELETE", f"/v2/concurrency_limits/{name}", None)
    return taken
