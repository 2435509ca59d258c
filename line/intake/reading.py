"""Reading an intake file: CSV or JSON Lines, checked whole before a row is read, then
streamed row by row.

A file that cannot be read at all (missing, binary, not UTF-8, missing or unknown columns,
a JSON Lines file in which no line is an application record) raises ``IntakeFileError``;
a row that is not a record (bad CSV, wrong width, not a JSON object) comes out as a
row-level :class:`~line.intake.fields.FieldError` and the file goes on. Row numbers are the
file's line numbers (the CSV header is line 1).
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TextIO

from line.errors import IntakeFileError
from line.intake.fields import FIELDS, REQUIRED_FIELDS, FieldError

Format = Literal["csv", "jsonl"]


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
