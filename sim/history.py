"""The 2021 drive as it happened: the published figures, the fit of ``history-2021``, its check.

    .venv/bin/python -m sim.history            # fit from the published figures, then check
    .venv/bin/python -m sim.history --check    # only check the shipped file (what the tests do)

Published (DESIGN.md; the Ministry of Public Security through the press, and Keesing
Technologies citing the ministry):

- 33.9 million applications collected by 27 April 2021 (67.8 % of the target);
- 54 million dossiers by 22 June 2021;
- about 45 million cards issued by the end of September 2021;
- imported chips and card materials ran short (Covid-19); printing and delivery lagged.

How ``history-2021`` is fitted to them (everything else in the file is an assumption):

1. **Demand**, in closed form: the expected applications received by the end of day ``D``
   are ``backlog + per_day * sum of the weekly factors of the days up to D`` (the opening
   backlog counts as received). Two published counts, two unknowns: ``fit_demand`` solves
   for the backlog on 3 March and the weekday rate. The rate after 22 June is an assumption
   (nothing is published; it cannot matter to the cards, which are far fewer than the
   applications by then).
2. **Chips**: the tranches' dates and shares are assumptions (imported chips arriving late,
   weeks apart); their quantities are scaled by one factor, found by bisection
   (``fit_chip_scale``), so that the mean of the simulated good cards dispatched by 30
   September is 45 million.
3. ``check`` runs the file and holds each figure against its published value: within 5 %.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sim.results import RunResult
from sim.run import replicate
from sim.scenario import Scenario, load_scenario

SCENARIO = "history-2021"
TOLERANCE = 0.05
MINISTRY = "Ministry of Public Security, through the press (DESIGN.md)"
KEESING = "Keesing Technologies, citing the ministry (DESIGN.md)"


@dataclass(frozen=True)
class Published:
    what: str  # "applications" (received, the opening backlog included) or "cards"
    on: date  # counted to the end of this day
    value: int
    text: str
    source: str


PUBLISHED = (
    Published(
        "applications", date(2021, 4, 27), 33_900_000,
        "33.9 million applications collected by 27 April", MINISTRY,
    ),
    Published(
        "applications", date(2021, 6, 22), 54_000_000,
        "54 million dossiers by 22 June", MINISTRY,
    ),
    Published(
        "cards", date(2021, 9, 30), 45_000_000,
        "about 45 million cards issued by the end of September", KEESING,
    ),
)  # fmt: skip


def _factors_to(scenario: Scenario, day: date) -> float:
    """The sum of the weekly factors from the start to ``day`` (included)."""
    demand = scenario.demand
    return sum(
        demand.day_factor(scenario.start + timedelta(days=d))
        for d in range((day - scenario.start).days + 1)
    )


def fit_demand(scenario: Scenario) -> tuple[int, float]:
    """(backlog, per_day) that put the expected applications exactly on both published
    counts (the weekly profile of ``scenario`` kept; both dates before any rate change)."""
    first, second = (p for p in PUBLISHED if p.what == "applications")
    for change in scenario.demand.changes:
        if change.on <= second.on:
            raise ValueError("a demand change before the last published count: fit first")
    s1, s2 = _factors_to(scenario, first.on), _factors_to(scenario, second.on)
    per_day = (second.value - first.value) / (s2 - s1)
    backlog = first.value - per_day * s1
    return round(backlog), per_day


def _scaled(scenario: Scenario, scale: float) -> Scenario:
    deliveries = {
        name: {"quantity": int(round(d.quantity * scale, -5))}
        for name, d in scenario.chips.deliveries.items()
    }
    return scenario.with_overrides({"chips": {"deliveries": deliveries}})


def _cards_on(runs: Sequence[RunResult], day: date) -> float:
    index = (day - runs[0].start).days
    return sum(r.daily[index].cumulative for r in runs) / len(runs)


def fit_chip_scale(
    scenario: Scenario, *, replications: int = 6, seed: int = 1, workers: int | None = None
) -> float:
    """The factor on every tranche's quantity that makes the mean of the good cards by the
    published date the published count (bisection on the simulated mean, fast mode)."""
    cards = next(p for p in PUBLISHED if p.what == "cards")
    low, high = 0.5, 2.0
    for _ in range(12):
        mid = (low + high) / 2
        runs = replicate(_scaled(scenario, mid), replications, seed=seed, mode="fast",
                         workers=workers)  # fmt: skip
        if _cards_on(runs, cards.on) < cards.value:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def model_figure(runs: Sequence[RunResult], published: Published) -> float:
    index = (published.on - runs[0].start).days
    if published.what == "applications":
        return sum(r.daily[index].applications for r in runs) / len(runs)
    return sum(r.daily[index].cumulative for r in runs) / len(runs)


def check(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Each published figure against the model's mean over ``runs``."""
    out = []
    for p in PUBLISHED:
        model = model_figure(runs, p)
        error = model / p.value - 1
        out.append(
            {
                "figure": p.text,
                "source": p.source,
                "on": p.on.isoformat(),
                "published": p.value,
                "model": model,
                "error": error,
                "within": abs(error) <= TOLERANCE,
            }
        )
    return out


def check_text(rows: Sequence[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        verdict = "ok" if row["within"] else f"OFF (more than {100 * TOLERANCE:.0f} %)"
        lines.append(
            f"{row['figure']}: published {row['published'] / 1e6:.1f} M, model "
            f"{row['model'] / 1e6:.2f} M ({100 * row['error']:+.1f} %) {verdict}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the shipped file")
    parser.add_argument("--replications", type=int, default=10)
    args = parser.parse_args(argv)
    scenario = load_scenario(SCENARIO)
    if not args.check:
        backlog, per_day = fit_demand(scenario)
        print(f"demand: backlog {backlog:,} on {scenario.start}, per_day {per_day:,.0f}")
        print(
            f"  (the file has backlog {scenario.demand.backlog:,}, "
            f"per_day {scenario.demand.per_day:,.0f})"
        )
        scale = fit_chip_scale(scenario)
        fitted = _scaled(scenario, scale)
        print(f"chips: tranche quantities x {scale:.4f}:")
        for name, d in fitted.chips.deliveries.items():
            was = scenario.chips.deliveries[name].quantity
            print(f"  {name}: {d.quantity:,} (the file has {was:,})")
    runs = replicate(scenario, args.replications, seed=1, mode="fast")
    rows = check(runs)
    print(f"check of the shipped file ({args.replications} replications, fast mode, seed 1):")
    print(check_text(rows))
    return 0 if all(r["within"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = ["PUBLISHED", "TOLERANCE", "Published", "check", "fit_chip_scale", "fit_demand"]
