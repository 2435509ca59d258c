"""The simulator's behaviour: chips, reproducibility, the two modes, scenario overrides."""

from __future__ import annotations

import math
from datetime import date

import pytest

from sim import RunResult, replicate, simulate
from tests.sim.factories import campaign


@pytest.fixture(scope="module")
def small_cards() -> RunResult:
    return simulate(campaign(), seed=3, mode="cards")


@pytest.fixture(scope="module")
def small_fast() -> RunResult:
    return simulate(campaign(), seed=3, mode="fast")


@pytest.mark.parametrize("mode", ["cards", "fast"])
def test_without_chips_nothing_is_produced(mode: str) -> None:
    scenario = campaign(chips={"opening_stock": 0, "deliveries": None})
    run = simulate(scenario, mode=mode)  # type: ignore[arg-type]
    assert run.totals.started == run.totals.completed == run.totals.chips_consumed == 0
    assert all(d.completed == 0 and d.stalled for d in run.daily if d.shift_hours > 0)
    assert run.totals.stall_days == scenario.days
    assert run.totals.waiting_at_end > scenario.demand.backlog  # and every arrival since


@pytest.mark.parametrize("mode", ["cards", "fast"])
def test_with_unlimited_chips_there_is_no_shortage(mode: str) -> None:
    short = simulate(campaign(days=4), mode=mode)  # type: ignore[arg-type]
    run = simulate(campaign(chips={"unlimited": True}, days=4), mode=mode)  # type: ignore[arg-type]
    assert short.totals.stall_days > 0
    assert run.totals.stall_days == 0
    assert run.totals.starved_hours == 0
    assert all(d.chip_stock is None for d in run.daily)
    assert run.totals.completed > short.totals.completed


def test_every_card_body_takes_a_chip_and_the_books_balance(small_cards: RunResult) -> None:
    t = small_cards.totals
    last = small_cards.daily[-1]
    assert t.chips_consumed == 25_000 + t.chips_received - (last.chip_stock or 0)
    # every card body started is dispatched, spoiled or still in the line
    assert t.started == t.completed + t.chips_spoiled + last.wip
    assert t.chips_spoiled > 0 and t.held <= t.chips_spoiled
    assert sum(s.spoiled for s in small_cards.stages) == t.chips_spoiled
    assert t.completed == sum(t.completed_by_group.values())


def test_the_priority_group_goes_first_when_chips_are_short(small_cards: RunResult) -> None:
    # elderly are 10 % of demand; under shortage the priority policy serves them first
    by_group = small_cards.totals.completed_by_group
    assert by_group["elderly"] / (by_group["elderly"] + by_group["general"]) > 0.12
    fifo = simulate(campaign(line={"allocation": {"policy": "fifo"}}), seed=3, mode="cards")
    fifo_share = fifo.totals.completed_by_group["elderly"] / fifo.totals.completed
    assert fifo_share == pytest.approx(0.10, abs=0.01)


def test_dispatch_hands_over_one_batch_per_destination_a_day(small_cards: RunResult) -> None:
    for day in small_cards.daily:
        assert day.batches == (2 if day.completed else 0)


@pytest.mark.parametrize("mode", ["cards", "fast"])
def test_seeded_runs_are_reproducible_bit_for_bit(mode: str) -> None:
    scenario = campaign(days=4)
    first = simulate(scenario, seed=9, replication=2, mode=mode)  # type: ignore[arg-type]
    again = simulate(scenario, seed=9, replication=2, mode=mode)  # type: ignore[arg-type]
    other = simulate(scenario, seed=9, replication=3, mode=mode)  # type: ignore[arg-type]
    assert first.to_json() == again.to_json()
    assert first.to_json() != other.to_json()
    assert RunResult.from_json(first.to_json()) == first


def test_replications_do_not_depend_on_the_number_of_workers() -> None:
    scenario = campaign(days=3)
    alone = replicate(scenario, 3, seed=4, mode="cards", workers=1)
    pooled = replicate(scenario, 3, seed=4, mode="cards", workers=2)
    assert [r.to_json() for r in alone] == [r.to_json() for r in pooled]
    assert alone[1].to_json() == simulate(scenario, seed=4, replication=1, mode="cards").to_json()


def test_fast_mode_agrees_with_card_mode(small_cards: RunResult, small_fast: RunResult) -> None:
    cards, fast = small_cards, small_fast
    assert fast.totals.completed == pytest.approx(cards.totals.completed, rel=0.01)
    assert fast.totals.chips_consumed == pytest.approx(cards.totals.chips_consumed, rel=0.01)
    assert fast.totals.chips_spoiled == pytest.approx(cards.totals.chips_spoiled, rel=0.15)
    assert fast.target_day is not None and cards.target_day is not None
    assert abs(fast.target_day - cards.target_day) <= 1
    assert abs(fast.totals.stall_days - cards.totals.stall_days) <= 1
    assert [d.stalled for d in fast.daily] == [d.stalled for d in cards.daily]
    for f, c in zip(fast.daily, cards.daily, strict=True):
        assert f.cumulative == pytest.approx(c.cumulative, rel=0.01, abs=500)
    for f, c in zip(fast.stages, cards.stages, strict=True):
        assert f.utilisation == pytest.approx(c.utilisation, rel=0.02)


@pytest.mark.parametrize("mode", ["cards", "fast"])
def test_a_slipped_delivery_moves_the_stall(mode: str) -> None:
    on_time = simulate(campaign(), seed=3, mode=mode)  # type: ignore[arg-type]
    slipped = simulate(
        campaign().with_overrides({"chips": {"deliveries": {"first": {"slip_days": 2}}}}),
        seed=3,
        mode=mode,  # type: ignore[arg-type]
    )
    # on time: out of chips on the 3rd, the delivery late on the 3rd, out again from the 7th
    assert [d.date.day for d in on_time.daily if d.stalled] == [3, 7, 8]
    # two days late: the first stall lasts until the 5th, and the chips then last to the end
    assert [d.date.day for d in slipped.daily if d.stalled] == [3, 4, 5]
    assert slipped.target_day == on_time.target_day + 2  # type: ignore[operator]
    # common random numbers: the days before the delivery are the same
    assert on_time.daily[:2] == slipped.daily[:2]


def test_more_machines_from_a_date_raise_output_from_that_date() -> None:
    base = campaign(chips={"unlimited": True}, demand={"backlog": 120_000}, days=5)
    bigger = {"print": {"machines": 3}, "chip-encode": {"machines": 6}, "qc": {"machines": 2}}
    more = base.with_overrides(
        {"changes": [{"from": date(2021, 3, 5), "line": {"stages": bigger}}]}
    )
    a, b = simulate(base, mode="cards"), simulate(more, mode="cards")
    assert [d.cumulative for d in a.daily[:4]] == [d.cumulative for d in b.daily[:4]]
    assert b.daily[4].completed > 1.5 * a.daily[4].completed
    assert b.stage("print").machines == 1  # the machines at the start


@pytest.mark.parametrize("mode", ["cards", "fast"])
def test_a_delivery_at_midnight_belongs_to_the_new_day(mode: str) -> None:
    """Same-instant events: the day that ends at midnight closes first, then the delivery
    that arrives at that instant. So 3 March, stalled for want of chips, closes with none in
    stock, and the 40,000 chips due (no delay) on the 4th are the 4th's: received that day."""
    scenario = campaign(days=4, chips={"deliveries": {"first": {"delay": None}}})
    run = simulate(scenario, seed=3, mode=mode)  # type: ignore[arg-type]
    third, fourth = run.daily[2], run.daily[3]
    assert (third.date, fourth.date) == (date(2021, 3, 3), date(2021, 3, 4))
    assert third.stalled and third.chip_stock == 0 and third.chips_received == 0
    assert fourth.chips_received == 40_000 and not fourth.stalled
    assert run.totals.chips_received == 40_000 and run.totals.stall_days == 1


@pytest.mark.parametrize("mode", ["cards", "fast"])
def test_applications_received_count_the_backlog_and_every_arrival(mode: str) -> None:
    from sim.inputs import draw_inputs

    scenario = campaign(days=4)
    run = simulate(scenario, seed=3, mode=mode)  # type: ignore[arg-type]
    arrivals = draw_inputs(scenario, 3, 0).arrivals.reshape(4, -1).sum(axis=1)
    expected = 60_000 + arrivals.cumsum()
    assert [d.applications for d in run.daily] == expected.tolist()
    assert run.daily[0].applications > 60_000  # the first day's arrivals in office hours


def test_demand_can_change_its_rate_from_a_date() -> None:
    scenario = campaign(
        days=4, demand={"backlog": 0, "changes": [{"from": "2021-03-03", "per_day": 0}]}
    )
    run = simulate(scenario, seed=3, mode="fast")
    counts = [d.applications for d in run.daily]
    assert counts[0] > 0 and counts[1] > counts[0]
    assert counts[1] == counts[2] == counts[3]  # nothing arrives from 3 March on
    assert scenario.expected_cards == pytest.approx(2 * 4_000)


def test_time_in_system_of_an_m_m_1_queue_is_exponential_with_rate_mu_minus_lambda() -> None:
    """One exponential printer (mean 1 s) fed at 0.5 a second, every other stage instant:
    an M/M/1 queue, whose time in system is exponential with rate mu - lambda = 0.5/s (mean
    2 s, 90th percentile ln(10) / 0.5 = 4.61 s), plus 3 ms at the instant stages. Counted
    after a warm-up of 2.4 hours, card mode."""
    from tests.sim.factories import exp, open_network, stage

    scenario = open_network({"print": stage(1, exp(1.0))}, per_second=0.5, days=1)
    run = simulate(scenario, seed=11, mode="cards", warmup_days=0.1)  # ~39,000 cards counted
    mean, p90 = run.totals.time_in_system_s, run.totals.time_in_system_p90_s
    assert mean == pytest.approx(2.0 + 0.003, rel=0.05)
    assert p90 == pytest.approx(math.log(10) / 0.5 + 0.003, rel=0.05)
    fast = simulate(scenario, seed=11, mode="fast", warmup_days=0.1)
    assert fast.totals.time_in_system_s is None  # card mode only
