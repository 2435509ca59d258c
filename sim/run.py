"""One entry point for both modes, and replications in parallel.

See the package docstring (``sim/__init__.py``) for when each mode is the right one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Literal

from sim.cards import CardLine
from sim.clock import DAY
from sim.fast import FastLine
from sim.inputs import draw_inputs
from sim.results import RunResult
from sim.scenario import Scenario
from sim.tally import Tally, finish

Mode = Literal["cards", "fast", "auto"]

AUTO_FAST_ABOVE = 1_500_000
"""``mode="auto"`` runs card by card up to this many expected applications (backlog plus
mean arrivals), in the fast mode above: card by card runs ~25,000-30,000 cards/s here."""


def pick_mode(scenario: Scenario, mode: Mode) -> Literal["cards", "fast"]:
    if mode == "auto":
        return "fast" if scenario.expected_cards > AUTO_FAST_ABOVE else "cards"
    if mode not in ("cards", "fast"):
        raise ValueError(f"mode must be 'cards', 'fast' or 'auto', not {mode!r}")
    return mode


def simulate(
    scenario: Scenario,
    *,
    seed: int = 1,
    replication: int = 0,
    mode: Mode = "auto",
    warmup_days: float = 0.0,
) -> RunResult:
    """Run one replication of ``scenario``. Deterministic in (scenario, seed, replication,
    mode): the random streams are keyed by them (``sim.streams``), nothing else.

    ``warmup_days``: stage statistics (waits, queues, utilisation) count from then on, for
    steady-state questions; daily figures and totals always cover the whole run.
    """
    chosen = pick_mode(scenario, mode)
    return finish(play(scenario, seed, replication, chosen, warmup_days), chosen)


def play(
    scenario: Scenario,
    seed: int,
    replication: int,
    mode: Literal["cards", "fast"],
    warmup_days: float = 0.0,
    until_day: int | None = None,
) -> Tally:
    """The filled ``Tally`` of one replication; with ``until_day``, only its first
    ``until_day`` days are played (the same draws as the whole run: it just stops)."""
    if not 0 <= warmup_days < scenario.days:
        raise ValueError(f"warmup_days must be in [0, {scenario.days}), got {warmup_days}")
    inputs = draw_inputs(scenario, seed, replication)
    warmup = warmup_days * DAY
    until = None if until_day is None else until_day * DAY
    if mode == "cards":
        return CardLine(inputs, warmup).run(until)
    return FastLine(inputs, warmup).run(until)


def _one(args: tuple[Scenario, int, int, Mode, float]) -> RunResult:
    scenario, seed, replication, mode, warmup_days = args
    return simulate(
        scenario, seed=seed, replication=replication, mode=mode, warmup_days=warmup_days
    )


def default_workers() -> int:
    return os.cpu_count() or 1


def replicate(
    scenario: Scenario,
    replications: int = 10,
    *,
    seed: int = 1,
    mode: Mode = "auto",
    warmup_days: float = 0.0,
    workers: int | None = None,
    first: int = 0,
) -> list[RunResult]:
    """Replications ``first .. first + replications - 1`` of ``scenario``, in a local
    process pool of ``workers`` (default: one per core; 1 runs them in this process).

    Each replication depends only on (seed, its index), so the results are the same for any
    number of workers, and scenarios run with the same seed share their random numbers
    (common random numbers: compare scenarios replication by replication). To spread
    replications over a cluster instead, map ``simulate`` over the indices yourself.
    """
    jobs = [(scenario, seed, first + i, mode, warmup_days) for i in range(replications)]
    workers = default_workers() if workers is None else workers
    if workers <= 1 or replications <= 1:
        return [_one(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=min(workers, replications)) as pool:
        return list(pool.map(_one, jobs))


def compare(
    scenarios: Sequence[Scenario],
    replications: int = 10,
    *,
    seed: int = 1,
    mode: Mode = "auto",
    workers: int | None = None,
    warmup_days: float = 0.0,
    first: int = 0,
) -> dict[str, list[RunResult]]:
    """Several scenarios with the same seed (common random numbers), by scenario name:
    replications ``first .. first + replications - 1`` of each."""
    return {
        s.name: replicate(
            s,
            replications,
            seed=seed,
            mode=mode,
            workers=workers,
            warmup_days=warmup_days,
            first=first,
        )
        for s in scenarios
    }
