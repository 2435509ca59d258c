"""Benchmark of the hash chain (``line.chain``): what linking adds per row written, and how
fast ``cardline check`` walks a chain, on SQLite and PostgreSQL.

    .venv/bin/python bench/chain.py                 # 5,000 stage events per run
    .venv/bin/python bench/chain.py --rows 2000 --repeat 3

Each run: a fresh database at the head revision (SQLite file, or a new PostgreSQL schema)
with one application; then ``--rows`` stage events written through the ORM as the line
writes them (``line.events.append_event``), ``per`` events per transaction: 1 (a lone
event, the worst case: a lock and a head update for one row), 5 (about one card's worth)
and 100 (a batch of cards, one flush). Each is timed with the chain's listener on and
off (removed from the session class: the rows are then written without hashes); the
difference over the rows is the chain's cost per row, in wall time and in this process's
CPU time (steadier on a shared machine; PostgreSQL's own work is not in it). The best of
``--repeat`` runs is kept. Then ``verify`` walks the chained table: rows per second.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out" / "chain"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _fresh(target: str) -> tuple[Any, Callable[[], None]]:
    """A database at the head revision with one application, and how to throw it away."""
    import sqlalchemy as sa

    import inventory.models  # noqa: F401  (every table of the schema)
    from line.db import make_engine, session_scope
    from schema import upgrade
    from tests.factories import add_application

    if target == "sqlite":
        shutil.rmtree(OUT, ignore_errors=True)
        OUT.mkdir(parents=True)
        engine = make_engine(f"sqlite:///{OUT / 'chain.db'}")

        def drop() -> None:
            engine.dispose()
            shutil.rmtree(OUT, ignore_errors=True)
    else:
        schema = f"cardline_bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_URL)
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})

        def drop() -> None:
            engine.dispose()
            with admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    upgrade(engine)
    with session_scope(engine) as session:
        add_application(session, seed=1, today=date(2026, 11, 1))
    return engine, drop


def _write(engine: Any, rows: int, per: int) -> tuple[float, float]:
    """Seconds (wall, this process's CPU) to write ``rows`` stage events, ``per`` to a
    transaction."""
    from sqlmodel import select

    from line.db import session_scope
    from line.events import append_event
    from line.models import Application
    from line.types import EventKind, Outcome, Stage

    with session_scope(engine) as session:
        application = session.exec(select(Application)).one()
    start, cpu = time.perf_counter(), time.process_time()
    for first in range(0, rows, per):
        with session_scope(engine) as session:
            for n in range(first, min(first + per, rows)):
                append_event(
                    session, application, None, stage=Stage.PRINT, kind=EventKind.OUTCOME,
                    outcome=Outcome.OK, actor="bench", machine="print-01", reason_code=None,
                    started_at=T0 + timedelta(seconds=n),
                )  # fmt: skip
    return time.perf_counter() - start, time.process_time() - cpu


def _timed(
    target: str, rows: int, per: int, chained: bool
) -> tuple[tuple[float, float], float | None]:
    """((wall, CPU) seconds to write, seconds to verify the table or None) on a fresh
    database."""
    import sqlalchemy as sa
    from sqlmodel import Session

    from line.chain import link_new_rows, verify_engine

    engine, drop = _fresh(target)
    if not chained:
        sa.event.remove(Session, "before_flush", link_new_rows)
    try:
        seconds = _write(engine, rows, per)
        checked = None
        if chained:
            start = time.perf_counter()
            found = verify_engine(engine)
            checked = time.perf_counter() - start
            assert found.problems == [] and found.rows["stage_event"] == rows, found
        return seconds, checked
    finally:
        if not chained:
            sa.event.listen(Session, "before_flush", link_new_rows)
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--targets", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"# {platform.node()} {platform.python_version()} {args.rows} stage events a run")
    print(
        f"{'target':<12}{'per txn':>8}{'plain/s':>10}{'chained/s':>11}"
        f"{'added µs/row':>14}{'added CPU µs/row':>18}{'verify rows/s':>15}"
    )
    for target in args.targets.split(","):
        for per in (1, 5, 100):
            plain = [_timed(target, args.rows, per, False)[0] for _ in range(args.repeat)]
            runs = [_timed(target, args.rows, per, True) for _ in range(args.repeat)]
            wall = min(w for (w, _), _ in runs)
            added = (wall - min(w for w, _ in plain)) / args.rows * 1e6
            cpu = (min(c for (_, c), _ in runs) - min(c for _, c in plain)) / args.rows * 1e6
            verify = min(checked for _, checked in runs if checked is not None)
            print(
                f"{target:<12}{per:>8}{args.rows / min(w for w, _ in plain):>10,.0f}"
                f"{args.rows / wall:>11,.0f}{added:>14,.0f}{cpu:>18,.0f}"
                f"{args.rows / verify:>15,.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
