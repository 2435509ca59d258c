"""Benchmark of chip reservations: reservations per second on SQLite and PostgreSQL, with 1
and 4 concurrent worker processes.

    .venv/bin/python bench/stock.py                  # 20,000 reservations per run
    .venv/bin/python bench/stock.py --reservations 4000

Each run: a fresh database (SQLite file, or a new PostgreSQL schema), one chip lot as big
as the work, and that many approved applications (inserted before the clock starts). The
workers reserve chips for their share of the applications in batches of 100 (the line
reserves a batch at a time), each batch one transaction. The time runs from the moment the
started, connected workers are let go to the last one done; every run checks that exactly
one chip per application was reserved.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.synchronize
import os
import platform
import shutil
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out" / "stock"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BATCH = 100


def _engine(url: str, schema: str | None):  # type: ignore[no-untyped-def]
    from line.db import make_engine

    kwargs = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
    return make_engine(url, **kwargs)


def _worker(
    url: str,
    schema: str | None,
    ids: list[int],
    done: multiprocessing.Queue,
    ready: multiprocessing.Queue,
    go: multiprocessing.synchronize.Event,
) -> None:  # type: ignore[type-arg]
    from inventory.ledger import reserve_chips
    from line.db import session_scope

    engine = _engine(url, schema)
    with engine.connect():
        pass
    ready.put(1)
    go.wait()
    got = 0
    for start in range(0, len(ids), BATCH):
        with session_scope(engine) as session:
            got += len(
                reserve_chips(
                    session=session,
                    application_ids=ids[start : start + BATCH],
                    at=datetime.now(UTC),
                    actor="bench",
                )
            )
    done.put(got)


def prepare(url: str, schema: str | None, count: int) -> list[int]:
    import sqlalchemy as sa

    from inventory.ledger import receive
    from line.db import session_scope
    from line.models import Application
    from schema import upgrade

    engine = _engine(url, schema)
    upgrade(engine)
    now = datetime.now(UTC)
    rows = [
        {
            "id_number": f"079{n:09d}",
            "full_name": "Bench",
            "date_of_birth": date(1990, 1, 1),
            "sex": "M",
            "nationality": "Việt Nam",
            "place_of_origin": "x",
            "place_of_residence": "y",
            "photo_path": "/p.jpg",
            "photo_sha256": "0" * 64,
            "destination": "079-0001",
            "state": "approved",
            "spoiled_cards": 0,
            "received_at": now,
            "updated_at": now,
        }  # fmt: skip
        for n in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(Application.__table__), rows)  # type: ignore[attr-defined]
        ids = [
            row[0] for row in connection.execute(sa.text("SELECT id FROM application ORDER BY id"))
        ]
    with session_scope(engine) as session:
        receive(
            session=session, item_code="chip", lot_number="BENCH", supplier="bench",
            quantity=count, first_uid="04F0000000000001", at=now, actor="bench",
        )  # fmt: skip
    engine.dispose()
    return ids


def run(target: str, workers: int, count: int) -> float:
    import sqlalchemy as sa

    schema = None
    if target == "sqlite":
        shutil.rmtree(OUT, ignore_errors=True)
        OUT.mkdir(parents=True)
        url = f"sqlite:///{OUT / 'stock.db'}"
    else:
        schema = f"bench_stock_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_URL)
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = PG_URL
    try:
        ids = prepare(url, schema, count)
        context = multiprocessing.get_context("spawn")
        done: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
        ready: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
        go = context.Event()
        processes = [
            context.Process(target=_worker, args=(url, schema, ids[n::workers], done, ready, go))
            for n in range(workers)
        ]
        for process in processes:
            process.start()
        for _ in processes:  # imports and connections happen before the clock starts
            ready.get(timeout=120)
        start = time.perf_counter()
        go.set()
        reserved = sum(done.get(timeout=600) for _ in processes)
        elapsed = time.perf_counter() - start
        for process in processes:
            process.join()
        assert reserved == count, (reserved, count)
        return count / elapsed
    finally:
        if schema is not None:
            with admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reservations", type=int, default=20_000)
    args = parser.parse_args()
    from line.logsetup import configure_logging

    configure_logging(log_file=None, console_level="WARNING")
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {date.today()}"
    )
    print(f"{'target':<12}{'workers':>8}{'reservations':>14}{'per second':>12}")
    for target in ("sqlite", "postgresql"):
        for workers in (1, 4):
            rate = run(target, workers, args.reservations)
            print(f"{target:<12}{workers:>8}{args.reservations:>14}{rate:>12,.0f}")


if __name__ == "__main__":
    main()
