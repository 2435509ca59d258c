"""Calibration against a recorded history whose parameters are known.

``record_history`` plays a small line (one printer printing jobs of ``batch`` cards, one
encoder, one QC station, a two-hour shift a day) with the processing times, spoilage rates and
printer breakdowns of a known spec, and records it through the controller's own operations
(``start_prints``, ``finish_stages``): print jobs are batch records (one span for the whole
job), encode and QC are timed per card, spoiled cards go back to print. ``calibrate`` must then
recover the figures: means within three standard errors, failure rates within a 99.9 %
binomial band, the printer's repair time and time between failures within three standard
errors (plus, for the latter, the half job a failure waits for in this generator).

The history is written to a SQLite file once per module (about 3,000 cards).
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import Session

from line.db import make_engine, session_scope
from line.models import Application
from line.operations import StageResult, finish_stages, start_prints
from line.spec import LineSpec, default_spec, load_spec, parse_spec
from line.types import ApplicationState, Outcome, Stage
from schema import upgrade
from sim.calibrate import calibrate, calibrate_command
from sim.clock import WorkClock, working_intervals

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
START = date(2026, 3, 2)


def known_spec(
    *,
    print_time: dict[str, Any] | None = None,
    print_breakdowns: dict[str, Any] | None = None,
) -> LineSpec:
    """The truth: the reference centre's spec made small, with known figures."""
    data = default_spec().model_dump(mode="json", by_alias=True)
    data["name"] = "known"
    data["rework_limit"] = 2
    data["allocation"] = {"policy": "fifo", "priority_groups": []}
    data["calendar"] = {
        "timezone": "Asia/Ho_Chi_Minh",
        "working_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "shifts": [{"name": "morning", "start": "08:00", "end": "10:00"}],
        "holidays": [],
    }

    def stage(service: dict[str, Any], rate: float, reason: str) -> dict[str, Any]:
        return {
            "machines": 1,
            "service_time": service,
            "failure_rate": rate,
            "failure_reason": reason,
            "availability": 1.0,
        }

    data["stages"] = {
        "print": stage(
            print_time or {"kind": "lognormal", "mean": 6.0, "sd": 1.5}, 0.02, "print.jam"
        ),
        "chip-encode": stage(
            {"kind": "lognormal", "mean": 5.0, "sd": 1.0}, 0.05, "encode.memory_failure"
        ),
        "qc": stage({"kind": "deterministic", "value": 4.0}, 0.03, "qc.reject"),
        "dispatch": stage({"kind": "deterministic", "value": 0.5}, 0.0, "dispatch.damaged"),
    }
    if print_breakdowns is not None:
        data["stages"]["print"]["breakdowns"] = print_breakdowns
        del data["stages"]["print"]["availability"]
    return parse_spec(data)


BREAKDOWNS: dict[str, dict[str, Any]] = {
    "time_between_failures": {"kind": "exponential", "mean": 400.0},
    "time_to_repair": {"kind": "lognormal", "mean": 150.0, "sd": 40.0},
}


@dataclass(frozen=True)
class Recorded:
    cards: int  # card bodies started
    passed_by_day: dict[date, int]  # local day -> cards that passed QC
    failures: int  # printer breakdowns played


def record_history(
    engine: Engine,
    spec: LineSpec,
    *,
    days: int,
    backlog: int,
    per_day: int,
    batch: int = 10,
    seed: int = 1,
    start: date = START,
) -> Recorded:
    """Play ``spec`` (one machine per stage) for ``days`` from ``start`` and record it.

    Shift time (the calendar's) drives the machines; a task that would run past the end of a
    shift starts at the next shift instead. The printer fails after an exponential up time
    (from the spec's breakdowns); a failure is noticed at the next job start, and the printer
    is then repaired before the job. ``backlog`` applications were received the evening
    before; ``per_day`` arrive each day at random between 07:00 and 17:00.
    """
    rng = random.Random(seed)
    calendar = spec.calendar
    clock = WorkClock(working_intervals(lambda _: calendar, start, days))
    origin = datetime.combine(start, datetime.min.time(), tzinfo=ZONE)

    def when(w: float, *, start: bool = False) -> datetime:
        """Calendar time of shift time ``w``; a start at a shift's end is the next morning."""
        i = bisect_right(clock.work_after, w)
        if start and i < len(clock.starts):
            t = clock.starts[i] + (w - clock.work_before[i])
        else:
            t = clock.time_at(w)
        return (origin + timedelta(seconds=t)).astimezone(UTC)

    def fit(w: float, d: float) -> float:
        """Start of a task of ``d`` shift seconds wanted at ``w``: whole within one shift."""
        i = bisect_right(clock.work_after, w)
        if i < len(clock.work_after) and w + d > clock.work_after[i]:
            return clock.work_after[i]
        return w

    stages = {s: spec.stage(s) for s in (Stage.PRINT, Stage.ENCODE, Stage.QC)}
    breakdowns = stages[Stage.PRINT].breakdowns
    received: list[datetime] = [origin - timedelta(hours=3)] * backlog
    for day in range(days):
        base = origin + timedelta(days=day, hours=7)
        received += [base + timedelta(seconds=rng.uniform(0, 36_000)) for _ in range(per_day)]
    received.sort()
    waiting: list[tuple[float, int, int]] = []  # (ready in shift time, seq, application id)
    attempts: dict[int, int] = {}
    with session_scope(engine) as session:
        for i, at in enumerate(received):
            app = _application(session, i, at.astimezone(UTC))
            assert app.id is not None
            ready = clock.work_at((at - origin).total_seconds())
            heapq.heappush(waiting, (ready, app.id, app.id))
            attempts[app.id] = 0
    seq = len(received) + 1
    printer = encoder = qc = 0.0
    next_fail = math.inf if breakdowns is None else breakdowns.time_between_failures.sample(rng)
    failures = cards = 0
    passed: dict[date, int] = {}
    horizon = clock.total
    results: dict[Stage, list[StageResult]] = {s: [] for s in stages}
    retry: list[tuple[float, int]] = []
    while waiting:
        for recorded in results.values():
            recorded.clear()
        retry.clear()
        t = max(printer, waiting[0][0])
        while t >= next_fail and breakdowns is not None:
            down = max(next_fail, printer)
            up = down + breakdowns.time_to_repair.sample(rng)
            failures += 1
            t = max(t, up)
            next_fail = up + breakdowns.time_between_failures.sample(rng)
        job: list[int] = []
        while waiting and waiting[0][0] <= t and len(job) < batch:
            job.append(heapq.heappop(waiting)[2])
        times = [stages[Stage.PRINT].service_time.sample(rng) for _ in job]
        t = fit(t, sum(times))
        end = t + sum(times)
        if end > horizon:
            break
        printer = end

        def outcome(stage: Stage, card_id: int, app: int, begin: float, finish: float) -> bool:
            failed = rng.random() < stages[stage].failure_rate
            results[stage].append(
                StageResult(
                    card_id,
                    stage,
                    Outcome.FAIL if failed else Outcome.OK,
                    "generator",
                    f"{stage.value}-01",
                    when(begin, start=True),
                    when(finish),
                    stages[stage].failure_reason if failed else None,
                )
            )
            if failed and attempts[app] <= spec.rework_limit:
                retry.append((finish, app))
            return not failed

        with session_scope(engine) as session:
            started = start_prints(
                session=session, application_ids=job, actor="generator", machine="print-01",
                at=when(t, start=True),
            )  # fmt: skip
            cards += len(started)
            printed = []
            for card in started:
                assert card.id is not None
                attempts[card.application_id] += 1
                if outcome(Stage.PRINT, card.id, card.application_id, t, end):
                    printed.append(card)
            for card in printed:
                assert card.id is not None
                e = stages[Stage.ENCODE].service_time.sample(rng)
                begin = fit(max(encoder, end), e)
                if begin + e > horizon:
                    break
                encoder = begin + e
                if not outcome(Stage.ENCODE, card.id, card.application_id, begin, encoder):
                    continue
                q = stages[Stage.QC].service_time.sample(rng)
                begin = fit(max(qc, encoder), q)
                if begin + q > horizon:
                    break
                qc = begin + q
                if outcome(Stage.QC, card.id, card.application_id, begin, qc):
                    on = when(qc).astimezone(ZONE).date()
                    passed[on] = passed.get(on, 0) + 1
            for stage in stages:
                finish_stages(session=session, results=results[stage], rework_limit=2)
        for ready, again in retry:
            heapq.heappush(waiting, (ready, seq, again))
            seq += 1
    return Recorded(cards, passed, failures)


def _application(session: Session, i: int, at: datetime) -> Application:
    application = Application(
        id_number=f"079{i:09d}",
        full_name="Nguyễn Thị Ánh Tuyết",
        date_of_birth=date(1990, 1, 1),
        sex="F",
        nationality="Việt Nam",
        place_of_origin="Hà Nội",
        place_of_residence="Hà Nội",
        photo_path="/photos/x.jpg",
        photo_sha256="0" * 64,
        destination=f"0{i % 3}1-0001",
        state=ApplicationState.APPROVED,
        received_at=at,
        updated_at=at,
    )
    session.add(application)
    session.flush()
    return application


def fresh_engine(directory: Path) -> Engine:
    engine = make_engine(f"sqlite:///{directory / 'cardline.db'}")
    upgrade(engine)
    return engine


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
