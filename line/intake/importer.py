"""The import: a file's rows validated and written in batches, duplicates counted, the
run's record kept up to date; see the ``line.intake`` package docstring for the rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from line.intake.fields import FieldError
from line.intake.reading import Format, IntakeFile
from line.intake.runs import (
    HEARTBEAT_EVERY,
    HEARTBEAT_ROWS,
    RejectReport,
    mark_interrupted_runs,
    start_run,
)
from line.intake.validator import RowValidator
from line.logsetup import get_logger
from line.models import LIVE_APPLICATION_SQL, Application, IntakeRun
from line.types import ApplicationState, Clock
from line.worker import Worker

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class IntakeSummary:
    source: str
    format: str
    rows: int
    accepted: int
    rejected: int
    duplicates: int
    reject_report: str
    intake_run_id: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _live_duplicates(connection: Connection, id_numbers: list[str]) -> dict[str, int]:
    table = Application.__table__  # type: ignore[attr-defined]
    found = connection.execute(
        sa.select(table.c.id_number, table.c.id).where(
            table.c.id_number.in_(id_numbers), sa.text(LIVE_APPLICATION_SQL)
        )
    )
    return {id_number: app_id for id_number, app_id in found}


def import_file(
    *,
    engine: Engine,
    path: Path,
    today: date,
    clock: Clock,
    rejects_dir: Path,
    reject_report: Path | None = None,
    fmt: Format | None = None,
    batch_size: int = 10_000,
    worker: Worker | None = None,
) -> IntakeSummary:
    """Import one file of approved applications (the rules: ``line.intake``).

    ``worker`` is the process recorded as running the import (default: this one)."""
    source = path.resolve() if path.exists() else path
    worker = worker or Worker.here()
    with IntakeFile(source, fmt) as intake:
        started = clock()
        mark_interrupted_runs(engine=engine, now=started, worker=worker)
        run_id, report = start_run(
            engine,
            intake=intake,
            source=source,
            started=started,
            worker=worker,
            rejects_dir=rejects_dir,
            reject_report=reject_report,
        )
        bound = log.bind(intake_run_id=run_id, source=source.name)
        run = _Run(engine, run_id, report, clock, bound, last_beat=started)
        run.log.info("intake.started", format=intake.format, bytes=intake.size)
        status = "failed"
        try:
            _import_rows(
                run, intake, RowValidator(base_dir=source.parent, today=today), today, batch_size
            )
            status = "completed"
        finally:
            run.finish(status)
    return IntakeSummary(
        source=str(source),
        format=intake.format,
        rows=run.counts["rows"],
        accepted=run.counts["accepted"],
        rejected=run.counts["rejected"],
        duplicates=run.counts["duplicates"],
        reject_report=str(report.path),
        intake_run_id=run_id,
    )


@dataclass(slots=True)
class _Run:
    """A run under way: its counts and rows with a passed due date so far, and its beat."""

    engine: Engine
    run_id: int
    report: RejectReport
    clock: Clock
    log: Any  # the run's logger, bound to its id and source
    last_beat: datetime
    counts: dict[str, int] = field(
        default_factory=lambda: {"rows": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
    )
    overdue: list[int] = field(default_factory=list)

    def _update(self, **values: object) -> None:
        runs = IntakeRun.__table__  # type: ignore[attr-defined]
        with self.engine.begin() as connection:
            connection.execute(
                runs.update()
                .where(runs.c.id == self.run_id)
                .values(
                    accepted=self.counts["accepted"],
                    rejected=self.counts["rejected"],
                    duplicates=self.counts["duplicates"],
                    **values,
                )
            )

    def beat(self, now: datetime) -> None:
        """Flush the reject report and record the counts so far: a killed run's record
        and report then say what it did up to its last beat."""
        self.last_beat = now
        self.report.flush()
        self._update(heartbeat_at=now)

    def finish(self, status: str) -> None:
        """Close the report, record how the run ended, log it (and the passed due dates)."""
        self.report.close()
        finished = self.clock()
        self._update(status=status, finished_at=finished, heartbeat_at=finished)
        if self.overdue:
            self.log.warning(
                "intake.due_date_passed",
                rows=len(self.overdue),
                first_rows=self.overdue[:20],
                reason="due date already passed: accepted, the card is late",
            )
        self.log.info(f"intake.{status}", **self.counts, reject_report=str(self.report.path))


def _import_rows(
    run: _Run, intake: IntakeFile, validator: RowValidator, today: date, batch_size: int
) -> None:
    """Every row of the file: refused ones to the report, good ones written in batches
    (each batch followed by a beat; between batches, a beat once a minute)."""
    counts, report, clock = run.counts, run.report, run.clock
    batch: list[tuple[int, dict[str, Any]]] = []
    for row, raw in intake.rows():
        counts["rows"] += 1
        if counts["rows"] % HEARTBEAT_ROWS == 0 and (now := clock()) - run.last_beat >= (
            HEARTBEAT_EVERY
        ):
            run.beat(now)
        if isinstance(raw, FieldError):
            report.write(row, raw, None)
            counts["rejected"] += 1
            continue
        values, errors = validator.validate(raw)
        if values is None:
            for error in errors:
                report.write(row, error, raw.get("id_number"))
            counts["rejected"] += 1
            continue
        if values["due_date"] is not None and values["due_date"] < today:
            run.overdue.append(row)
        batch.append((row, values))
        if len(batch) >= batch_size:
            _insert_batch(run.engine, batch, run.run_id, clock(), report, counts)
            batch = []
            run.beat(clock())
    if batch:
        _insert_batch(run.engine, batch, run.run_id, clock(), report, counts)


def _insert_batch(
    engine: Engine,
    batch: list[tuple[int, dict[str, Any]]],
    run_id: int,
    now: datetime,
    report: RejectReport,
    counts: dict[str, int],
) -> None:
    table = Application.__table__  # type: ignore[attr-defined]
    first_row_of: dict[str, int] = {}
    fresh: list[dict[str, Any]] = []
    with engine.begin() as connection:
        live = _live_duplicates(connection, [values["id_number"] for _, values in batch])
        for row, values in batch:
            id_number = values["id_number"]
            if id_number in live:
                reason = f"already has a live application ({live[id_number]})"
            elif id_number in first_row_of:
                reason = f"repeats row {first_row_of[id_number]} of this file"
            else:
                first_row_of[id_number] = row
                values["source_row"] = row
                fresh.append(values)
                continue
            report.write(row, FieldError("id_number", "duplicate", reason), id_number)
            counts["duplicates"] += 1
        if fresh:
            # What every row of the batch shares is bound once, not once per row.
            insert = table.insert().values(
                state=ApplicationState.APPROVED.value,
                spoiled_cards=0,
                received_at=now,
                updated_at=now,
                intake_run_id=run_id,
            )
            try:
                with connection.begin_nested():
                    connection.execute(insert, fresh)
                counts["accepted"] += len(fresh)
            except sa.exc.IntegrityError:
                # Another intake inserted some of these meanwhile: go row by row.
                for values in fresh:
                    try:
                        with connection.begin_nested():
                            connection.execute(insert, values)
                        counts["accepted"] += 1
                    except sa.exc.IntegrityError:
                        report.write(
                            values["source_row"],
                            FieldError("id_number", "duplicate", "already has a live application"),
                            values["id_number"],
                        )
                        counts["duplicates"] += 1
