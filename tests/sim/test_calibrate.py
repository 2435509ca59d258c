"""Calibration against a recorded history whose parameters are known.

The history (``tests.sim.recorded.record_history``) is played from a known spec through the
controller's operations. ``calibrate`` must then recover the figures: means within three
standard errors, failure rates within a 99.9 % binomial band, the printer's repair time and
time between failures within three standard errors (plus, for the latter, the half job a
failure waits for in this generator), and the reason codes exactly as recorded.

The history is written to a SQLite file once per module (about 3,000 cards).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import select

from line import reasons
from line.db import session_scope
from line.models import StageEvent
from line.spec import default_spec, load_spec
from line.types import Outcome, Stage
from sim.calibrate import calibrate, calibrate_command, failure_reason
from tests.sim.recorded import (
    BREAKDOWNS,
    START,
    ZONE,
    Recorded,
    fresh_engine,
    known_spec,
    record_history,
)

TRUTH = known_spec(print_breakdowns=BREAKDOWNS)
BASE = default_spec().model_copy(update={"calendar": TRUTH.calendar})
"""What is calibrated: the reference centre's figures, on the calendar the line worked to."""


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Recorded]]:
    engine = fresh_engine(tmp_path_factory.mktemp("history"))
    recorded = record_history(engine, TRUTH, days=4, backlog=3000, per_day=0, seed=7)
    yield engine, recorded
    engine.dispose()


def _calibrated(engine: Engine, **kwargs: Any) -> Any:
    with session_scope(engine) as session:
        return calibrate(session=session, base=BASE, **kwargs)


def test_service_times_are_recovered_within_three_standard_errors(
    history: tuple[Engine, Recorded],
) -> None:
    engine, recorded = history
    assert recorded.cards > 2500
    fitted = _calibrated(engine)
    for stage in (Stage.PRINT, Stage.ENCODE):
        truth = TRUTH.stage(stage).service_time
        fit = fitted.stage(stage).service
        se = math.sqrt(truth.variance / fit.cards)
        assert abs(fit.mean - truth.mean) <= 3 * se, (stage, fit.mean, truth.mean, se)
        # the per-card spread is recovered too, from batch means at print
        assert fit.sd == pytest.approx(math.sqrt(truth.variance), rel=0.15), stage
        spec_time = fitted.spec.stage(stage).service_time
        assert spec_time.kind == "lognormal" and spec_time.mean == pytest.approx(fit.mean)
    # print jobs are batch records; encode is timed card by card
    assert fitted.stage(Stage.PRINT).service.batch_records > 0
    assert fitted.stage(Stage.PRINT).service.groups < fitted.stage(Stage.PRINT).service.cards
    assert fitted.stage(Stage.ENCODE).service.batch_records == 0
    # a constant time is fitted as constant
    qc_time = fitted.spec.stage(Stage.QC).service_time
    assert qc_time.kind == "deterministic" and qc_time.mean == pytest.approx(4.0, abs=1e-6)


def test_failure_rates_are_recovered_within_a_binomial_band(
    history: tuple[Engine, Recorded],
) -> None:
    engine, _ = history
    fitted = _calibrated(engine)
    for stage, reason in (
        (Stage.PRINT, "print.jam"),
        (Stage.ENCODE, "encode.memory_failure"),
        (Stage.QC, "qc.reject"),
    ):
        p = TRUTH.stage(stage).failure_rate
        fit = fitted.stage(stage).defects
        band = 3.29 * math.sqrt(p * (1 - p) / fit.outcomes)  # 99.9 %
        assert abs(fit.rate - p) <= band, (stage, fit.rate, p)
        assert fit.low <= fit.rate <= fit.high
        assert fit.reasons == {reason: fit.failures}
        assert fitted.spec.stage(stage).failure_rate == fit.rate
        assert fitted.spec.stage(stage).failure_reason == reason
    # the print "started" markers are not outcomes: print saw one outcome per card body
    print_fit = fitted.stage(Stage.PRINT)
    assert print_fit.defects.outcomes == print_fit.events // 2


def test_printer_breakdowns_are_recovered_from_stoppages(
    history: tuple[Engine, Recorded],
) -> None:
    engine, recorded = history
    fitted = _calibrated(engine)
    fit = fitted.stage(Stage.PRINT).breakdowns
    assert fit.stoppages >= 0.8 * recorded.failures  # a few end in the night and are not seen
    assert fit.stoppages <= recorded.failures
    repair = BREAKDOWNS["time_to_repair"]
    assert abs(fit.repair_mean - repair["mean"]) <= 3 * repair["sd"] / math.sqrt(fit.stoppages)
    # up time per failure: exponential (se = mean / sqrt(n)), plus up to half a job (~30 s)
    # that a failure waits for here
    tbf = BREAKDOWNS["time_between_failures"]["mean"]
    se = tbf / math.sqrt(fit.stoppages)
    assert tbf - 3 * se <= fit.between_failures_mean <= tbf + 3 * se + 60
    spec_breakdowns = fitted.spec.stage(Stage.PRINT).breakdowns
    assert spec_breakdowns is not None
    assert spec_breakdowns.time_to_repair.mean == pytest.approx(fit.repair_mean)
    assert fitted.spec.stage(Stage.PRINT).availability == pytest.approx(fit.availability)


def test_what_the_record_cannot_support_is_kept_from_the_base_and_said(
    history: tuple[Engine, Recorded],
) -> None:
    engine, _ = history
    base = BASE
    fitted = _calibrated(engine)
    # the encoder never stopped with work waiting: its base breakdowns stay, and the report
    # says how much machine time showed none
    encode = fitted.stage(Stage.ENCODE)
    assert encode.breakdowns.stoppages == 0
    assert fitted.spec.stage(Stage.ENCODE).breakdowns == base.stage(Stage.ENCODE).breakdowns
    assert any("breakdowns" in k and "0 stoppages" in k for k in encode.kept)
    # nothing was dispatched: dispatch is the base's, said figure by figure
    dispatch = fitted.stage(Stage.DISPATCH)
    assert fitted.spec.stage(Stage.DISPATCH) == base.stage(Stage.DISPATCH).model_copy(
        update={"source": fitted.spec.stage(Stage.DISPATCH).source}
    )
    assert [k.split(" ")[0] for k in dispatch.kept[:2]] == ["service", "failure"]
    assert "hand-overs" in dispatch.kept[2]
    # machine counts are reported, never changed
    assert fitted.stage(Stage.PRINT).machines_seen == ("print-01",)
    assert fitted.spec.stage(Stage.PRINT).machines == base.stage(Stage.PRINT).machines
    assert "kept from base" in fitted.summary()


def test_too_few_events_keep_the_base_on_each_database(engine: Engine) -> None:
    spec = known_spec()
    record_history(engine, spec, days=1, backlog=12, per_day=0, batch=4, seed=3)
    with session_scope(engine) as session:
        fitted = calibrate(session=session, base=default_spec())
    assert fitted.spec == default_spec().model_copy(
        update={"stages": fitted.spec.stages, "description": fitted.spec.description}
    )
    for stage in (Stage.PRINT, Stage.ENCODE, Stage.QC):
        report = fitted.stage(stage)
        assert 0 < report.service.cards < 30
        assert fitted.spec.stage(stage).service_time == default_spec().stage(stage).service_time
        assert fitted.spec.stage(stage).failure_rate == default_spec().stage(stage).failure_rate
        assert len(report.kept) == 3 and "only" in report.kept[0]


def test_the_period_limits_the_events_used(history: tuple[Engine, Recorded]) -> None:
    engine, recorded = history
    first_day = datetime.combine(START, datetime.min.time(), tzinfo=ZONE)
    fitted = _calibrated(engine, since=first_day, until=first_day + timedelta(days=1))
    whole = _calibrated(engine)
    one_day = fitted.stage(Stage.QC).defects.outcomes
    assert 0 < one_day < whole.stage(Stage.QC).defects.outcomes / 2
    assert fitted.last_event is not None and fitted.last_event <= first_day + timedelta(days=1)
    with pytest.raises(ValueError, match="aware"):
        _calibrated(engine, since=datetime(2026, 3, 2))  # noqa: DTZ001


def test_the_written_spec_loads_back(history: tuple[Engine, Recorded], tmp_path: Path) -> None:
    engine, _ = history
    out = tmp_path / "calibrated.yaml"
    summary = calibrate_command(engine, BASE, None, None, out)
    loaded = load_spec(out)
    fitted = _calibrated(engine)
    assert loaded == fitted.spec
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["stages"]["print"]["breakdowns"]
    assert "print:" in summary and f"wrote {out}" in summary


def _recorded_failure_codes(engine: Engine, stage: Stage) -> Counter[str]:
    """The reason codes of ``stage``'s failed events, read from the record itself."""
    with session_scope(engine) as session:
        codes = session.exec(
            select(StageEvent.reason_code).where(
                StageEvent.stage == Stage(stage.value), StageEvent.outcome == Outcome.FAIL
            )
        ).all()
    return Counter(code for code in codes if code is not None)


def _assert_codes_as_recorded(engine: Engine) -> None:
    """Every reason code of the calibrated spec is in the catalogue, and the codes of the
    report and the spec are the recorded ones, unrenamed."""
    fitted = _calibrated(engine)
    for stage in (Stage.PRINT, Stage.ENCODE, Stage.QC, Stage.DISPATCH):
        code = fitted.spec.stage(stage).failure_reason
        assert reasons.find(code) is not None, (stage, code)
        written = yaml.safe_load(fitted.to_yaml())["stages"][stage.value]["failure_reason"]
        assert written == code
        recorded = _recorded_failure_codes(engine, stage)
        assert fitted.stage(stage).defects.reasons == dict(recorded), stage
        if recorded:
            assert code == recorded.most_common(1)[0][0], stage


def test_the_spec_holds_the_recorded_reason_codes_of_the_catalogue(
    history: tuple[Engine, Recorded],
) -> None:
    engine, _ = history
    _assert_codes_as_recorded(engine)


def test_family_and_data_codes_are_written_as_recorded(tmp_path: Path) -> None:
    # a chip-error code of encode and a data group's code of a family at QC, as the
    # devices report them: the spec carries them as they are
    spec = known_spec(
        failure_reasons={Stage.ENCODE: "encode.chip_defect", Stage.QC: "qc.dg.hash.DG2"}
    )
    engine = fresh_engine(tmp_path)
    try:
        record_history(engine, spec, days=2, backlog=900, per_day=0, seed=5)
        assert _recorded_failure_codes(engine, Stage.QC).keys() == {"qc.dg.hash.DG2"}
        _assert_codes_as_recorded(engine)
        fitted = _calibrated(engine)
        assert fitted.spec.stage(Stage.QC).failure_reason == "qc.dg.hash.DG2"
        assert fitted.spec.stage(Stage.ENCODE).failure_reason == "encode.chip_defect"
    finally:
        engine.dispose()


def test_the_failure_reason_is_a_catalogue_code_of_the_stage_as_recorded() -> None:
    # the most common code that may spoil a card at the stage; ties go to the first code
    assert failure_reason(Stage.QC, {"qc.reject": 3, "qc.dg.hash.DG2": 5}) == "qc.dg.hash.DG2"
    assert failure_reason(Stage.QC, {"qc.reject": 4, "qc.face.qr": 4}) == "qc.face.qr"
    # a code outside the catalogue (an old record's), or one of another stage, is never
    # written, nor renamed into one that is: the base spec's reason then stays
    assert failure_reason(Stage.PRINT, {"p.x": 9, "print.jam": 1}) == "print.jam"
    assert failure_reason(Stage.PRINT, {"p.x": 9}) is None
    assert failure_reason(Stage.PRINT, {"qc.reject": 9}) is None
    assert failure_reason(Stage.PRINT, {}) is None
