"""Intake of approved applications from CSV or JSON Lines files.

The file is streamed: rows are read, validated and inserted in batches, so memory stays
flat however long the file is. A bad row never stops the file: it goes to a reject report
(CSV: row, field, reason) and the rest goes on. A file that cannot be read at all
(missing, binary, not UTF-8, missing or unknown columns) raises ``IntakeFileError``
before anything is written. Re-importing a file adds nothing: a personal ID that already
has a live application is counted as a duplicate.

Row numbers are the file's line numbers: in a CSV file the header is line 1, so the
first application is row 2; in a JSON Lines file the first line is row 1.
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from line.errors import IntakeFileError
from line.idnumber import check_id_number, mask_id
from line.logsetup import get_logger
from line.models import LIVE_APPLICATION_SQL, Application, IntakeRun
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

MAX_PHOTO_BYTES = 5 * 1024 * 1024
NATIONALITY = "Việt Nam"
_NATIONALITY_SPELLINGS = {"vnm", "việt nam", "viet nam", "vietnam", "vn"}
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_OLD_ID_RE = re.compile(r"\d{9}")
_DESTINATION_RE = re.compile(r"(\d{3})-(\d{4})")
_PRIORITY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# A name holds letters, spaces, apostrophes (Ê Đê names: H'Hen Niê) and hyphens.
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


def _iso_date(value: str) -> date | None:
    if not _DATE_RE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class RowValidator:
    """Turns one raw row (field -> text) into column values, or a list of field errors."""

    def __init__(self, *, base_dir: Path, today: date, photo_cache_size: int = 4096) -> None:
        self.base_dir = base_dir
        self.today = today
        self._photo = functools.lru_cache(maxsize=photo_cache_size)(self._check_photo)

    def validate(self, raw: Mapping[str, object]) -> tuple[dict[str, Any] | None, list[FieldError]]:
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
                errors.append(
                    FieldError(field, "type", f"must be text, got {type(value).__name__}")
                )
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
        bad = {error.field for error in errors}
        out: dict[str, Any] = {}

        dob: date | None = None
        if "date_of_birth" in values:
            dob = _iso_date(values["date_of_birth"])
            if dob is None:
                errors.append(
                    FieldError("date_of_birth", "format", "must be a real date as YYYY-MM-DD")
                )
            elif dob > self.today:
                errors.append(
                    FieldError("date_of_birth", "future", f"is after today ({self.today})")
                )
                dob = None
            elif dob.year < 1900:
                errors.append(FieldError("date_of_birth", "range", "is before 1900"))
                dob = None
            else:
                out["date_of_birth"] = dob

        sex: Literal["M", "F"] | None = None
        if "sex" in values:
            upper = values["sex"].upper()
            if upper == "M":
                sex = "M"
            elif upper == "F":
                sex = "F"
            if sex is not None:
                out["sex"] = sex
            else:
                errors.append(FieldError("sex", "invalid", "must be M or F"))

        if "id_number" in values:
            id_number = values["id_number"]
            if dob is not None and sex is not None:
                problems = check_id_number(id_number, date_of_birth=dob, sex=sex)
            else:  # cannot cross-check: check what the number says on its own
                problems = [
                    p
                    for p in check_id_number(id_number, date_of_birth=date(2000, 1, 1), sex="M")
                    if p.code in ("format", "province")
                ]
            errors.extend(FieldError("id_number", p.code, p.message) for p in problems)
            if not problems:
                out["id_number"] = id_number

        if "full_name" in values:
            name = _text(values["full_name"])
            if len(name) > 120:
                errors.append(FieldError("full_name", "too_long", "is longer than 120 characters"))
            elif _NAME_BAD_RE.search(name):
                errors.append(
                    FieldError(
                        "full_name",
                        "invalid_characters",
                        "may hold only letters, spaces, apostrophes and hyphens",
                    )
                )
            else:
                out["full_name"] = name

        if "nationality" in values:
            if _text(values["nationality"]).casefold() in _NATIONALITY_SPELLINGS:
                out["nationality"] = NATIONALITY
            else:
                errors.append(
                    FieldError(
                        "nationality",
                        "not_vietnamese",
                        "citizen ID cards are issued to Vietnamese nationals only "
                        "(expected Việt Nam or VNM)",
                    )
                )

        for field in ("place_of_origin", "place_of_residence"):
            if field in values:
                text = _text(values[field])
                if len(text) > 250:
                    errors.append(FieldError(field, "too_long", "is longer than 250 characters"))
                elif _has_control(text):
                    errors.append(
                        FieldError(field, "invalid_characters", "holds control characters")
                    )
                else:
                    out[field] = text

        old = values.get("old_id_number", "")
        if old and "old_id_number" not in bad:
            if _OLD_ID_RE.fullmatch(old):
                out["old_id_number"] = old
            else:
                errors.append(FieldError("old_id_number", "format", "must be exactly 9 digits"))
        else:
            out["old_id_number"] = None

        if "photo" in values:
            photo = self._photo(values["photo"])
            if isinstance(photo, FieldError):
                errors.append(photo)
            else:
                out["photo_path"], out["photo_sha256"] = photo

        if "destination" in values:
            match = _DESTINATION_RE.fullmatch(values["destination"])
            if match is None:
                errors.append(
                    FieldError(
                        "destination",
                        "format",
                        "must be a province code, a dash and a 4-digit station code (079-0112)",
                    )
                )
            elif match.group(1) not in PROVINCES:
                errors.append(
                    FieldError(
                        "destination", "province", f"{match.group(1)} is not a province code"
                    )
                )
            else:
                out["destination"] = values["destination"]

        group = values.get("priority_group", "").lower()
        if group and "priority_group" not in bad:
            if _PRIORITY_RE.fullmatch(group):
                out["priority_group"] = group
            else:
                errors.append(
                    FieldError(
                        "priority_group",
                        "format",
                        "must be 1-32 of a-z, 0-9, '_' or '-', starting with a letter or digit",
                    )
                )
        else:
            out["priority_group"] = None

        due = values.get("due_date", "")
        if due and "due_date" not in bad:
            parsed = _iso_date(due)
            if parsed is None:
                errors.append(FieldError("due_date", "format", "must be a real date as YYYY-MM-DD"))
            else:
                out["due_date"] = parsed
        else:
            out["due_date"] = None

        if errors:
            return None, errors
        return out, []

    def _check_photo(self, value: str) -> tuple[str, str] | FieldError:
        path = Path(value)
        if not path.is_absolute():
            path = self.base_dir / path
        try:
            if not path.is_file():
                return FieldError("photo", "not_found", f"no such file: {value}")
            size = path.stat().st_size
            if size == 0:
                return FieldError("photo", "empty", f"file is empty: {value}")
            if size > MAX_PHOTO_BYTES:
                return FieldError(
                    "photo", "too_large", f"{size} bytes, more than {MAX_PHOTO_BYTES}: {value}"
                )
            content = path.read_bytes()
        except OSError as exc:
            return FieldError("photo", "unreadable", f"{exc.strerror}: {value}")
        if not (content.startswith(b"\xff\xd8\xff") or content.startswith(b"\x89PNG\r\n\x1a\n")):
            return FieldError("photo", "not_image", f"is neither a JPEG nor a PNG: {value}")
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


class IntakeFile:
    """An opened, checked intake file. Construction reads the header; iteration streams rows."""

    def __init__(self, path: Path, fmt: Format | None = None) -> None:
        self.path = path
        self.format: Format = fmt or detect_format(path)
        _check_text_file(path)
        self.size = path.stat().st_size
        self._handle: TextIO = path.open(
            "r", encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        try:
            if self.format == "csv":
                self._reader: Any = csv.reader(self._handle)
                try:
                    header = next(self._reader)
                except csv.Error as exc:
                    raise IntakeFileError(f"{path}: header is not valid CSV: {exc}") from exc
                self.columns = [name.strip() for name in header]
                self._check_columns(self.columns, where="header")
                self._first: tuple[int, dict[str, object]] | None = None
            else:
                self._first = self._first_json_record()
                self.columns = list(self._first[1]) if self._first else list(FIELDS)
        except BaseException:
            self._handle.close()
            raise

    def _check_columns(self, columns: list[str], *, where: str) -> None:
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        if duplicated:
            raise IntakeFileError(
                f"{self.path}: {where} repeats column(s): {', '.join(duplicated)}"
            )
        missing = [c for c in REQUIRED_FIELDS if c not in columns]
        if missing:
            raise IntakeFileError(
                f"{self.path}: {where} lacks required column(s): {', '.join(missing)}"
            )
        unknown = [c for c in columns if c not in FIELDS]
        if unknown:
            raise IntakeFileError(
                f"{self.path}: {where} has unknown column(s): {', '.join(unknown)} "
                f"(expected: {', '.join(FIELDS)})"
            )

    def _first_json_record(self) -> tuple[int, dict[str, object]] | None:
        for number, line in enumerate(self._handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise IntakeFileError(
                    f"{self.path}: line {number} is not JSON ({exc.msg}); expected JSON Lines"
                ) from exc
            if not isinstance(record, dict):
                raise IntakeFileError(f"{self.path}: line {number} is not a JSON object")
            self._check_columns(list(record), where=f"line {number}")
            self._line = number
            return number, record
        return None

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
        if self._first is None:
            return
        yield self._first
        for number, line in enumerate(self._handle, start=self._line + 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, FieldError("(row)", "json", f"is not valid JSON: {exc.msg}")
                continue
            if not isinstance(record, dict):
                yield number, FieldError("(row)", "json", "is not a JSON object")
                continue
            unknown = [key for key in record if key not in FIELDS]
            if unknown:
                yield (
                    number,
                    FieldError(
                        "(row)", "unknown_field", f"has unknown field(s): {', '.join(unknown)}"
                    ),
                )
                continue
            yield number, record


# --- the import ------------------------------------------------------------------------------


class _RejectReport:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(REPORT_HEADER)

    def write(self, row: int, error: FieldError, id_number: object) -> None:
        masked = mask_id(id_number) if isinstance(id_number, str) and id_number else ""
        self._writer.writerow((row, error.field, error.reason_code, error.message, masked))

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
) -> IntakeSummary:
    """Import one file of approved applications; see the module docstring for the rules."""
    source = path.resolve() if path.exists() else path
    with IntakeFile(source, fmt) as intake:
        started = clock()
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
                )
                .returning(runs.c.id)
            ).scalar_one()
            report_path = reject_report or default_report_path(rejects_dir, source, started, run_id)
            connection.execute(
                runs.update().where(runs.c.id == run_id).values(reject_report=str(report_path))
            )
        bound = log.bind(intake_run_id=run_id, source=source.name)
        bound.info("intake.started", format=intake.format, bytes=intake.size)
        validator = RowValidator(base_dir=source.parent, today=today)
        counts = {"rows": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
        status = "failed"
        report: _RejectReport | None = None
        try:
            report = _RejectReport(report_path)
            batch: list[tuple[int, dict[str, Any]]] = []
            for row, raw in intake.rows():
                counts["rows"] += 1
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
                batch.append((row, values))
                if len(batch) >= batch_size:
                    _insert_batch(engine, batch, run_id, clock(), report, counts)
                    batch = []
            if batch:
                _insert_batch(engine, batch, run_id, clock(), report, counts)
            status = "completed"
        finally:
            if report is not None:
                report.close()
            with engine.begin() as connection:
                connection.execute(
                    runs.update()
                    .where(runs.c.id == run_id)
                    .values(
                        status=status,
                        accepted=counts["accepted"],
                        rejected=counts["rejected"],
                        duplicates=counts["duplicates"],
                        finished_at=clock(),
                    )
                )
            bound.info(f"intake.{status}", **counts, reject_report=str(report_path))
    return IntakeSummary(
        source=str(source),
        format=intake.format,
        rows=counts["rows"],
        accepted=counts["accepted"],
        rejected=counts["rejected"],
        duplicates=counts["duplicates"],
        reject_report=str(report_path),
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
