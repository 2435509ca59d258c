"""What both simulation modes are given: the random inputs of one replication, drawn once.

Shift intervals, breakdown schedules, delivery times and arrival counts per hour are drawn
here, from their own streams (``sim.streams``), before either mode runs. The card-by-card
mode and the fast mode then play the same breakdowns, the same deliveries and the same
arrivals, which is most of why they agree; only service times and defects are drawn by each
mode as it goes (per card, or per step in bulk).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from line.types import LINE_ORDER, Stage
from sim.clock import DAY, HOUR, WorkClock, breakdown_schedule, working_intervals
from sim.scenario import Scenario
from sim.streams import Purpose, name_key, np_stream, py_stream, stage_key

BACKLOG_SLICES = 64
"""The opening backlog is split into this many intake slices (oldest first), each with every
class in proportion, so that first-come-first-served interleaves the classes."""


@dataclass(frozen=True, slots=True)
class DemandClass:
    """Applications alike for allocation: one priority group going to one destination."""

    index: int
    group: str
    destination: str
    share: float
    due: date | None

    @property
    def province(self) -> str:
        return self.destination[:3]


@dataclass(frozen=True, slots=True)
class ChipArrival:
    time: float  # seconds from the start
    quantity: int
    name: str


@dataclass(frozen=True)
class Inputs:
    """The random and derived inputs of one replication of one scenario."""

    scenario: Scenario
    seed: int
    replication: int
    clock: WorkClock
    classes: tuple[DemandClass, ...]
    backlog: np.ndarray  # (BACKLOG_SLICES, classes) applications per intake slice
    arrivals: np.ndarray  # (hours, classes) applications arriving in each hour
    deliveries: tuple[ChipArrival, ...]  # sorted by time
    repairs: dict[Stage, list[list[tuple[float, float]]]]  # stage -> machine -> shift time
    machines: dict[Stage, list[tuple[float, int]]]  # stage -> (from second, count)

    @property
    def horizon(self) -> float:
        return self.scenario.days * DAY


def demand_classes(scenario: Scenario) -> tuple[DemandClass, ...]:
    groups, destinations = scenario.demand.groups, scenario.demand.destinations
    g_total, d_total = sum(g.share for g in groups.values()), sum(destinations.values())
    classes: list[DemandClass] = []
    for name, group in groups.items():
        for code, share in destinations.items():
            classes.append(
                DemandClass(
                    len(classes), name, code, group.share / g_total * share / d_total, group.due
                )
            )
    return tuple(classes)


def split(total: int, shares: np.ndarray) -> np.ndarray:
    """``total`` split in proportion to ``shares`` into integers (largest remainder)."""
    exact = total * shares / shares.sum()
    whole = np.floor(exact).astype(np.int64)
    short = int(total - whole.sum())
    if short:
        order = np.argsort(-(exact - whole), kind="stable")
        whole[order[:short]] += 1
    return np.asarray(whole, dtype=np.int64)


def backlog_slices(scenario: Scenario, classes: tuple[DemandClass, ...]) -> np.ndarray:
    shares = np.array([c.share for c in classes])
    per_slice = split(scenario.demand.backlog, np.ones(BACKLOG_SLICES))
    return np.stack([split(int(n), shares) for n in per_slice])


def hourly_arrivals(
    scenario: Scenario, classes: tuple[DemandClass, ...], rng: np.random.Generator
) -> np.ndarray:
    """Applications arriving in each hour of the run, per class: Poisson counts with the day's
    mean (``Demand.per_day_on``) times the weekly factor spread by the hourly profile, split
    multinomially."""
    demand = scenario.demand
    hours = np.array(demand.hour_weights())
    dates = [scenario.start + timedelta(days=d) for d in range(scenario.days)]
    days = np.array([demand.day_factor(day) for day in dates])
    rates = np.array([demand.per_day_on(day) for day in dates]) if demand.changes else None
    per_day = demand.per_day if rates is None else rates[:, None]
    means = (per_day * days[:, None] * hours[None, :]).ravel()
    totals = rng.poisson(means)
    shares = np.array([c.share for c in classes])
    return np.asarray(rng.multinomial(totals, shares / shares.sum()), dtype=np.int64)


def chip_arrivals(scenario: Scenario, seed: int, replication: int) -> tuple[ChipArrival, ...]:
    """Each delivery's time: its date (00:00) plus the known slip plus its random delay, drawn
    from the delivery's own stream (keyed by its name)."""
    result = []
    for name, delivery in scenario.chips.deliveries.items():
        delay = 0.0
        if delivery.delay is not None:
            rng = py_stream(seed, replication, Purpose.DELIVERIES, name_key(name))
            delay = delivery.delay.sample(rng)
        days = (delivery.date - scenario.start).days + delivery.slip_days + delay
        result.append(ChipArrival(max(0.0, days * DAY), delivery.quantity, name))
    return tuple(sorted(result, key=lambda a: (a.time, a.name)))


def repair_schedules(
    scenario: Scenario, seed: int, replication: int, clock: WorkClock
) -> dict[Stage, list[list[tuple[float, float]]]]:
    """Per stage, per machine (numbered from 0), its repairs in shift time; a machine's
    stream is keyed by (stage, machine number), so more machines leave the others' alone."""
    result: dict[Stage, list[list[tuple[float, float]]]] = {}
    for stage in LINE_ORDER:
        breakdowns = scenario.spec.stage(stage).breakdowns
        result[stage] = [
            breakdown_schedule(
                breakdowns,
                py_stream(seed, replication, Purpose.BREAKDOWNS, stage_key(stage), machine),
                clock.total,
            )
            for machine in range(scenario.max_machines(stage))
        ]
    return result


def draw_inputs(scenario: Scenario, seed: int, replication: int) -> Inputs:
    clock = WorkClock(working_intervals(scenario.calendar_on, scenario.start, scenario.days))
    classes = demand_classes(scenario)
    arrivals = hourly_arrivals(scenario, classes, np_stream(seed, replication, Purpose.ARRIVALS))
    assert arrivals.shape[0] * HOUR == scenario.days * DAY
    return Inputs(
        scenario=scenario,
        seed=seed,
        replication=replication,
        clock=clock,
        classes=classes,
        backlog=backlog_slices(scenario, classes),
        arrivals=arrivals,
        deliveries=chip_arrivals(scenario, seed, replication),
        repairs=repair_schedules(scenario, seed, replication, clock),
        machines={stage: scenario.machines_from(stage) for stage in LINE_ORDER},
    )
