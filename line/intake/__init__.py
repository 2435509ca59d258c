"""Intake of approved applications from CSV or JSON Lines files.

The package: :mod:`~line.intake.fields` (the fields and one checker per field),
:mod:`~line.intake.validator` (the row validator that runs them), :mod:`~line.intake.reading`
(the file, CSV or JSON Lines), :mod:`~line.intake.runs` (the run's record, heartbeat and
reject report) and :mod:`~line.intake.importer` (the batches written to the database).

The file is streamed: rows are read, validated and inserted in batches, so memory stays
flat however long the file is. A bad row never stops the file: it goes to a reject report
(CSV: row, field, reason) and the rest goes on. A file that cannot be read at all
(missing, binary, not UTF-8, missing or unknown columns, a JSON Lines file in which no
line is an application record) raises ``IntakeFileError`` before anything is written.
Re-importing a file adds nothing: a personal ID that already has a live application is
counted as a duplicate.

Row numbers are the file's line numbers: in a CSV file the header is line 1, so the
first application is row 2; in a JSON Lines file the first line is row 1. In a JSON Lines
file every line is a row of its own, the first one too: a broken first line is a rejected
row, and the file is refused only when no line is an application record.

Rules a row is held to, field by field (one small checker each, in ``RowValidator``):

- **digits are ASCII**: the ID (12), the old ID (9), the destination code (``079-0112``)
  and the dates (``YYYY-MM-DD``) take ``0-9`` only; Arabic-Indic or full-width digits are
  refused naming the field (``line.digits``), so that they cannot pass the duplicate check
  beside the ASCII form of the same number;
- **the photo** is a JPEG or PNG that passes ``line.portrait`` (ICAO token size and aspect,
  no pixel bomb, not truncated); its SHA-256 is recorded for print to check again;
- **the due date** lies between :data:`DUE_DATE_PAST` before today (older: a typo, not a
  deadline) and :data:`DUE_DATE_AHEAD` after it; a due date that has passed within that
  window is taken (the card is late, not unwanted), and the run logs a warning with the
  number of such rows.

**A killed intake.** A run records its host, pid namespace (``line.worker.Worker``) and pid,
and beats (``heartbeat_at``, with its counts so far) after every batch, and between batches
once a minute (:data:`HEARTBEAT_EVERY`, looked at every :data:`HEARTBEAT_ROWS` rows). Each
intake, before it starts, marks ``interrupted`` the runs left ``running`` whose process is
certainly gone (same pid namespace, pid not running), or that have not beaten for
:data:`STALE_AFTER` (a run of another machine, a hung process, a reused pid). A live intake,
here or on another worker against the same PostgreSQL, beats far more often than that and
is left alone; the update is conditional on the heartbeat read,
so a run that beats meanwhile is not marked. A run marked by mistake (alive but silent for
longer than ``STALE_AFTER``) still ends ``completed`` or ``failed`` itself. Its reject report
is created with its header before the first row is read and flushed at every beat, so even
a killed run's report has its header and the rows refused up to its last beat.
"""

from __future__ import annotations

from line.intake.fields import (
    DUE_DATE_AHEAD,
    DUE_DATE_PAST,
    FIELDS,
    MAX_PHOTO_BYTES,
    NATIONALITY,
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    FieldError,
    control_characters,
)
from line.intake.importer import (
    IntakeSummary,
    import_file,
)
from line.intake.reading import (
    Format,
    IntakeFile,
    detect_format,
)
from line.intake.runs import (
    HEARTBEAT_EVERY,
    HEARTBEAT_ROWS,
    REPORT_HEADER,
    STALE_AFTER,
    default_report_path,
    mark_interrupted_runs,
)
from line.intake.validator import (
    RowValidator,
)

__all__ = [
    "DUE_DATE_AHEAD",
    "DUE_DATE_PAST",
    "FIELDS",
    "FieldError",
    "Format",
    "HEARTBEAT_EVERY",
    "HEARTBEAT_ROWS",
    "IntakeFile",
    "IntakeSummary",
    "MAX_PHOTO_BYTES",
    "NATIONALITY",
    "OPTIONAL_FIELDS",
    "REPORT_HEADER",
    "REQUIRED_FIELDS",
    "RowValidator",
    "STALE_AFTER",
    "control_characters",
    "default_report_path",
    "detect_format",
    "import_file",
    "mark_interrupted_runs",
]
