"""A recorded history whose parameters are known, for calibration and backtests.

``record_history`` plays a small line (one printer printing jobs of ``batch`` cards, one
encoder, one QC station, a two-hour shift a day) with the processing times, spoilage rates and
printer breakdowns of a known spec (``known_spec``), and records it through the controller's
own operations (``start_prints``, ``finish_stages``): print jobs are batch records (one span
for the whole job), encode and QC are timed per card, spoiled cards go back to print.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from line.db import make_engine, session_scope
from line.models import Application, Card
from line.operations import StageResult, finish_stages, start_prints
from line.spec import LineSpec, default_spec, parse_spec
from line.types import ApplicationState, Outcome, Stage
from schema import upgrade
from sim.clock import WorkClock, working_intervals

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
START = date(2026, 3, 2)


def known_spec(
    *,
    print_time: dict[str, Any] | None = None,
    print_breakdowns: dict[str, Any] | None = None,
    failure_reasons: dict[Stage, str] | None = None,
) -> LineSpec:
    """The truth: the reference centre's spec made small, with known figures (and the
    reason codes ``failure_reasons`` gives, else the devices' commonest)."""
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
    for spoiling, code in (failure_reasons or {}).items():
        data["stages"][spoiling.value]["failure_reason"] = code
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
    recorder = _Recorder(engine, spec, days=days, seed=seed, start=start)
    recorder.receive(days=days, backlog=backlog, per_day=per_day)
    return recorder.play(batch)


class _Recorder:
    """The generator's state: the shift clock, when each machine is free next, the
    applications waiting (by when they are ready in shift time), what was recorded."""

    def __init__(self, engine: Engine, spec: LineSpec, *, days: int, seed: int, start: date):
        self.engine, self.spec = engine, spec
        self.rng = random.Random(seed)
        calendar = spec.calendar
        self.clock = WorkClock(working_intervals(lambda _: calendar, start, days))
        self.origin = datetime.combine(start, datetime.min.time(), tzinfo=ZONE)
        self.stages = {s: spec.stage(s) for s in (Stage.PRINT, Stage.ENCODE, Stage.QC)}
        self.waiting: list[tuple[float, int, int]] = []  # (ready in shift time, seq, app id)
        self.attempts: dict[int, int] = {}
        self.seq = 0
        self.printer = self.encoder = self.qc = 0.0
        self.failures = self.cards = 0
        self.passed: dict[date, int] = {}
        self.results: dict[Stage, list[StageResult]] = {s: [] for s in self.stages}
        self.retry: list[tuple[float, int]] = []
        self.next_fail = math.inf  # shift time of the printer's next failure

    def when(self, w: float, *, start: bool = False) -> datetime:
        """Calendar time of shift time ``w``; a start at a shift's end is the next morning."""
        clock = self.clock
        i = bisect_right(clock.work_after, w)
        if start and i < len(clock.starts):
            t = clock.starts[i] + (w - clock.work_before[i])
        else:
            t = clock.time_at(w)
        return (self.origin + timedelta(seconds=t)).astimezone(UTC)

    def fit(self, w: float, d: float) -> float:
        """Start of a task of ``d`` shift seconds wanted at ``w``: whole within one shift."""
        clock = self.clock
        i = bisect_right(clock.work_after, w)
        if i < len(clock.work_after) and w + d > clock.work_after[i]:
            return clock.work_after[i]
        return w

    def receive(self, *, days: int, backlog: int, per_day: int) -> None:
        """The applications, recorded as received: the backlog the evening before, then
        ``per_day`` a day at random between 07:00 and 17:00."""
        origin = self.origin
        received: list[datetime] = [origin - timedelta(hours=3)] * backlog
        for day in range(days):
            base = origin + timedelta(days=day, hours=7)
            received += [
                base + timedelta(seconds=self.rng.uniform(0, 36_000)) for _ in range(per_day)
            ]
        received.sort()
        with session_scope(self.engine) as session:
            for i, at in enumerate(received):
                app = _application(session, i, at.astimezone(UTC))
                assert app.id is not None
                ready = self.clock.work_at((at - origin).total_seconds())
                heapq.heappush(self.waiting, (ready, app.id, app.id))
                self.attempts[app.id] = 0
        self.seq = len(received) + 1

    def play(self, batch: int) -> Recorded:
        """Print jobs of up to ``batch`` cards until nothing waits or the horizon is past."""
        breakdowns = self.stages[Stage.PRINT].breakdowns
        self.next_fail = (
            math.inf if breakdowns is None else breakdowns.time_between_failures.sample(self.rng)
        )
        while self.waiting and self._job(batch):
            for ready, again in self.retry:
                heapq.heappush(self.waiting, (ready, self.seq, again))
                self.seq += 1
        return Recorded(self.cards, self.passed, self.failures)

    def _repaired_by(self, t: float) -> float:
        """When the printer can start a job wanted at ``t``: after the repairs of the
        failures due by then (noticed at the job's start)."""
        breakdowns = self.stages[Stage.PRINT].breakdowns
        while t >= self.next_fail and breakdowns is not None:
            down = max(self.next_fail, self.printer)
            up = down + breakdowns.time_to_repair.sample(self.rng)
            self.failures += 1
            t = max(t, up)
            self.next_fail = up + breakdowns.time_between_failures.sample(self.rng)
        return t

    def _job(self, batch: int) -> bool:
        """One print job and its cards through encode and QC, recorded through the
        controller's operations; False when the job would end past the horizon."""
        for recorded in self.results.values():
            recorded.clear()
        self.retry.clear()
        t = self._repaired_by(max(self.printer, self.waiting[0][0]))
        job: list[int] = []
        while self.waiting and self.waiting[0][0] <= t and len(job) < batch:
            job.append(heapq.heappop(self.waiting)[2])
        times = [self.stages[Stage.PRINT].service_time.sample(self.rng) for _ in job]
        t = self.fit(t, sum(times))
        end = t + sum(times)
        if end > self.clock.total:
            return False
        self.printer = end
        with session_scope(self.engine) as session:
            started = start_prints(
                session=session, application_ids=job, actor="generator", machine="print-01",
                at=self.when(t, start=True),
            )  # fmt: skip
            self.cards += len(started)
            printed = []
            for card in started:
                assert card.id is not None
                self.attempts[card.application_id] += 1
                if self._outcome(Stage.PRINT, card.id, card.application_id, t, end):
                    printed.append(card)
            self._encode_and_qc(printed, end)
            for stage in self.stages:
                finish_stages(session=session, results=self.results[stage], rework_limit=2)
        return True

    def _encode_and_qc(self, printed: list[Card], end: float) -> None:
        """The printed cards through the encoder and QC, one by one, within the horizon."""
        horizon = self.clock.total
        for card in printed:
            assert card.id is not None
            e = self.stages[Stage.ENCODE].service_time.sample(self.rng)
            begin = self.fit(max(self.encoder, end), e)
            if begin + e > horizon:
                return
            self.encoder = begin + e
            if not self._outcome(Stage.ENCODE, card.id, card.application_id, begin, self.encoder):
                continue
            q = self.stages[Stage.QC].service_time.sample(self.rng)
            begin = self.fit(max(self.qc, self.encoder), q)
            if begin + q > horizon:
                return
            self.qc = begin + q
            if self._outcome(Stage.QC, card.id, card.application_id, begin, self.qc):
                on = self.when(self.qc).astimezone(ZONE).date()
                self.passed[on] = self.passed.get(on, 0) + 1

    def _outcome(self, stage: Stage, card_id: int, app: int, begin: float, finish: float) -> bool:
        """Draw the card's outcome at ``stage`` and keep it to record; a spoiled card's
        application waits again from ``finish``, up to the rework limit."""
        failed = self.rng.random() < self.stages[stage].failure_rate
        self.results[stage].append(
            StageResult(
                card_id,
                stage,
                Outcome.FAIL if failed else Outcome.OK,
                "generator",
                f"{stage.value}-01",
                self.when(begin, start=True),
                self.when(finish),
                self.stages[stage].failure_reason if failed else None,
            )
        )
        if failed and self.attempts[app] <= self.spec.rework_limit:
            self.retry.append((finish, app))
        return not failed


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
