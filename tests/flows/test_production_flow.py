"""The production flow under ``prefect_test_harness`` (a temporary Prefect server, started
once for this module, ~10 s): the same line as ``cardline run``, as tasks over batches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.cli import run
from tests.factories import good_rows
from tests.flows.homes import ready_home


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_the_production_flow_runs_the_line_and_leaves_artifacts(
    prefect_server: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect.client.orchestration import get_client

    from flows.production import production

    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=7, chips=5)
    capsys.readouterr()

    summary = production(batch_size=3)
    assert (summary["started"], summary["passed"], summary["waiting_for_chips"]) == (5, 5, 2)
    assert summary["batches"] == 2

    async def artifacts() -> dict[str, object]:
        async with get_client() as client:
            found = await client.read_artifacts()
            return {a.key: a.data for a in found if a.key}

    stored = asyncio.run(artifacts())
    assert "5 cards started in 2 batches; 5 passed QC" in str(stored["hn1-01-production-run"])
    table = stored["hn1-cards-per-state"]
    rows = json.loads(table) if isinstance(table, str) else table
    assert {row["state"]: row["cards"] for row in rows}["qc_passed"] == 5  # type: ignore[union-attr]
    assert run(["-q", "check"]) == 0


def test_the_example_automation_is_a_valid_prefect_automation() -> None:
    import yaml
    from prefect.events.schemas.automations import AutomationCore

    automation = AutomationCore.model_validate(
        yaml.safe_load(Path("automations/stock-out.yaml").read_text(encoding="utf-8"))
    )
    assert automation.trigger.expect == {"cardline.stock.out"}  # type: ignore[union-attr]
    crashed = AutomationCore.model_validate(
        yaml.safe_load(Path("automations/crashed-runs.yaml").read_text(encoding="utf-8"))
    )
    assert crashed.trigger.after == {"prefect.flow-run.heartbeat"}  # type: ignore[union-attr]
    assert crashed.actions[0].type == "change-flow-run-state"


def test_the_shortage_monitor_emits_events_for_items_in_trouble(
    prefect_server: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import time

    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter
    from prefect.events.worker import EventsWorker

    from flows.stock_flows import shortage_monitor, stock_receipt

    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    assert run(["-q", "db", "upgrade"]) == 0
    capsys.readouterr()
    result = stock_receipt(lot="R1", supplier="Supplies Co", quantity=2, item="ribbon")
    assert result == {"lot": "R1", "item": "ribbon", "quantity": 2}
    items = {entry["item"]: entry["state"] for entry in shortage_monitor()}
    assert items == {"chip": "out", "ribbon": "ok", "overlay": "out"}
    EventsWorker.drain_all()
    # The server stores events asynchronously: read them back for a bounded while.
    deadline = time.monotonic() + 30
    seen: set[tuple[str, str]] = set()
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            page = client.read_events(
                filter=EventFilter(event=EventNameFilter(prefix=["cardline.stock."])), limit=50
            )
            seen = {
                (event.event, event.resource.get("cardline.item", ""))
                for event in page.events
                if event.event.startswith("cardline.stock.")
            }
            if {("cardline.stock.out", "chip"), ("cardline.stock.out", "overlay")} <= seen:
                break
            time.sleep(0.5)
    assert {("cardline.stock.out", "chip"), ("cardline.stock.out", "overlay")} <= seen
    assert ("cardline.stock.low", "ribbon") not in seen and (
        "cardline.stock.out",
        "ribbon",
    ) not in seen


def test_dispatch_and_daily_report_flows(
    prefect_server: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import pypdfium2 as pdfium
    from prefect.client.orchestration import get_client

    from flows.artifacts import artifact_key
    from flows.daily import daily_report, dispatch_flow
    from flows.production import production
    from line.settings import Settings

    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=6, chips=20)
    capsys.readouterr()
    assert production(batch_size=10)["passed"] == 6
    batches = dispatch_flow(max_cards=2)
    assert sum(b["cards"] for b in batches) == 6 and all(b["cards"] <= 2 for b in batches)
    assert all(Path(b["manifest"]).is_file() for b in batches)
    result = daily_report(target=10)
    assert result["made"] == 6
    text = pdfium.PdfDocument(result["report"])[0].get_textpage().get_text_bounded()
    assert "Daily report" in text and "of 10 good cards (60.0 %)" in text
    for id_number in (row["id_number"] for row in good_rows(6)):
        assert id_number not in text

    async def artifacts() -> dict[str, object]:
        async with get_client() as client:
            return {a.key: a.data for a in await client.read_artifacts() if a.key}

    stored = asyncio.run(artifacts())
    centre = Settings().centre
    assert stored[artifact_key(centre, "national", "progress")] == 60.0
    summary = str(stored[artifact_key(centre, "national", "daily-summary")])
    assert "| Campaign progress | 6 of 10 good cards |" in summary
    assert "{" not in summary, "no Python reprs in what the UI shows"
    wip = stored[artifact_key(centre, "applications-per-state")]
    rows = json.loads(wip) if isinstance(wip, str) else wip
    assert {row["State"]: row["Applications"] for row in rows}["dispatched"] == "6"  # type: ignore[union-attr]


def _failing_printer_spec(folder: Path) -> Path:
    """The reference spec with a printer that is nearly always offline (availability 0.1 %)."""
    import yaml

    from line.spec import default_spec_text

    data = yaml.safe_load(default_spec_text())
    data["stages"]["print"]["availability"] = 0.001
    data["stages"]["print"].pop("breakdowns", None)  # availability alone says it is down
    path = folder / "failing-printer.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _card_states(home: Path) -> dict[str, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{home / 'cardline.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT state, count(*) FROM card GROUP BY state"))
        return {str(state): int(n) for state, n in rows}


def test_a_printer_that_keeps_failing_is_taken_out_and_its_cards_wait_for_a_later_run(
    prefect_server: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect.client.orchestration import get_client

    from flows.production import DEVICE_RETRIES, MachineGaveUp, production
    from line.db import make_engine, session_scope
    from line.machines import MachineOutOfService, put_back
    from line.settings import Settings
    from line.types import utc_now

    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=3, chips=5)
    assert run(["-q", "db", "current"]) == 0
    monkeypatch.setenv("CARDLINE_LINE_SPEC", str(_failing_printer_spec(tmp_path)))
    capsys.readouterr()

    with pytest.raises(MachineGaveUp, match=r"print-01 \(print\) kept failing .*print\.offline"):
        production(batch_size=5)
    assert _card_states(home) == {"printing": 3}  # nothing lost: they wait at print

    assert run(["-q", "machine", "list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed["print-01"]["in_service"] is False
    assert f"after {DEVICE_RETRIES} retries" in listed["print-01"]["reason"]
    assert listed["encode-01"]["in_service"] is True
    assert run(["-q", "status", "--json"]) == 0
    out_now = json.loads(capsys.readouterr().out)["machines_out_of_service"]
    assert [m["name"] for m in out_now] == ["print-01"]

    async def machine_out_artifact() -> str:
        async with get_client() as client:
            found = await client.read_artifacts()
            return next(str(a.data) for a in found if a.key == "machine-out")

    assert "cardline machine in print-01" in asyncio.run(machine_out_artifact())

    # Until a manager puts it back, no run drives it: the run stops before any card moves.
    monkeypatch.delenv("CARDLINE_LINE_SPEC")
    with pytest.raises(MachineOutOfService, match="print-01 .*cardline machine in print-01"):
        production(batch_size=5)
    assert run(["-q", "run", "--without-prefect"]) == 1
    assert "out of service" in capsys.readouterr().err
    assert _card_states(home) == {"printing": 3}

    # Back in service as an approved ``cardline machine in`` puts it (that command waits
    # for a second person: tests/flows/test_approvals.py).
    engine = make_engine(Settings().database_url)
    with session_scope(engine) as session:
        put_back(session=session, name="print-01", actor="supervisor", at=utc_now(), note="head")
    engine.dispose()
    summary = production(batch_size=5, resume_after_seconds=0)
    assert summary["passed"] == 3 and summary["started"] == 0  # the waiting cards, no new ones
    assert _card_states(home) == {"qc_passed": 3}
    assert run(["-q", "check"]) == 0


def test_each_machine_is_one_slot_of_a_global_limit_that_another_worker_can_hold(
    prefect_server: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import contextvars
    import threading
    import time

    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import concurrency

    from flows.production import ensure_machine_limits, limit_name, production

    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=2, chips=5)
    capsys.readouterr()
    printer = limit_name("HN1", "print-01")
    assert printer == "machine-hn1-print-01"
    ensure_machine_limits([printer])
    ensure_machine_limits([printer])  # a second worker finds it made
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(printer).limit == 1

    result: dict[str, object] = {}
    with concurrency(printer, occupy=1, strict=True):  # another worker drives print-01
        # The harness's settings live in a context variable: the thread runs in a copy.
        context = contextvars.copy_context()
        worker = threading.Thread(
            target=context.run, args=(lambda: result.update(production(batch_size=5)),)
        )
        worker.start()
        with get_client(sync_client=True) as client:  # the run has registered its machines
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                names = {limit.name for limit in client.read_global_concurrency_limits()}
                if limit_name("HN1", "qc-01") in names:
                    break
                time.sleep(0.2)
        time.sleep(3)  # the slot is still ours: the run must not have started a card
        assert _card_states(home) == {}
        assert worker.is_alive()
    worker.join(timeout=180)
    assert not worker.is_alive()
    assert result["passed"] == 2
    assert _card_states(home) == {"qc_passed": 2}


def test_the_flow_holds_its_machines_lease_and_a_second_run_is_told_who_holds_them(
    prefect_server: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The database lease is the interlock of the flow too: while another run (here a
    ``cardline run --without-prefect`` on another host) holds the station's machines, the
    flow starts no card and fails naming it; once they are free it runs, its stage events
    name the worker process, and it gives the machines back."""
    import os
    import re
    import socket

    import sqlalchemy as sa

    from flows.production import production
    from line.db import make_engine
    from line.leases import MachinesBusy, Worker, hold
    from line.types import utc_now

    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=2, chips=5)
    capsys.readouterr()
    engine = make_engine(f"sqlite:///{home / 'cardline.db'}")
    other = "cardline-run@HN1/host2:4242"
    try:
        with hold(
            engine=engine, machines=["print-01", "encode-01", "qc-01"], holder=other,
            clock=utc_now, worker=Worker("host2", 4242, None),
        ):  # fmt: skip
            busy = f"machines busy: encode-01, print-01, qc-01 held by {re.escape(other)} since"
            with pytest.raises(MachinesBusy, match=busy):
                production(batch_size=5)
            assert _card_states(home) == {}
        summary = production(batch_size=5)
        assert summary["passed"] == 2
        with engine.connect() as connection:
            actors = {a for (a,) in connection.execute(sa.text("SELECT actor FROM stage_event"))}
            lease_rows = connection.execute(
                sa.text("SELECT holder, token FROM machine_lease")
            ).all()
    finally:
        engine.dispose()
    actor = Worker(socket.gethostname(), os.getpid(), None).actor("prefect:production", "HN1")
    assert actors == {actor}
    assert sorted(tuple(r) for r in lease_rows) == [(actor, None)] * 3  # released, last holder kept


def test_a_flow_whose_machines_lease_is_taken_stops_before_its_next_batch(
    prefect_server: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import dataclasses
    from typing import Any

    import flows.production
    from line.leases import LeaseLost
    from tests.line.helpers import THIEF, TakenDuringPrint

    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=4, chips=10)
    capsys.readouterr()
    url = f"sqlite:///{home / 'cardline.db'}"
    real_build = flows.production.build_line

    def build_line(**kwargs: Any) -> Any:  # another run takes the machines mid-print
        line = real_build(**kwargs)
        printer = TakenDuringPrint(line.devices.printer, url)
        return dataclasses.replace(line, devices=dataclasses.replace(line.devices, printer=printer))

    monkeypatch.setattr(flows.production, "build_line", build_line)
    with pytest.raises(LeaseLost, match=f"now encode-01, print-01, qc-01 held by {THIEF} since"):
        flows.production.production(batch_size=2)
    assert _card_states(home) == {"printed": 2}  # the printed batch waits; no second batch
