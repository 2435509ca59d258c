"""The row validator: runs every field's checker on one raw row and collects each field's
reason, so a reject report names every field that is off, not only the first.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from line.intake.fields import (
    FIELDS,
    MAX_PHOTO_BYTES,
    OPTIONAL_FIELDS,
    WHEN_EMPTY,
    Check,
    FieldError,
    Problem,
    Seen,
    check_date_of_birth,
    check_destination,
    check_due_date,
    check_full_name,
    check_id,
    check_nationality,
    check_old_id_number,
    check_place,
    check_priority_group,
    check_sex,
)
from line.portrait import PortraitProblem, inspect_portrait, read_portrait


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


class RowValidator:
    """Turns one raw row (field -> text) into column values, or a list of field errors.

    One checker per field (``check_<field>``), run in this order; a checker sees what the
    earlier ones found (the ID is checked against the date of birth and sex)."""

    def __init__(self, *, base_dir: Path, today: date, photo_cache_size: int = 4096) -> None:
        self.base_dir = base_dir
        self.today = today
        self._photo = functools.lru_cache(maxsize=photo_cache_size)(self._check_photo)
        self._checks: tuple[tuple[str, Check], ...] = (
            ("date_of_birth", functools.partial(check_date_of_birth, today=today)),
            ("sex", check_sex),
            ("id_number", check_id),
            ("full_name", check_full_name),
            ("nationality", check_nationality),
            ("place_of_origin", check_place("place_of_origin")),
            ("place_of_residence", check_place("place_of_residence")),
            ("old_id_number", check_old_id_number),
            ("photo", self.check_photo),
            ("destination", check_destination),
            ("priority_group", check_priority_group),
            ("due_date", functools.partial(check_due_date, today=today)),
        )

    def validate(self, raw: Mapping[str, object]) -> tuple[dict[str, Any] | None, list[FieldError]]:
        values, errors = _read_texts(raw)
        out: dict[str, Any] = {}
        seen = Seen()
        for field, check in self._checks:
            value = values.get(field)
            if value is None:  # refused already (type, encoding, missing)
                continue
            if not value:  # an optional field left empty
                out[WHEN_EMPTY[field]] = None
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

    def check_photo(self, value: str, seen: Seen, out: dict[str, Any]) -> Problem:
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
