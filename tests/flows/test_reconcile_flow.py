"""The daily-report flow under ``prefect_test_harness`` (a temporary Prefect server, ~10 s)
publishes the day's reconciliation per process as a table artifact keyed by centre
(``<centre>-reconcile``), with the same figures as ``cardline reconcile --json``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.cli import run
from tests.flows.homes import ready_home


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_the_daily_report_publishes_the_days_reconciliation(
    prefect_server: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect.client.orchestration import get_client

    from flows.artifacts import artifact_key
    from flows.daily import daily_report
    from line.settings import Settings

    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=4, chips=3)  # one application waits for a chip
    assert run(["-q", "run", "--without-prefect"]) == 0
    assert run(["-q", "dispatch"]) == 0
    capsys.readouterr()
    assert run(["-q", "reconcile", "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)["processes"]
    daily_report(target=10)

    async def artifacts() -> dict[str, tuple[object, str | None]]:
        async with get_client() as client:
            return {a.key: (a.data, a.description) for a in await client.read_artifacts() if a.key}

    key = artifact_key(Settings().centre, "reconcile")
    assert key == "hn1-reconcile"
    data, description = asyncio.run(artifacts())[key]
    rows = json.loads(data) if isinstance(data, str) else data
    assert isinstance(rows, list)
    assert [row["Process"] for row in rows] == [row["process"] for row in expected]
    for row, want in zip(rows, expected, strict=True):
        assert row["Day"] == want["day"] and row["Reconciles"] == "yes"
        assert (row["Received"], row["Good"], row["Closing WIP"]) == (
            f"{want['received']:,}", f"{want['good']:,}", f"{want['closing_wip']:,}",
        )  # fmt: skip
    assert {row["Process"]: row["Good"] for row in rows}["dispatch"] == "3"
    assert description is not None and "Every day reconciles." in description
    assert "samples are 0" in description
