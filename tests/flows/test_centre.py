"""The composition root: one centre per command or flow run, logging configured once per
process, and every line a flow run logs carrying that run's id (a Prefect harness for the
flow runs, ~10 s, started once for the module)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog
from prefect import flow

from flows.centre import flow_entry, flow_run_bound, open_centre
from line.errors import CardlineError
from line.logsetup import get_logger
from line.settings import Settings

ID_NUMBER = "079301123456"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    monkeypatch.delenv("CARDLINE_LOG_LEVEL", raising=False)
    return Settings()


def _records(settings: Settings) -> list[dict[str, Any]]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = settings.log_file.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _console_levels() -> list[int]:
    return [
        h.level
        for h in logging.getLogger().handlers
        if type(h) is logging.StreamHandler  # the console, not the file handler
    ]


def test_a_flow_s_centre_configures_logging_once_and_masks_the_file(settings: Settings) -> None:
    open_centre()
    handlers = list(logging.getLogger().handlers)
    open_centre()  # a second flow run in the same process: nothing added, nothing replaced
    assert logging.getLogger().handlers == handlers
    assert _console_levels() == [logging.INFO]  # INFO by default, never DEBUG
    get_logger("cardline.test").info("looked up", key=ID_NUMBER, full_name="Trần Văn Hùng")
    get_logger("cardline.test").debug("not in the file")
    records = _records(settings)
    assert [(r["event"], r["key"], r["full_name"]) for r in records] == [
        ("looked up", "********3456", "[redacted]")
    ]


def test_a_flow_run_in_process_keeps_the_command_line_s_handlers(settings: Settings) -> None:
    cli = open_centre(console_level="WARNING")  # what `cardline -q ...` does
    handlers = list(logging.getLogger().handlers)
    flow_centre = open_centre()  # the flow that command runs in process
    assert logging.getLogger().handlers == handlers
    assert _console_levels() == [logging.WARNING]
    assert flow_centre.settings == cli.settings


def test_a_bad_log_level_is_one_clear_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDLINE_LOG_LEVEL", "chatty")
    with pytest.raises(CardlineError, match="CARDLINE_LOG_LEVEL: 'chatty' is not a log level"):
        open_centre()


def test_the_centre_keeps_one_engine_and_one_spec(settings: Settings) -> None:
    centre = open_centre(settings)
    assert centre.engine() is centre.engine()
    assert centre.spec() is centre.spec()
    zone = ZoneInfo(centre.spec().calendar.timezone)
    assert centre.today() == centre.clock().astimezone(zone).date()


def test_outside_a_flow_run_nothing_is_bound() -> None:
    with flow_run_bound():
        assert "flow_run_id" not in structlog.contextvars.get_contextvars()


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@flow(name="centre-test-child")
@flow_entry
def _child() -> str:
    from prefect.runtime import flow_run

    open_centre()
    get_logger("cardline.test").info("child.says", id_number=ID_NUMBER)
    return str(flow_run.id)


@flow(name="centre-test")
@flow_entry
def _parent(count: int) -> dict[str, str]:
    """Logs before and after a subflow: the parent's id is bound again once the child ends."""
    from prefect.runtime import flow_run

    open_centre()
    log = get_logger("cardline.test")
    log.info("parent.before", count=count)
    child = _child()
    log.info("parent.after")
    return {"parent": str(flow_run.id), "child": child}


def test_every_line_a_flow_run_logs_carries_its_run_id_and_flow(
    prefect_server: None, settings: Settings
) -> None:
    ids = _parent(3)
    assert "flow_run_id" not in structlog.contextvars.get_contextvars()  # unbound at the end
    ours = [r for r in _records(settings) if r.get("logger") == "cardline.test"]
    assert [(r["event"], r["flow_run_id"], r["flow"]) for r in ours] == [
        ("parent.before", ids["parent"], "centre-test"),
        ("child.says", ids["child"], "centre-test-child"),
        ("parent.after", ids["parent"], "centre-test"),
    ]
    assert ids["parent"] != ids["child"]
    assert ours[1]["id_number"] == "********3456"


def test_prefect_still_validates_a_flow_entry_s_parameters(prefect_server: None) -> None:
    from prefect.exceptions import ParameterTypeError

    with pytest.raises(ParameterTypeError):
        _parent("three")  # type: ignore[arg-type]
