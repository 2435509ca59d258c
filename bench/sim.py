"""Benchmark of the simulator: card-by-card speed, the national campaign in fast mode, and how
well the fast mode agrees with card by card.

    .venv/bin/python bench/sim.py                  # prints the table
    .venv/bin/python bench/sim.py --write-docs     # and appends it to docs/benchmarks.md

1. Card by card (``mode="cards"``): the 1-million-card scenario below, two replications, one
   process each (two cores); cards/s = card bodies started / seconds of that replication.
2. Fast mode (``mode="fast"``): ``plan-2021`` (50 million cards, 120 days), 10 replications in
   the default process pool (one worker per core), wall time from the call to the results.
3. Agreement on the 1-million-card scenario, replication by replication (the same seed, so the
   same breakdowns, deliveries and arrivals in both modes): cards completed, the target date,
   stall days. The targets: throughput and target date within 1 %, stalls within one day.

The 1-million-card scenario is ``plan-2021`` scaled to one fifteenth of its machines, demand
and chips over 34 days: print-bound (2 printers), two stalls for chips.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path and "import sim" would import
# this very file (bench/sim.py): take the folder out and put the repository first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from sim import RunResult, Scenario, load_scenario, replicate, simulate, summarise  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
DATE = "2026-11-23"


LATE = {"kind": "uniform", "low": 0, "high": 3}  # days


def million_card_scenario() -> Scenario:
    return load_scenario("plan-2021").with_overrides(
        {
            "name": "million-cards",
            "days": 34,
            "target": {"cards": 900_000, "by": "2021-04-06"},
            "line": {
                "stages": {
                    "print": {"machines": 2},
                    "chip-encode": {"machines": 4},
                    "qc": {"machines": 2},
                    "dispatch": {"machines": 1},
                }
            },
            "demand": {"backlog": 600_000, "per_day": 23_000},
            "chips": {
                "opening_stock": 300_000,
                "deliveries": {
                    "march": {"date": "2021-03-11", "quantity": 300_000, "delay": LATE},
                    "april": {"date": "2021-03-22", "quantity": 500_000, "delay": LATE},
                    "may": None,
                    "june": None,
                },
            },
        }
    )


def _timed(args: tuple[Scenario, int, str]) -> tuple[RunResult, float]:
    scenario, replication, mode = args
    began = time.perf_counter()
    result = simulate(scenario, seed=1, replication=replication, mode=mode)  # type: ignore[arg-type]
    return result, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--card-replications", type=int, default=2)
    args = parser.parse_args()

    small = million_card_scenario()
    reps = range(args.card_replications)
    with ProcessPoolExecutor(2) as pool:
        cards = list(pool.map(_timed, [(small, r, "cards") for r in reps]))
    fast = [_timed((small, r, "fast")) for r in reps]
    card_rate = sum(r.totals.started for r, _ in cards) / sum(s for _, s in cards)

    campaign = load_scenario("plan-2021")
    began = time.perf_counter()
    national = replicate(campaign, 10, seed=1, mode="fast")
    national_seconds = time.perf_counter() - began
    summary = summarise(national)

    rows = []
    for (c, c_s), (f, f_s) in zip(cards, fast, strict=True):
        rows.append(
            {
                "replication": c.replication,
                "cards_started": c.totals.started,
                "cards_s": c_s,
                "fast_s": f_s,
                "completed": (c.totals.completed, f.totals.completed),
                "completed_diff": f.totals.completed / c.totals.completed - 1,
                "target_day": (c.target_day, f.target_day),
                "stall_days": (c.totals.stall_days, f.totals.stall_days),
            }
        )
    print(f"card by card: {card_rate:,.0f} cards/s (mean of {len(cards)} replications)")
    print(
        f"fast mode, plan-2021 (50 M cards, 120 days), 10 replications: {national_seconds:.1f} s; "
        f"target reached in {summary.target_reached}/10, "
        f"{summary.to_dict()['target']['date']}"
    )
    print("agreement on the 1-million-card scenario (cards vs fast):")
    print(
        "rep  started    completed (cards / fast)   diff    target day  stall days  s (cards/fast)"
    )
    for row in rows:
        print(
            f"{row['replication']:>3}  {row['cards_started']:>9,}  "
            f"{row['completed'][0]:>10,} / {row['completed'][1]:>10,}  "
            f"{100 * row['completed_diff']:+.2f} %  {row['target_day'][0]} / {row['target_day'][1]}"
            f"      {row['stall_days'][0]} / {row['stall_days'][1]}       "
            f"{row['cards_s']:.1f} / {row['fast_s']:.2f}"
        )
    if args.write_docs:
        write_docs(card_rate, national_seconds, summary.to_dict(), rows, cards)


def _dates(interval: object) -> str:
    if not isinstance(interval, dict):
        return "(never)"
    return f"{interval['mean']} (95 % interval {interval['low']} to {interval['high']})"


def write_docs(
    card_rate: float,
    national_seconds: float,
    summary: dict[str, object],
    rows: list[dict[str, object]],
    cards: list[tuple[RunResult, float]],
) -> None:
    target = summary["target"]
    assert isinstance(target, dict)
    lines = [
        "",
        "## Simulator (`bench/sim.py`)",
        "",
        "```sh",
        ".venv/bin/python bench/sim.py --write-docs",
        "```",
        "",
        "Card by card: a 1-million-card scenario (`plan-2021` scaled to 1/15 of its machines,",
        "demand and chips over 34 days, two stalls for chips), two replications, one process",
        "each. Fast mode: `plan-2021` (50 million cards, 120 days, encoder-bound, four chip",
        "tranches with random delays), 10 replications over the default process pool",
        "(2 workers). Agreement: the same scenario, seed and replication in both modes (so the",
        "same breakdowns, deliveries and arrivals).",
        "",
        "| date | what | figure | target |",
        "|---|---|---:|---|",
        f"| {DATE} | card by card, cards/s (one core) | **{card_rate:,.0f}** | (no target) |",
        f"| {DATE} | fast mode, 50 M cards x 10 replications, wall time | "
        f"**{national_seconds:.1f} s** | <= 60 s on 2 cores: "
        f"{'met' if national_seconds <= 60 else 'NOT met'} |",
        "",
        f"`plan-2021` itself: the target of 50 million is reached in {target['reached']} of 10 "
        f"replications, on {_dates(target['date'])}.",
        "",
        "| date | replication | cards started | completed, cards / fast | difference | "
        "target day, cards / fast | stall days, cards / fast |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        completed = row["completed"]
        target_day = row["target_day"]
        stall = row["stall_days"]
        diff = row["completed_diff"]
        assert isinstance(completed, tuple) and isinstance(target_day, tuple)
        assert isinstance(stall, tuple) and isinstance(diff, float)
        lines.append(
            f"| {DATE} | {row['replication']} | {row['cards_started']:,} | "
            f"{completed[0]:,} / {completed[1]:,} | {100 * diff:+.2f} % | "
            f"{target_day[0]} / {target_day[1]} | {stall[0]} / {stall[1]} |"
        )
    lines.append("")
    text = DOCS.read_text(encoding="utf-8")  # a fresh read: others edit other sections
    DOCS.write_text(text.rstrip("\n") + "\n" + "\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
