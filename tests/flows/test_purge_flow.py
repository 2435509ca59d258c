"""The ``purge`` flow under ``prefect_test_harness`` (a temporary Prefect server, ~10 s):
cards delivered before its ``delivered_before`` go, a later delivery stays; the summary is
the flow's result and a markdown artifact without personal data. (The spec's
``retention_days`` deciding the cut-off is tested in test_purge_files.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml
from sqlmodel import select

from flows.cli import run
from line.db import make_engine, session_scope
from line.dispatch import deliver
from line.models import Application, DispatchBatch
from line.spec import default_spec_text
from line.types import utc_now
from tests.flows.homes import ready_home


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_the_purge_flow_purges_past_the_specs_retention_and_leaves_an_artifact(
    prefect_server: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect.client.orchestration import get_client

    from flows.purge_flow import purge_flow

    home = tmp_path / "home"
    spec = yaml.safe_load(default_spec_text())
    spec["retention_days"] = 1
    (tmp_path / "line.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.setenv("CARDLINE_LINE_SPEC", str(tmp_path / "line.yaml"))
    monkeypatch.setenv("CARDLINE_RENDER_PROCESSES", "0")
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=3, chips=5)
    assert run(["-q", "run", "--without-prefect"]) == 0
    assert run(["-q", "dispatch"]) == 0
    engine = make_engine(f"sqlite:///{home / 'cardline.db'}")
    with session_scope(engine) as session:
        codes = sorted(session.exec(select(DispatchBatch.code)).all())
        names = [a.full_name for a in session.exec(select(Application))]
    assert len(codes) == 3
    for code in codes[:2]:  # two stations confirm today
        assert run(["-q", "deliver", code]) == 0
    with session_scope(engine) as session:  # and one in two days
        deliver(session=session, code=codes[2], actor="station", at=utc_now() + timedelta(days=2))
    capsys.readouterr()

    tomorrow = utc_now().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date() + timedelta(days=1)
    summary = purge_flow(delivered_before=tomorrow.isoformat())
    assert summary["purged"] == 2 and summary["kept"] == {"returned": 0, "held": 0, "newer": 1}
    with engine.connect() as connection:
        left = connection.execute(sa.text("SELECT count(*) FROM application WHERE full_name <> ''"))
        assert left.scalar() == 1

    async def artifacts() -> dict[str, object]:
        async with get_client() as client:
            return {a.key: a.data for a in await client.read_artifacts() if a.key}

    text = str(asyncio.run(artifacts())["hn1-purge"])
    assert "purged 2 applications (2 cards)" in text
    assert "kept: 0 returned, 0 held, 1 delivered on or after the cut-off" in text
    assert not any(name in text for name in names)
    assert json.loads(json.dumps(summary))["cards"] == summary["cards"]  # JSON-safe result
    assert run(["-q", "check"]) == 0
