"""The intake's checker chain: one checker per field, every field checked, each refusal
carrying its own field's reason code."""

from __future__ import annotations

from pathlib import Path

from line.intake import FIELDS, RowValidator
from tests.conftest import TODAY


def test_every_field_has_one_checker_in_the_chain(tmp_path: Path) -> None:
    validator = RowValidator(base_dir=tmp_path, today=TODAY)
    checked = [field for field, _ in validator._checks]
    assert sorted(checked) == sorted(FIELDS)
    assert len(checked) == len(set(checked))


def test_the_validator_collects_each_fields_reason(tmp_path: Path) -> None:
    row = dict.fromkeys(FIELDS, "?")
    _, errors = RowValidator(base_dir=tmp_path, today=TODAY).validate(row)
    assert sorted({error.field for error in errors}) == sorted(
        {"id_number", "date_of_birth", "sex", "full_name", "nationality", "old_id_number"}
        | {"photo", "destination", "priority_group", "due_date"}
    )
    assert all(error.reason_code.startswith(f"{error.field}.") for error in errors)
