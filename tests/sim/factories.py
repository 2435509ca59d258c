"""Scenarios for the simulator tests, built from the shipped line spec by overrides."""

from __future__ import annotations

from typing import Any

from sim.scenario import Scenario, deep_merge, parse_scenario

ROUND_THE_CLOCK = {
    "working_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "shifts": [{"name": "all-day", "start": "00:00", "end": "00:00"}],
    "holidays": [],
}
"""A calendar with no off time: a queueing formula's time is the simulator's shift time."""


def stage(machines: int, service: dict[str, Any], failure_rate: float = 0.0) -> dict[str, Any]:
    """A stage override with no breakdowns (availability 1)."""
    return {
        "machines": machines,
        "service_time": service,
        "failure_rate": failure_rate,
        "availability": 1.0,
        "breakdowns": None,
    }


def exp(mean: float) -> dict[str, Any]:
    return {"kind": "exponential", "mean": mean}


INSTANT = stage(50, {"kind": "deterministic", "value": 0.001})
"""A stage that never makes anyone wait (50 machines, a millisecond a card)."""


def open_network(
    stages: dict[str, dict[str, Any]],
    *,
    per_second: float,
    days: int,
    rework_limit: int = 2,
    **extra: Any,
) -> Scenario:
    """Poisson arrivals at ``per_second`` into the line round the clock, unlimited chips,
    no backlog; stages not given are ``INSTANT``."""
    line: dict[str, Any] = {
        "rework_limit": rework_limit,
        "calendar": ROUND_THE_CLOCK,
        "allocation": {"policy": "fifo", "priority_groups": []},
        "stages": {
            name: stages.get(name, INSTANT) for name in ("print", "chip-encode", "qc", "dispatch")
        },
    }
    data: dict[str, Any] = {
        "name": "open-network",
        "start": "2021-03-01",
        "days": days,
        "line": line,
        "demand": {"backlog": 0, "per_day": per_second * 86_400},
        "chips": {"unlimited": True},
    }
    return parse_scenario(deep_merge(data, extra))


def campaign(**overrides: Any) -> Scenario:
    """A small campaign on the reference centre's stages at a tenth of its machines (its
    breakdowns, two shifts, the priority policy): about 16,500 cards a day of capacity, a
    backlog of 60,000 and 4,000 a day in office hours, 25,000 chips in stock and 40,000 due
    on the fourth day (up to a day late). The line stalls for chips twice."""
    data: dict[str, Any] = {
        "name": "small-campaign",
        "start": "2021-03-01",
        "days": 8,
        "line": {
            "stages": {
                "print": {"machines": 1},
                "chip-encode": {"machines": 2},
                "qc": {"machines": 1},
                "dispatch": {"machines": 1},
            }
        },
        "target": {"cards": 50_000, "by": "2021-03-08"},
        "demand": {
            "backlog": 60_000,
            "per_day": 4_000,
            "hourly_profile": [0] * 7 + [1] * 10 + [0] * 7,
            "groups": {"elderly": {"share": 0.1}, "general": {"share": 0.9}},
            "destinations": {"001": 0.4, "079": 0.6},
        },
        "chips": {
            "opening_stock": 25_000,
            "deliveries": {
                "first": {
                    "date": "2021-03-04",
                    "quantity": 40_000,
                    "delay": {"kind": "uniform", "low": 0, "high": 1},
                }
            },
        },
    }
    return parse_scenario(deep_merge(data, overrides))
