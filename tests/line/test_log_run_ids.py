"""A Prefect run id in a log record stays whole: it names the run, it is not an ID number."""

from __future__ import annotations

from line.logsetup import mask_personal_data

ALL_DIGITS_TAIL = "0b7e1a52-3c4d-4e5f-8a9b-079301123456"  # its last group: twelve digits


def test_a_run_id_ending_in_twelve_digits_is_kept_under_its_own_key() -> None:
    event = mask_personal_data(
        None, "info", {"event": "e", "flow_run_id": ALL_DIGITS_TAIL, "task_run_id": ALL_DIGITS_TAIL}
    )
    assert event["flow_run_id"] == event["task_run_id"] == ALL_DIGITS_TAIL


def test_an_id_number_under_a_run_id_key_is_still_masked() -> None:
    event = mask_personal_data(
        None, "info", {"flow_run_id": "079301123456", "other": ALL_DIGITS_TAIL}
    )
    assert event["flow_run_id"] == "********3456"  # not a UUID: masked like any value
    assert event["other"] == "0b7e1a52-3c4d-4e5f-8a9b-********3456"  # masked anywhere else
