"""What a manager asks first, from the stage event record: today's cards against the plan,
the top spoilage reasons, the machines out of service. Days are the centre's own (its line
spec's time zone), not UTC days: a shift that starts at 07:00 in Hanoi is one day.

The plan of a day is what the line spec says the line can make that day: its bottleneck
stage's capacity (machines x availability / mean service time) times that day's working
hours of the shift calendar (none on a holiday or a day off). Counts only, no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from line.machines import MachineStatus, machines
from line.models import DispatchBatch, StageEvent
from line.reasons import find
from line.spec import LineSpec
from line.types import Outcome, Stage


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """Cards spoiled (or held) for one reason in a window."""

    code: str
    stage: str
    cards: int
    meaning: str


@dataclass(frozen=True, slots=True)
class DayAgainstPlan:
    """Good cards (passed QC) on one local day, against the line's plan for that day."""

    day: date
    good: int
    planned: int
    bottleneck: str

    @property
    def share(self) -> float | None:
        return self.good / self.planned if self.planned else None


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The UTC instants where ``day`` starts and ends in ``zone`` (DST-safe: each midnight
    is resolved on its own)."""
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def planned_cards(spec: LineSpec, day: date) -> int:
    """Good cards the line can make on ``day`` by its spec (0 on a day it does not work)."""
    hours = spec.calendar.working_seconds(day) / 3600.0
    return int(spec.capacity_per_hour * hours)


def today_against_plan(*, session: Session, spec: LineSpec, now: datetime) -> DayAgainstPlan:
    """Cards that passed QC since the centre's midnight, and the plan of the day."""
    zone = ZoneInfo(spec.calendar.timezone)
    day = now.astimezone(zone).date()
    start, _ = day_bounds(day, zone)
    good = session.exec(
        select(sa.func.count())
        .select_from(StageEvent)
        .where(
            StageEvent.stage == Stage.QC,
            StageEvent.outcome == Outcome.OK,
            col(StageEvent.ended_at) >= start,
            col(StageEvent.ended_at) <= now,
        )
    ).one()
    return DayAgainstPlan(day, int(good), planned_cards(spec, day), spec.bottleneck.value)


def top_spoilage(
    *, session: Session, since: datetime, until: datetime, top: int = 5
) -> list[ReasonCount]:
    """The reasons cards failed a stage in the window, most cards first (ties by code)."""
    rows = session.exec(
        select(StageEvent.reason_code, StageEvent.stage, sa.func.count())
        .where(
            StageEvent.outcome == Outcome.FAIL,
            col(StageEvent.ended_at) > since,
            col(StageEvent.ended_at) <= until,
        )
        .group_by(StageEvent.reason_code, StageEvent.stage)
    ).all()
    counts = [
        ReasonCount(
            code or "-",
            Stage(stage).value,
            int(cards),
            (reason.meaning if (reason := find(code or "")) is not None else ""),
        )
        for code, stage, cards in rows
    ]
    counts.sort(key=lambda r: (-r.cards, r.code))
    return counts[:top]


def out_of_service(*, session: Session) -> list[MachineStatus]:
    """The machines a supervisor has taken out (or the line took out after faults)."""
    return [machine for machine in machines(session=session) if not machine.in_service]


def stations_dispatched_since(*, session: Session, since: datetime) -> set[str]:
    """The police stations a batch went to at or after ``since``."""
    return set(
        session.exec(
            select(DispatchBatch.destination).where(col(DispatchBatch.dispatched_at) >= since)
        ).all()
    )
