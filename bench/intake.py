"""Benchmark of intake: rows per second into SQLite and PostgreSQL, peak memory for a big file.

    .venv/bin/python bench/intake.py                 # 200,000 rows each, 1,000,000 for memory
    .venv/bin/python bench/intake.py --rows 20000 --memory-rows 100000   # quicker

Each import runs in its own process (so its peak RSS is its own), against a fresh
database: a SQLite file, and a fresh schema in PostgreSQL (127.0.0.1:5432, database test).
The schema is created before the clock starts; the time covers reading, validating,
de-duplicating, inserting and writing the reject report. Files are generated once under
bench/out/ and reused.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
TODAY = date(2026, 11, 1)
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def make_file(rows: int, seed: int = 2021) -> Path:
    from line.synthetic import people, write_csv, write_photos

    path = OUT / f"applications-{rows}.csv"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    photos = [f"photos/{name}" for name in write_photos(rng, OUT / "photos", 200)]
    tmp = path.with_suffix(".tmp")
    write_csv(tmp, (p.row() for p in people(rng, rows, today=TODAY, photos=photos)))
    tmp.rename(path)
    return path


def worker(url: str, file: Path, schema: str | None) -> None:
    import sqlalchemy as sa

    from line.db import make_engine
    from line.intake import import_file
    from schema import upgrade

    kwargs = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
    engine = make_engine(url, **kwargs)
    upgrade(engine)
    start = time.perf_counter()
    summary = import_file(
        engine=engine,
        path=file,
        today=TODAY,
        clock=lambda: datetime.now(UTC),
        rejects_dir=OUT / "rejects",
    )
    elapsed = time.perf_counter() - start
    with engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT count(*) FROM application")).scalar_one()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": summary.rows,
                "accepted": summary.accepted,
                "duplicates": summary.duplicates,
                "stored": stored,
                "seconds": round(elapsed, 2),
                "rows_per_second": round(summary.rows / elapsed),
                "peak_rss_mb": round(peak_kib / 1024, 1),
            }
        )
    )


def measure(target: str, file: Path) -> dict[str, object]:
    schema = None
    if target == "sqlite":
        db = OUT / f"bench-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{db}"
    else:
        import sqlalchemy as sa

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_URL)
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = PG_URL
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--worker", url, str(file), schema or ""],
            check=True,
            capture_output=True,
            text=True,
        )
        result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if target == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        else:
            with admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    return {"target": target, **result}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], Path(sys.argv[3]), sys.argv[4] or None)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}, {date.today()}"
    )
    file = make_file(args.rows)
    targets = ["sqlite"] + ([] if args.skip_postgres else ["postgresql"])
    results = [measure(target, file) for target in targets]
    big = make_file(args.memory_rows)
    results.append({**measure("sqlite", big), "target": "sqlite (memory run)"})
    print(f"{'target':<22}{'rows':>10}{'seconds':>9}{'rows/s':>9}{'peak RSS MB':>13}")
    for r in results:
        print(
            f"{r['target']:<22}{r['rows']:>10}{r['seconds']:>9}{r['rows_per_second']:>9}{r['peak_rss_mb']:>13}"
        )
        # Synthetic IDs have 6 random digits: a few people collide and count as duplicates.
        assert r["accepted"] + r["duplicates"] == r["rows"] and r["stored"] == r["accepted"], r


if __name__ == "__main__":
    main()
