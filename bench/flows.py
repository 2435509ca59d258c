"""Benchmark of Prefect's cost: cards per second through the production flow, against the
same cards run by calling the domain functions directly (the line controller's run).

    .venv/bin/python bench/flows.py                 # 2,000 cards, 3 rounds, both printers
    .venv/bin/python bench/flows.py --cards 500 --rounds 1

One home is prepared (not timed): synthetic applications imported into SQLite, test keys,
chips and consumables for every card and its rework. Each round copies it afresh and runs
every card through print, chip-encode and QC with the virtual devices, twice:

- ``direct``: ``cardline run --without-prefect`` (the controller's pipelined run);
- ``flow``: ``cardline run``, the Prefect production flow (tasks over batches of 100, the
  printer task of the next batch beside encode and QC, each machine's global concurrency
  slot taken by its task), against a Prefect server already running: Prefect's ephemeral
  server, started by a warm-up flow before the rounds. Its cold start is reported apart,
  since a centre's server runs all day.

The two alternate, so that a slower spell of this shared machine hits both. Reported:
the median seconds and cards/s of each, and the flow's overhead in per cent of the direct
run (the target: at most 15 % on 2,000 cards).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out" / "flows"
TODAY = date(2026, 11, 1)


def prepare(cards: int) -> Path:
    """The template home: applications, keys, chips and consumables, schema at head."""
    from inventory.ledger import receive, register_consumables
    from line.db import make_engine, session_scope
    from line.intake import import_file
    from line.settings import Settings
    from line.spec import default_spec
    from line.synthetic import people, write_csv, write_photos
    from printers.keys import init_test_keys
    from schema import upgrade

    template = OUT / "template"
    rng = random.Random(11)
    photos = [f"photos/{n}" for n in write_photos(rng, OUT / "in" / "photos", 200)]
    path = OUT / "in" / "applications.csv"
    write_csv(path, (p.row() for p in people(rng, cards, today=TODAY, photos=photos)))
    settings = Settings(home=template)  # type: ignore[call-arg]
    settings.ensure_home()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    now = datetime.now(UTC)
    import_file(engine=engine, path=path, today=TODAY, clock=lambda: now, rejects_dir=OUT)
    init_test_keys(settings.keys_path, now=now)
    spec = default_spec()
    with session_scope(engine) as session:
        register_consumables(session=session, consumables=spec.consumables)
        receive(
            session=session, item_code="chip", lot_number="BENCH-LOT", supplier="bench",
            quantity=2 * cards, first_uid="04C40000000001", at=now, actor="bench",
        )  # fmt: skip
        for code, supply in spec.consumables.items():
            receive(
                session=session, item_code=code, lot_number=f"{code.upper()}-BENCH",
                supplier="bench", quantity=-(-2 * cards // supply.cards_per_unit), at=now,
                actor="bench",
            )  # fmt: skip
    engine.dispose()
    return template


def one_run(template: Path, home: Path, *, flow: bool, batch_size: int) -> tuple[float, int]:
    """Seconds to run every card of a fresh copy of ``template``; and the cards passed."""
    from flows.cli import run

    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(template, home)
    os.environ["CARDLINE_HOME"] = str(home)
    args = ["-q", "run", "--batch-size", str(batch_size), "--json"]
    if not flow:
        args.append("--without-prefect")
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = run(args)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"cardline {' '.join(args)} failed with exit code {code}")
    return elapsed, passed_cards(home)


def passed_cards(home: Path) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{home / 'cardline.db'}")
    with engine.connect() as connection:
        count = connection.execute(
            sa.text("SELECT count(*) FROM card WHERE state = 'qc_passed'")
        ).scalar_one()
    engine.dispose()
    return int(count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--printers", default="virtual,spool",
        help="printers to measure with, in one run (virtual: faults and jams; spool: none)",
    )  # fmt: skip
    args = parser.parse_args()

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    os.environ.pop("PREFECT_API_URL", None)
    os.environ["PREFECT_HOME"] = str(OUT / "prefect")
    os.environ.setdefault("CARDLINE_LOG_LEVEL", "WARNING")
    template = prepare(args.cards)

    from flows.prefect_env import prepare_prefect
    from line.settings import Settings

    prepare_prefect(Settings(home=template), quiet=True)  # type: ignore[call-arg]
    started = time.perf_counter()
    one_run(template, OUT / "warm", flow=True, batch_size=args.batch_size)
    cold = time.perf_counter() - started
    print(f"warm-up flow (ephemeral server cold start included): {cold:.1f} s", flush=True)

    rows = [measure(template, printer, args) for printer in args.printers.split(",")]
    print()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"cards: {args.cards}, batch size {args.batch_size}, rounds {args.rounds}")
    print(
        "| printer | direct, s (cards/s) | flow, s (cards/s) | Prefect adds (median) | per round |"
    )
    print("|---|---:|---:|---:|---|")
    for printer, times in rows:
        direct = statistics.median(times["direct"])
        flow = statistics.median(times["flow"])
        per_round = ", ".join(
            f"{100 * (f - d) / d:+.1f} %"
            for d, f in zip(times["direct"], times["flow"], strict=True)
        )
        print(
            f"| `{printer}` | {direct:.2f} ({args.cards / direct:.1f}) | {flow:.2f} "
            f"({args.cards / flow:.1f}) | {100 * (flow - direct) / direct:+.1f} % | {per_round} |"
        )
    print("target: at most +15 %")


def measure(
    template: Path, printer: str, args: argparse.Namespace
) -> tuple[str, dict[str, list[float]]]:
    """Rounds of the direct run and the flow, alternating, with ``printer``."""
    os.environ["CARDLINE_PRINTER"] = printer
    times: dict[str, list[float]] = {"direct": [], "flow": []}
    for round_ in range(args.rounds):
        for kind in ("direct", "flow"):
            seconds, passed = one_run(
                template, OUT / f"{printer}-{kind}-{round_}", flow=kind == "flow",
                batch_size=args.batch_size,
            )  # fmt: skip
            times[kind].append(seconds)
            print(
                f"{printer:<8} round {round_ + 1} {kind:<6} {seconds:6.2f} s  "
                f"{passed / seconds:6.1f} cards/s ({passed} passed QC)",
                flush=True,
            )
    return printer, times


if __name__ == "__main__":
    main()
