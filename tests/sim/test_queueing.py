"""The card-by-card model against queueing theory and an independent simulator.

Every model here is a scenario on the shipped line spec (stages overridden to exponential
machines, round-the-clock shifts, unlimited chips), run through ``replicate``: the code under
test is the simulator itself, not a toy beside it. Intervals are 99 % t-intervals over 10
independent replications (seeded, so each test is deterministic); each test also bounds the
interval's width, so that a wide, uninformative interval cannot pass it.
"""

from __future__ import annotations

import math
import statistics
from concurrent.futures import ProcessPoolExecutor

import pytest

from sim import RunResult, replicate, summarise
from sim.stats import Interval, t_interval, t_quantile
from tests.sim.factories import exp, open_network, stage

CONFIDENCE = 0.99


def erlang_c_wait(servers: int, arrival_rate: float, service_rate: float) -> float:
    """Mean wait in queue of an M/M/c queue (the Erlang C formula)."""
    load = arrival_rate / service_rate
    below = sum(load**k / math.factorial(k) for k in range(servers))
    top = load**servers / math.factorial(servers) / (1 - load / servers)
    return top / (below + top) / (servers * service_rate - arrival_rate)


def assert_littles_law(run: RunResult) -> None:
    """L = lambda W before every stage: the time-average queue against arrivals x wait,
    measured independently (a queue-length integral; per-card waits; a count)."""
    for s in run.stages:
        assert s.mean_wait_s is not None
        expected = s.arrival_rate_per_hour / 3600 * s.mean_wait_s
        assert s.mean_queue == pytest.approx(expected, rel=0.02, abs=1e-3), s.stage


@pytest.mark.parametrize(("utilisation", "days", "width"), [(0.5, 8, 0.10), (0.8, 8, 0.10), (0.95, 24, 0.12)])  # fmt: skip
def test_mmc_wait_agrees_with_erlang_c(utilisation: float, days: int, width: float) -> None:
    servers, mean = 3, 60.0
    rate = utilisation * servers / mean
    scenario = open_network({"print": stage(servers, exp(mean))}, per_second=rate, days=days)
    runs = replicate(scenario, 10, seed=11, mode="cards", warmup_days=1, workers=2)
    summary = summarise(runs, CONFIDENCE)
    wait = summary.stages[0].mean_wait_s
    assert wait is not None
    expected = erlang_c_wait(servers, rate, 1 / mean)
    assert wait.contains(expected), (expected, wait)
    assert wait.half_width < width * expected
    assert summary.stages[0].utilisation.mean == pytest.approx(utilisation, rel=0.02)
    for run in runs:
        assert_littles_law(run)


# A tandem line with rework: 10 % of cards fail QC and go back to print on a new card body
# (rework limit 10: a held application has probability 1e-11). Every card visits print,
# encode and QC 1 / 0.9 times on average; Jackson's theorem makes each station an M/M/c
# queue at its own arrival rate.
ARRIVALS = 0.02  # per second
QC_FAILS = 0.1
STATIONS = {
    "print": (2, 60.0),
    "chip-encode": (3, 100.0),
    "qc": (1, 30.0),
    "dispatch": (1, 35.0),
}


def jackson_network_days(days: int):  # type: ignore[no-untyped-def]
    stages = {
        name: stage(servers, exp(mean), QC_FAILS if name == "qc" else 0.0)
        for name, (servers, mean) in STATIONS.items()
    }
    return open_network(stages, per_second=ARRIVALS, days=days, rework_limit=10)


def visit_rate(name: str) -> float:
    return ARRIVALS if name == "dispatch" else ARRIVALS / (1 - QC_FAILS)


@pytest.fixture(scope="module")
def jackson_runs() -> list[RunResult]:
    return replicate(jackson_network_days(12), 10, seed=5, mode="cards", warmup_days=1, workers=2)


def test_tandem_line_with_rework_agrees_with_jackson(jackson_runs: list[RunResult]) -> None:
    summary = summarise(jackson_runs, CONFIDENCE)
    for s in summary.stages:
        servers, mean = STATIONS[s.stage]
        expected = erlang_c_wait(servers, visit_rate(s.stage), 1 / mean)
        assert s.mean_wait_s is not None
        assert s.mean_wait_s.contains(expected), (s.stage, expected, s.mean_wait_s)
        assert s.mean_wait_s.half_width < 0.12 * expected, s.stage
        assert s.utilisation.mean == pytest.approx(visit_rate(s.stage) * mean / servers, rel=0.02)
    for run in jackson_runs:
        assert_littles_law(run)
        # every QC failure became a rework, none was held
        assert run.totals.held == 0
        assert run.stage("qc").spoiled == run.totals.chips_spoiled > 0


# -- the same network in Ciw -----------------------------------------------------------------


def ciw_replication(seed: int, hours: float, warmup_hours: float) -> dict[str, float]:
    """One Ciw run of the network: mean wait per node and departures per hour."""
    import ciw

    ciw.seed(seed)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=ARRIVALS * 3600)] + [None] * 3,
        service_distributions=[ciw.dists.Exponential(rate=3600 / m) for _, m in STATIONS.values()],
        number_of_servers=[c for c, _ in STATIONS.values()],
        routing=[
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [QC_FAILS, 0.0, 0.0, 1 - QC_FAILS],
            [0.0, 0.0, 0.0, 0.0],
        ],
    )
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_time(hours)
    records = [r for r in simulation.get_all_records() if r.arrival_date >= warmup_hours]
    result = {}
    for node, name in enumerate(STATIONS, start=1):
        waits = [r.waiting_time for r in records if r.node == node]
        result[name] = 3600 * statistics.fmean(waits)
    done = [r for r in records if r.node == 4 and r.exit_date <= hours]
    result["throughput"] = len(done) / (hours - warmup_hours)
    return result


def difference_interval(a: list[float], b: list[float]) -> Interval:
    """Welch's interval of mean(a) - mean(b)."""
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = t_quantile(0.5 + CONFIDENCE / 2, df) * math.sqrt(va + vb)
    diff = statistics.fmean(a) - statistics.fmean(b)
    return Interval(diff, diff - half, diff + half, len(a) + len(b))


def test_the_same_network_in_ciw_gives_the_same_waits_and_throughput(
    jackson_runs: list[RunResult],
) -> None:
    hours = 12 * 24.0
    with ProcessPoolExecutor(2) as pool:
        ciw_runs = list(pool.map(ciw_replication, range(100, 110), [hours] * 10, [24.0] * 10))
    for name in STATIONS:
        ours = [run.stage(name).mean_wait_s or 0.0 for run in jackson_runs]
        theirs = [r[name] for r in ciw_runs]
        diff = difference_interval(ours, theirs)
        assert diff.contains(0.0), (name, diff)
        assert diff.half_width < 0.15 * statistics.fmean(theirs), name
    ours_rate = [
        sum(d.completed for d in run.daily[1:]) / (24 * (run.days - 1)) for run in jackson_runs
    ]
    theirs_rate = [r["throughput"] for r in ciw_runs]
    assert difference_interval(ours_rate, theirs_rate).contains(0.0)
    assert t_interval(ours_rate, CONFIDENCE).contains(ARRIVALS * 3600)
