"""Backtest: a recorded period made from a known spec is replayed by the simulator.

The record is played by ``record_history`` (tests/sim/recorded.py) from a known spec,
through the controller's operations. Without breakdowns, the backtest of its last three days
with that same spec must agree with it (total within the prediction interval or 5 %), and a
spec with half the printer's capacity (the bottleneck) must clearly disagree. With printer
breakdowns, the record is one realisation of them (and the generator notices a failure only
at the next job): a spec calibrated from the period (in-sample) must then agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from line.db import session_scope
from line.spec import LineSpec, parse_spec
from line.types import Stage
from sim.backtest import Backtest, backtest, backtest_command, backtest_summary
from sim.calibrate import calibrate
from tests.sim.recorded import (
    BREAKDOWNS,
    START,
    ZONE,
    Recorded,
    fresh_engine,
    known_spec,
    record_history,
)

TRUTH = known_spec()
BREAKING = known_spec(print_breakdowns=BREAKDOWNS)
T0 = datetime.combine(START + timedelta(days=1), datetime.min.time(), tzinfo=ZONE)
T1 = T0 + timedelta(days=3)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Recorded]]:
    engine = fresh_engine(tmp_path_factory.mktemp("backtest"))
    recorded = record_history(engine, TRUTH, days=4, backlog=4300, per_day=150, seed=11)
    yield engine, recorded
    engine.dispose()


@pytest.fixture(scope="module")
def breaking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Recorded]]:
    engine = fresh_engine(tmp_path_factory.mktemp("breaking"))
    recorded = record_history(engine, BREAKING, days=4, backlog=3300, per_day=150, seed=11)
    yield engine, recorded
    engine.dispose()


def _backtest(engine: Engine, spec: LineSpec, **kwargs: Any) -> Backtest:
    with session_scope(engine) as session:
        return backtest(
            session=session, spec=spec, start=T0, end=T1, replications=5, workers=1, **kwargs
        )


def test_the_known_spec_reproduces_the_recorded_throughput(
    history: tuple[Engine, Recorded],
) -> None:
    engine, recorded = history
    result = _backtest(engine, TRUTH)
    expected = sum(n for day, n in recorded.passed_by_day.items() if day >= T0.date())
    assert result.recorded_total == expected > 1500
    assert result.scenario.days == 3 and result.scenario.start == T0.date()
    # the opening backlog is what waited or was on the line at midnight; arrivals by day
    assert result.backlog_waiting > 1000 and result.backlog_on_line >= 0
    assert result.arrivals == 3 * 150
    assert result.chips == "unlimited"
    assert result.agrees, (result.recorded_total, result.simulated_total, result.prediction)
    assert result.relative_error is not None and abs(result.relative_error) < 0.05
    for day in result.days:
        assert day.recorded == recorded.passed_by_day[day.date]
        assert day.relative_error is not None and abs(day.relative_error) < 0.10


def test_half_the_bottleneck_capacity_clearly_disagrees(history: tuple[Engine, Recorded]) -> None:
    engine, _ = history
    data = TRUTH.model_dump(mode="json", by_alias=True)
    data["stages"]["print"]["service_time"] = {
        "kind": "lognormal",
        "mean": 12.0,
        "sd": 3.0,
    }  # half of 6 s
    result = _backtest(engine, parse_spec(data))
    assert not result.agrees
    assert not result.within_prediction
    assert result.relative_error is not None and result.relative_error < -0.3


def test_the_summary_is_json_and_the_command_runs_it(history: tuple[Engine, Recorded]) -> None:
    engine, _ = history
    summary = backtest_command(engine, TRUTH, T0, T1, replications=2)
    again = json.loads(json.dumps(summary))
    assert again["total"]["recorded"] == summary["total"]["recorded"] > 0
    assert [d["date"] for d in again["daily"]] == [
        (T0.date() + timedelta(days=i)).isoformat() for i in range(3)
    ]
    assert set(again["total"]) >= {"simulated", "prediction", "relative_error", "agrees"}
    assert backtest_summary(_backtest(engine, TRUTH))["inputs"]["arrivals"] == 450


def test_a_period_must_be_aware_and_at_least_a_day(history: tuple[Engine, Recorded]) -> None:
    engine, _ = history
    with session_scope(engine) as session, pytest.raises(ValueError, match="aware"):
        backtest(session=session, spec=TRUTH, start=T0.replace(tzinfo=None), end=T1)
    with session_scope(engine) as session, pytest.raises(ValueError, match="one day"):
        backtest(session=session, spec=TRUTH, start=T0, end=T0)


def test_a_spec_calibrated_from_the_record_reproduces_it(
    breaking: tuple[Engine, Recorded],
) -> None:
    engine, _ = breaking
    with session_scope(engine) as session:
        # in-sample: the breakdowns this record realised in the period (one day before it saw
        # more failures by chance and would predict ~10 % less)
        fitted = calibrate(session=session, base=BREAKING, since=T0, until=T1)
    assert fitted.spec.stage(Stage.PRINT).breakdowns is not None
    result = _backtest(engine, fitted.spec)
    assert result.agrees, (result.recorded_total, result.simulated_total, result.prediction)
