"""Run a real intake, and die by SIGKILL as it is about to insert its second batch.

    python tests/line/killed_intake.py DB_URL FILE REJECTS_DIR BATCH_SIZE

Everything before the kill really happened: the run was recorded, its reject report made,
its first batch inserted and its beat (counts, heartbeat, report flushed) committed. The
kill wraps the real ``_insert_batch``. A file of one batch or less never reaches the kill:
the import ends and the process exits 0 (the test sees that).
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(url: str, file: str, rejects: str, batch_size: str) -> int:
    import line.intake.importer
    from line.db import make_engine

    real = line.intake.importer._insert_batch
    calls = 0

    def insert_then_die(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        real(*args, **kwargs)

    line.intake.importer._insert_batch = insert_then_die  # type: ignore[assignment]
    moments = iter(
        datetime(2026, 11, 1, 8, 0, tzinfo=UTC) + timedelta(seconds=n) for n in range(10**6)
    )
    line.intake.importer.import_file(
        engine=make_engine(url),
        path=Path(file),
        today=datetime(2026, 11, 1, tzinfo=UTC).date(),
        clock=lambda: next(moments),
        rejects_dir=Path(rejects),
        batch_size=int(batch_size),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
