"""Intake of approved applications from CSV or JSON Lines files.

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

**A killed intake.** A run records its host, pid namespace (``line.leases.Worker``) and pid,
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

import codecs
import csv
import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from line.digits import digits_message, foreign_digit, is_digits, iso_date
from line.errors import IntakeFileError
from line.files import open_private, private_dir
from line.idnumber import Sex, check_id_number, mask_id
from line.leases import Worker
from line.logsetup import get_logger
from line.models import LIVE_APPLICATION_SQL, Application, IntakeRun
from line.portrait import MAX_BYTES, PortraitProblem, inspect_portrait, read_portrait
from line.provinces import PROVINCES
from line.types import ApplicationState, Clock

log = get_logger(__name__)

FIELDS: tuple[str, ...] = (
    "id_number",
    "full_name",
    "date_of_birth",
    "sex",
    "nationality",
    "place_of_origin",
    "place_of_residence",
    "old_id_number",
    "photo",
    "destination",
    "priority_group",
    "due_date",
)
OPTIONAL_FIELDS: frozenset[str] = frozenset({"old_id_number", "priority_group", "due_date"})
REQUIRED_FIELDS: tuple[str, ...] = tuple(f for f in FIELDS if f not in OPTIONAL_FIELDS)

Format = Literal["csv", "jsonl"]
REPORT_HEADER = ("row", "field", "reason_code", "reason", "id_number_masked")

MAX_PHOTO_BYTES = MAX_BYTES
DUE_DATE_PAST = timedelta(days=366)
"""A due date further back than this is refused (``due_date.past``)."""
DUE_DATE_AHEAD = timedelta(days=731)
"""A due date further ahead than this (about two years) is refused (``due_date.future``)."""
HEARTBEAT_ROWS = 500
"""Between batches, a run looks at its clock every this many rows..."""
HEARTBEAT_EVERY = timedelta(minutes=1)
"""...and beats if its last beat is this old (it beats after every batch anyway)."""
STALE_AFTER = timedelta(minutes=15)
"""A ``running`` run silent for this long is taken for dead by the next intake."""

NATIONALITY = "Việt Nam"
_NATIONALITY_SPELLINGS = {"vnm", "việt nam", "viet nam", "vietnam", "vn"}
_DESTINATION_RE = re.compile(r"([0-9]{3})-([0-9]{4})")  # [0-9], never \d: ASCII digits only
_PRIORITY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# A name holds letters, spaces, apostrophes (Ê Đê names: H'Hen Niê) and hyphens. Here \d is
# meant to be Unicode: a digit of any script has no place in a name.
_NAME_BAD_RE = re.compile(r"[^\w '\-]|[\d_]")


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    code: str
    message: str

    @property
    def reason_code(self) -> str:
        return f"{self.field}.{self.code}" if self.field != "(row)" else f"row.{self.code}"


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


# --- validation of one row -------------------------------------------------------------------


def _text(value: str) -> str:
    if not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    return " ".join(value.split())


@functools.cache
def control_characters() -> re.Pattern[str]:
    """Control and invisible formatting characters (Unicode categories Cc and Cf), as ranges."""
    codes = [c for c in range(0x110000) if unicodedata.category(chr(c)) in ("Cc", "Cf")]
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    parts = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"[{parts}]")


def _has_control(value: str) -> bool:
    return control_characters().search(value) is not None


def _format_error(field: str, value: str, message: str) -> FieldError:
    """A ``<field>.format`` error; it says so when the value holds non-ASCII digits."""
    foreign = foreign_digit(value)
    if foreign is not None:
        message = f"{message}, in ASCII digits 0-9 (it holds {foreign})"
    return FieldError(field, "format", message)


@dataclass(slots=True)
class _Seen:
    """What the row's earlier checkers found, for the later ones that cross-check."""

    date_of_birth: date | None = None
    sex: Sex | None = None


_Problem = FieldError | list[FieldError] | None
"""A checker's answer: None (it has set its columns in ``out``), or why the field is
refused. Checkers write into ``out`` rather than return columns: intake validates tens of
thousands of rows a second, and a dict per field was a third of the time."""
_Check = Callable[[str, _Seen, dict[str, Any]], _Problem]

_WHEN_EMPTY: dict[str, str] = {
    "old_id_number": "old_id_number",
    "priority_group": "priority_group",
    "due_date": "due_date",
}
"""The column (set to None) of an optional field left empty."""


def _read_texts(raw: Mapping[str, object]) -> tuple[dict[str, str], list[FieldError]]:
    """Each field's text, stripped (absent: a field that is not text, not UTF-8, or a
    required one left empty, with its error; empty text: an optional one left empty)."""
    errors: list[FieldError] = []
    values: dict[str, str] = {}
    try:  # one check for the whole row; field by field only when it fails
        "".join(v for v in raw.values() if isinstance(v, str)).encode("utf-8")
        row_is_utf8 = True
    except UnicodeEncodeError:
        row_is_utf8 = False
    for field in FIELDS:
        value = raw.get(field)
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors.append(FieldError(field, "type", f"must be text, got {type(value).__name__}"))
            continue
        if not row_is_utf8:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                errors.append(FieldError(field, "encoding", "is not valid UTF-8"))
                continue
        value = value.strip()
        if not value and field not in OPTIONAL_FIELDS:
            errors.append(FieldError(field, "missing", "is required"))
            continue
        values[field] = value
    return values, errors


def check_date_of_birth(value: str, seen: _Seen, out: dict[str, Any], *, today: date) -> _Problem:
    dob = iso_date(value)
    if dob is None:
        return _format_error("date_of_birth", value, "must be a real date as YYYY-MM-DD")
    if dob > today:
        return FieldError("date_of_birth", "future", f"is after today ({today})")
    if dob.year < 1900:
        return FieldError("date_of_birth", "range", "is before 1900")
    seen.date_of_birth = out["date_of_birth"] = dob
    return None


def check_sex(value: str, seen: _Seen, out: dict[str, Any]) -> _Problem:
    upper = value.upper()
    if upper == "M":
        seen.sex = out["sex"] = "M"
    elif upper == "F":
        seen.sex = out["sex"] = "F"
    else:
        return FieldError("sex", "invalid", "must be M or F")
    return None


def check_id(value: str, seen: _Seen, out: dict[str, Any]) -> _Problem:
    if seen.date_of_birth is not None and seen.sex is not None:
        problems = check_id_number(value, date_of_birth=seen.date_of_birth, sex=seen.sex)
    else:  # cannot cross-check: check what the number says on its own
        problems = [
            p
            for p in check_id_number(value, date_of_birth=date(2000, 1, 1), sex="M")
            if p.code in ("format", "province")
        ]
    if problems:
        return [FieldError("id_number", p.code, p.message) for p in problems]
    out["id_number"] = value
    return None


def check_full_name(value: str, seen: _Seen, out: dict[str, Any]) -> _Problem:
    name = _text(value)
    if len(name) > 120:
        return FieldError("full_name", "too_long", "is longer than 120 characters")
    if _NAME_BAD_RE.search(name):
        return FieldError(
            "full_name",
            "invalid_characters",
            "may hold only letters, spaces, apostrophes and hyphens",
        )
    out["full_name"] = name
    return None


def check_nationality(value: str, seen: _Seen, out: dict[str, Any]) -> _Problem:
    if _text(value).casefold() in _NATIONALITY_SPELLINGS:
        out["nationality"] = NATIONALITY
        return None
    return FieldError(
        "nationality",
        "not_vietnamese",
        "citizen ID cards are issued to Vietnamese nationals only (expected Việt Nam or VNM)",
    )


def _check_place(field: str) -> _Check:
    def check(value: str, seen: _Seen, out: dict[str, Any]) -> _Problem:
        text = _text(value)
        if len(text) > 250:
            return FieldError(field, "too_long", "is longer than 250 characters")
        if _has_control(text):
            return FieldError(field, "invalid_characters", "holds control characters")
        out[field] = text
        return None

    return check


def check_old_id_number(value: str, seen: _Seen, out: dict[str, Any]) -> _Problem:
    if is_digits(value, 9):
        out["old_id_number"] = value
        return None
    return FieldError("old_id_number", "format", digits_message(value, "must be exactly 9 digits"))


def check_destination(value: str, seen: _Seen, out: dict[str, Any]) -> _Problem:
    match = _DESTINATION_RE.fullmatch(value)
    if match is None:
        return _format_error(
            "destination",
            value,
            "must be a province code, a dash and a 4-digit station code (079-0112)",
        )
    if match.group(1) not in PROVINCES:
        return FieldError("destination", "province", f"{match.group(1)} is not a province code")
    out["destination"] = value
    return None


def check_priority_group(value: str, seen: _Seen, out: dict[str, Any]) -> _Problem:
    group = value.lower()
    if _PRIORITY_RE.fullmatch(group):
        out["priority_group"] = group
        return None
    return FieldError(
        "priority_group",
        "format",
        "must be 1-32 of a-z, 0-9, '_' or '-', starting with a letter or digit",
    )


def check_due_date(value: str, seen: _Seen, out: dict[str, Any], *, today: date) -> _Problem:
    due = iso_date(value)
    if due is None:
        return _format_error("due_date", value, "must be a real date as YYYY-MM-DD")
    if due < today - DUE_DATE_PAST:
        return FieldError(
            "due_date",
            "past",
            f"{due} is more than {DUE_DATE_PAST.days} days before today ({today}): "
            "a typo, not a deadline",
        )
    if due > today + DUE_DATE_AHEAD:
        return FieldError(
            "due_date",
            "future",
            f"{due} is more than {DUE_DATE_AHEAD.days} days (about two years) after "
            f"today ({today})",
        )
    out["due_date"] = due
    return None


class RowValidator:
    """Turns one raw row (field -> text) into column values, or a list of field errors.

    One checker per field (``check_<field>``), run in this order; a checker sees what the
    earlier ones found (the ID is checked against the date of birth and sex)."""

    def __init__(self, *, base_dir: Path, today: date, photo_cache_size: int = 4096) -> None:
        self.base_dir = base_dir
        self.today = today
        self._photo = functools.lru_cache(maxsize=photo_cache_size)(self._check_photo)
        self._checks: tuple[tuple[str, _Check], ...] = (
            ("date_of_birth", functools.partial(check_date_of_birth, today=today)),
            ("sex", check_sex),
            ("id_number", check_id),
            ("full_name", check_full_name),
            ("nationality", check_nationality),
            ("place_of_origin", _check_place("place_of_origin")),
            ("place_of_residence", _check_place("place_of_residence")),
            ("old_id_number", check_old_id_number),
            ("photo", self.check_photo),
            ("destination", check_destination),
            ("priority_group", check_priority_group),
            ("due_date", functools.partial(check_due_date, today=today)),
        )

    def validate(self, raw: Mapping[str, object]) -> tuple[dict[str, Any] | None, list[FieldError]]:
        values, errors = _read_texts(raw)
        out: dict[str, Any] = {}
        seen = _Seen()
        for field, check in self._checks:
            value = values.get(field)
            if value is None:  # refused already (type, encoding, missing)
                continue
            if not value:  # an optional field left empty
                out[_WHEN_EMPTY[field]] = None
                continue
            problem = check(value, seen, out)
            if problem is None:
                continue
            if isinstance(problem, list):
                errors.extend(problem)
            else:
                errors.append(problem)
        if errors:
            return None, errors
        return out, []

    def check_photo(self, value: str, seen: _Seen, out: dict[str, Any]) -> _Problem:
        photo = self._photo(value)
        if isinstance(photo, FieldError):
            return photo
        out["photo_path"], out["photo_sha256"] = photo
        return None

    def _check_photo(self, value: str) -> tuple[str, str] | FieldError:
        path = Path(value)
        if not path.is_absolute():
            path = self.base_dir / path
        content = read_portrait(path, max_bytes=MAX_PHOTO_BYTES)
        if isinstance(content, PortraitProblem):
            return FieldError("photo", content.code, f"{content.message}: {value}")
        inspected = inspect_portrait(content)
        if isinstance(inspected, PortraitProblem):
            return FieldError("photo", inspected.code, f"{inspected.message}: {value}")
        return str(path.resolve()), hashlib.sha256(content).hexdigest()


# --- reading files -----------------------------------------------------------------------------


def detect_format(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise IntakeFileError(
        f"{path}: cannot tell the format from the name; use a .csv or .jsonl file or --format",
        path=str(path),
    )


def _check_text_file(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except FileNotFoundError as exc:
        raise IntakeFileError(f"{path}: no such file", path=str(path)) from exc
    except IsADirectoryError as exc:
        raise IntakeFileError(f"{path}: is a directory, not a file", path=str(path)) from exc
    except OSError as exc:
        raise IntakeFileError(f"{path}: cannot read: {exc.strerror}", path=str(path)) from exc
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise IntakeFileError(f"{path}: the file is empty", path=str(path))
    if b"\x00" in head:
        raise IntakeFileError(f"{path}: binary file, expected UTF-8 text", path=str(path))
    # One corrupt row in a UTF-8 file is that row's problem; a file in another encoding
    # (cp1258, UTF-16...) fails on its first line or on many lines: refuse it whole.
    lines = head.splitlines()
    if len(head) == 65536 and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut in the middle of a character
    undecodable = []
    for number, line in enumerate(lines, start=1):
        try:
            codecs.decode(line, "utf-8")
        except UnicodeDecodeError:
            undecodable.append(number)
    if undecodable and (undecodable[0] == 1 or len(undecodable) > max(2, len(lines) // 10)):
        raise IntakeFileError(
            f"{path}: not UTF-8 text (line {undecodable[0]} cannot be decoded); "
            "save the file as UTF-8",
            path=str(path),
        )


def _columns_problem(columns: list[str]) -> str | None:
    """What is wrong with a header (or a JSON record's keys), or None."""
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        return f"repeats column(s): {', '.join(duplicated)}"
    missing = [c for c in REQUIRED_FIELDS if c not in columns]
    if missing:
        return f"lacks required column(s): {', '.join(missing)}"
    unknown = [c for c in columns if c not in FIELDS]
    if unknown:
        return f"has unknown column(s): {', '.join(unknown)} (expected: {', '.join(FIELDS)})"
    return None


def _json_record(line: str) -> dict[str, object] | FieldError:
    """One JSON Lines line as a record, or the row error it is."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return FieldError("(row)", "json", f"is not valid JSON: {exc.msg}")
    if not isinstance(record, dict):
        return FieldError("(row)", "json", "is not a JSON object")
    unknown = [key for key in record if key not in FIELDS]
    if unknown:
        return FieldError("(row)", "unknown_field", f"has unknown field(s): {', '.join(unknown)}")
    return record


class IntakeFile:
    """An opened, checked intake file. Construction reads the header (CSV) or looks for one
    application record (JSON Lines); iteration streams rows."""

    def __init__(self, path: Path, fmt: Format | None = None) -> None:
        self.path = path
        self.format: Format = fmt or detect_format(path)
        _check_text_file(path)
        self.size = path.stat().st_size
        self._handle: TextIO = self._open()
        try:
            if self.format == "csv":
                self._reader: Any = csv.reader(self._handle)
                try:
                    header = next(self._reader)
                except csv.Error as exc:
                    raise IntakeFileError(f"{path}: header is not valid CSV: {exc}") from exc
                self.columns = [name.strip() for name in header]
                if not set(REQUIRED_FIELDS) <= set(self.columns):
                    for separator, name in ((";", ";"), ("\t", "tab"), ("|", "|")):
                        if any(separator in column for column in self.columns):
                            raise IntakeFileError(
                                f"{self.path}: the header looks {name}-separated; cardline "
                                "reads comma-separated CSV"
                            )
                problem = _columns_problem(self.columns)
                if problem is not None:
                    raise IntakeFileError(f"{self.path}: header {problem}")
            else:
                self._require_a_record()
                self.columns = list(FIELDS)
        except BaseException:
            self._handle.close()
            raise

    def _open(self) -> TextIO:
        return self.path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")

    def _require_a_record(self) -> None:
        """Refuse a JSON Lines file none of whose lines is an application record (a JSON
        object with every required field and no unknown one), naming the first line's fault.

        Reads up to the first record (line 1, in a good file) with a handle of its own."""
        first: str | None = None
        with self._open() as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    problem = f"is not JSON ({exc.msg}); expected JSON Lines"
                else:
                    if not isinstance(record, dict):
                        problem = "is not a JSON object"
                    else:
                        found = _columns_problem(list(record))
                        if found is None:
                            return
                        problem = found
                first = first or f"line {number} {problem}"
        raise IntakeFileError(f"{self.path}: {first}, and no line is an application record")

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> IntakeFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def rows(self) -> Iterator[tuple[int, dict[str, object] | FieldError]]:
        """(row number, raw record) pairs, or a row-level error for a record that is not one."""
        if self.format == "csv":
            yield from self._csv_rows()
        else:
            yield from self._json_rows()

    def _csv_rows(self) -> Iterator[tuple[int, dict[str, object] | FieldError]]:
        width = len(self.columns)
        previous_end = self._reader.line_num
        while True:
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                row = previous_end + 1
                previous_end = self._reader.line_num
                yield row, FieldError("(row)", "csv", f"is not valid CSV: {exc}")
                continue
            row = previous_end + 1
            previous_end = self._reader.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) != width:
                yield (
                    row,
                    FieldError(
                        "(row)", "width", f"has {len(cells)} fields, the header has {width}"
                    ),
                )
                continue
            yield row, dict(zip(self.columns, cells, strict=True))

    def _json_rows(self) -> Iterator[tuple[int, dict[str, object] | FieldError]]:
        for number, line in enumerate(self._handle, start=1):
            if line.strip():
                yield number, _json_record(line)


# --- the import ------------------------------------------------------------------------------


class _RejectReport:
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


def _live_duplicates(connection: Connection, id_numbers: list[str]) -> dict[str, int]:
    table = Application.__table__  # type: ignore[attr-defined]
    found = connection.execute(
        sa.select(table.c.id_number, table.c.id).where(
            table.c.id_number.in_(id_numbers), sa.text(LIVE_APPLICATION_SQL)
        )
    )
    return {id_number: app_id for id_number, app_id in found}


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


def _start_run(
    engine: Engine,
    *,
    intake: IntakeFile,
    source: Path,
    started: datetime,
    worker: Worker,
    rejects_dir: Path,
    reject_report: Path | None,
) -> tuple[int, _RejectReport]:
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
            report = _RejectReport(report_path)
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
    """Import one file of approved applications; see the module docstring for the rules.

    ``worker`` is the process recorded as running the import (default: this one)."""
    source = path.resolve() if path.exists() else path
    worker = worker or Worker.here()
    with IntakeFile(source, fmt) as intake:
        started = clock()
        mark_interrupted_runs(engine=engine, now=started, worker=worker)
        run_id, report = _start_run(
            engine,
            intake=intake,
            source=source,
            started=started,
            worker=worker,
            rejects_dir=rejects_dir,
            reject_report=reject_report,
        )
        runs = IntakeRun.__table__  # type: ignore[attr-defined]
        bound = log.bind(intake_run_id=run_id, source=source.name)
        bound.info("intake.started", format=intake.format, bytes=intake.size)
        validator = RowValidator(base_dir=source.parent, today=today)
        counts = {"rows": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
        overdue: list[int] = []
        last_beat = started

        def beat(now: datetime) -> None:
            nonlocal last_beat
            last_beat = now
            report.flush()
            with engine.begin() as connection:
                connection.execute(
                    runs.update()
                    .where(runs.c.id == run_id)
                    .values(
                        accepted=counts["accepted"],
                        rejected=counts["rejected"],
                        duplicates=counts["duplicates"],
                        heartbeat_at=now,
                    )
                )

        status = "failed"
        try:
            batch: list[tuple[int, dict[str, Any]]] = []
            for row, raw in intake.rows():
                counts["rows"] += 1
                if counts["rows"] % HEARTBEAT_ROWS == 0 and (now := clock()) - last_beat >= (
                    HEARTBEAT_EVERY
                ):
                    beat(now)
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
                    overdue.append(row)
                batch.append((row, values))
                if len(batch) >= batch_size:
                    _insert_batch(engine, batch, run_id, clock(), report, counts)
                    batch = []
                    beat(clock())
            if batch:
                _insert_batch(engine, batch, run_id, clock(), report, counts)
            status = "completed"
        finally:
            report.close()
            finished = clock()
            with engine.begin() as connection:
                connection.execute(
                    runs.update()
                    .where(runs.c.id == run_id)
                    .values(
                        status=status,
                        accepted=counts["accepted"],
                        rejected=counts["rejected"],
                        duplicates=counts["duplicates"],
                        finished_at=finished,
                        heartbeat_at=finished,
                    )
                )
            if overdue:
                bound.warning(
                    "intake.due_date_passed",
                    rows=len(overdue),
                    first_rows=overdue[:20],
                    reason="due date already passed: accepted, the card is late",
                )
            bound.info(f"intake.{status}", **counts, reject_report=str(report.path))
    return IntakeSummary(
        source=str(source),
        format=intake.format,
        rows=counts["rows"],
        accepted=counts["accepted"],
        rejected=counts["rejected"],
        duplicates=counts["duplicates"],
        reject_report=str(report.path),
        intake_run_id=run_id,
    )


def _insert_batch(
    engine: Engine,
    batch: list[tuple[int, dict[str, Any]]],
    run_id: int,
    now: datetime,
    report: _RejectReport,
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
