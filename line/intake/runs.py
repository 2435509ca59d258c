"""An intake run's record and reject report: started together, beaten while the run
lasts, and runs left ``running`` by a process that is gone marked ``interrupted``.

See "A killed intake" in the ``line.intake`` package docstring for why a run beats and when
another intake takes it for dead.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from line.errors import IntakeFileError
from line.files import open_private, private_dir
from line.idnumber import mask_id
from line.intake.fields import FieldError
from line.intake.reading import IntakeFile
from line.logsetup import get_logger
from line.models import IntakeRun
from line.worker import Worker

log = get_logger(__name__)


HEARTBEAT_ROWS = 500
"""Between batches, a run looks at its clock every this many rows..."""
HEARTBEAT_EVERY = timedelta(minutes=1)
"""...and beats if its last beat is this old (it beats after every batch anyway)."""
STALE_AFTER = timedelta(minutes=15)
"""A ``running`` run silent for this long is taken for dead by the next intake."""
REPORT_HEADER = ("row", "field", "reason_code", "reason", "id_number_masked")


class RejectReport:
    """The reject report: created with its header at once, flushed at every beat."""

    def __init__(self, path: Path) -> None:
        private_dir(path.parent, tighten=False)  # new directories owner-only
        self.path = path
        self._handle = open_private(path, "w", encoding="utf-8", newline="")  # masked, but 0600
        self._writer = csv.writer(self._handle)
        self._writer.writerow(REPORT_HEADER)
        self._handle.flush()

    def write(self, row: int, error: FieldError, id_number: object) -> None:
        masked = mask_id(id_number) if isinstance(id_number, str) and id_number else ""
        self._writer.writerow((row, error.field, error.reason_code, error.message, masked))

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def default_report_path(rejects_dir: Path, source: Path, started: datetime, run_id: int) -> Path:
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    return rejects_dir / f"{source.stem}-{stamp}-run{run_id}-rejects.csv"


def mark_interrupted_runs(
    *, engine: Engine, now: datetime, worker: Worker, stale_after: timedelta = STALE_AFTER
) -> list[int]:
    """Mark ``interrupted`` the intake runs left ``running`` by a process that is gone (see
    the module docstring); returns their ids. ``worker`` is the process asking."""
    runs = IntakeRun.__table__  # type: ignore[attr-defined]
    marked: list[int] = []
    with engine.begin() as connection:
        running = connection.execute(
            sa.select(
                runs.c.id, runs.c.node, runs.c.pid, runs.c.started_at, runs.c.heartbeat_at
            ).where(runs.c.status == "running")
        ).all()
        for run_id, node, pid, started_at, heartbeat_at in running:
            last_seen = heartbeat_at or started_at
            if not (worker.sees_dead(node, pid) or now - last_seen > stale_after):
                continue
            beat = (
                runs.c.heartbeat_at.is_(None)
                if heartbeat_at is None
                else runs.c.heartbeat_at == heartbeat_at
            )
            done = connection.execute(  # unless it beat since it was read
                runs.update()
                .where(runs.c.id == run_id, runs.c.status == "running", beat)
                .values(status="interrupted", finished_at=now)
            )
            if done.rowcount:
                marked.append(run_id)
    if marked:
        log.warning("intake.interrupted_runs", intake_run_ids=marked)
    return marked


def start_run(
    engine: Engine,
    *,
    intake: IntakeFile,
    source: Path,
    started: datetime,
    worker: Worker,
    rejects_dir: Path,
    reject_report: Path | None,
) -> tuple[int, RejectReport]:
    """The run's record and its reject report (with its header), made together: if the
    report cannot be created, the run is not recorded either."""
    runs = IntakeRun.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        run_id: int = connection.execute(
            runs.insert()
            .values(
                source=str(source),
                source_format=intake.format,
                source_bytes=intake.size,
                status="running",
                reject_report="",
                started_at=started,
                host=worker.host[:255],
                node=worker.node,
                pid=worker.pid,
                heartbeat_at=started,
            )
            .returning(runs.c.id)
        ).scalar_one()
        report_path = reject_report or default_report_path(rejects_dir, source, started, run_id)
        try:
            report = RejectReport(report_path)
        except OSError as exc:
            raise IntakeFileError(
                f"{report_path}: cannot write the reject report: {exc.strerror or exc}",
                path=str(report_path),
            ) from exc
        try:
            connection.execute(
                runs.update().where(runs.c.id == run_id).values(reject_report=str(report_path))
            )
        except BaseException:
            report.close()
            raise
    return run_id, report
