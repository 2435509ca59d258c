"""Benchmark of the goal seek: ``cardline plan`` over a national scenario, fast mode.

    .venv/bin/python bench/plan.py                 # the plan, timed; prints the row
    .venv/bin/python bench/plan.py --brute         # and the same grid by brute force
    .venv/bin/python bench/plan.py --write-docs    # appends the rows to docs/benchmarks.md

The plan: ``plan-2021`` (50 million cards, 120 days), two varied fields of 10 values each:
the encoding heads (44..62, step 2) and the date of the March chip tranche (13 March to 9
April, step 3 days); no costs block, so a head and a day each cost 1. Probability 0.9,
at most 60 replications a setting, seed 1, the default process pool (one worker per core).
Reported: wall time from the call to the document, the settings simulated and the
replications run, against the grid (100 settings; up to 6,000 replications at 60 each).
With ``--brute`` the same plan by ``search="grid"`` (every setting decided): its
replications and time, and whether it found the same setting.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from sim import load_scenario  # noqa: E402
from sim.plan import plan  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
VARY = [
    "line.stages.chip-encode.machines=44..62:2",
    "chips.deliveries.march.date=2021-03-13..2021-04-09:3",
]


def timed(search: str) -> tuple[dict[str, Any], float]:
    began = time.perf_counter()
    document = plan(load_scenario("plan-2021"), VARY, mode="fast", search=search)  # type: ignore[arg-type]
    return document, time.perf_counter() - began


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} / {five:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brute", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--date", default=time.strftime("%Y-%m-%d"))
    args = parser.parse_args()
    before = load()
    document, seconds = timed("frontier")
    best = document["best"]
    setting = ", ".join(f"{k.split('.')[-2]} {v}" for k, v in best["setting"].items())
    rows = [
        f"| {args.date} | frontier walk | {document['evaluated']} of {document['grid']} | "
        f"{document['replications']:,} of up to {document['grid'] * 60:,} | **{seconds:.0f} s** | "
        f"{before} | < 120 s on 2 cores: {'met' if seconds < 120 else 'NOT met'} |"
    ]
    print(f"frontier: {seconds:.1f} s, {document['evaluated']} settings, "
          f"{document['replications']} replications; best: {setting}, "
          f"{best['reached']}/{best['replications']}")  # fmt: skip
    if args.brute:
        before = load()
        grid, brute_seconds = timed("grid")
        same = grid["best"]["setting"] == best["setting"]
        rows.append(
            f"| {args.date} | brute force (grid) | {grid['evaluated']} of {grid['grid']} | "
            f"{grid['replications']:,} | {brute_seconds:.0f} s | {before} | same setting: "
            f"{'yes' if same else 'NO'} |"
        )
        print(f"grid: {brute_seconds:.1f} s, {grid['replications']} replications, same: {same}")
    print("\n".join(rows))
    if args.write_docs:
        with DOCS.open("a", encoding="utf-8") as docs:
            docs.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
