"""Logging: one configuration, JSON lines in a file, personal data masked by one processor."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import structlog
from structlog.testing import capture_logs

from line.logsetup import REDACTED, configure_logging, mask_personal_data


def test_the_processor_masks_ids_and_drops_personal_fields() -> None:
    event = mask_personal_data(
        None,
        "info",
        {
            "event": "looked up 079301123456 (old 025123456)",
            "id_number": "079301123456",
            "full_name": "Nguyễn Thị Ánh Tuyết",
            "place_of_residence": "Số 12 Lê Lợi, Hồ Chí Minh",
            "photo_path": "/photos/a.jpg",
            "nested": {"date_of_birth": "2001-05-17", "ids": ["001085123456"]},
            "count": 12,
        },
    )
    assert event == {
        "event": "looked up ********3456 (old *****3456)",
        "id_number": "********3456",
        "full_name": REDACTED,
        "place_of_residence": REDACTED,
        "photo_path": REDACTED,
        "nested": {"date_of_birth": REDACTED, "ids": ["********3456"]},
        "count": 12,
    }


def test_the_log_file_holds_json_lines_with_nothing_personal(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "cardline.jsonl"
    configure_logging(log_file=log_file, console=False)
    try:
        log = structlog.get_logger("test").bind(application_id=7, station="qc")
        log.info("card.checked", id_number="079301123456", full_name="Trần Văn Hùng")
        logging.getLogger("some.library").warning("retrying for 001085123456")
    finally:
        configure_logging(log_file=None, console=False)
    text = log_file.read_text(encoding="utf-8")
    assert "079301123456" not in text and "001085123456" not in text
    assert "Trần Văn Hùng" not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert [(r["event"], r["level"]) for r in records] == [
        ("card.checked", "info"),
        ("retrying for ********3456", "warning"),
    ]
    assert records[0]["id_number"] == "********3456"
    assert records[0]["application_id"] == 7 and records[0]["station"] == "qc"
    assert records[0]["full_name"] == REDACTED


def test_intake_logs_its_start_and_end_without_personal_data(
    sqlite_engine, tmp_path: Path, clock
) -> None:  # type: ignore[no-untyped-def]
    from line.intake import import_file
    from line.synthetic import write_csv
    from tests.conftest import TODAY
    from tests.factories import good_rows, photo_file

    photo_file(tmp_path / "photos", "a.jpg")
    photo_file(tmp_path / "photos", "b.png")
    rows = good_rows(3)
    path = tmp_path / "batch.csv"
    write_csv(path, rows)
    with capture_logs() as logs:
        import_file(engine=sqlite_engine, path=path, today=TODAY, clock=clock, rejects_dir=tmp_path)
    assert [(e["event"], e.get("accepted")) for e in logs] == [
        ("intake.started", None),
        ("intake.completed", 3),
    ]
    flat = json.dumps(logs, ensure_ascii=False, default=str)
    for row in rows:
        assert row["id_number"] not in flat and row["full_name"] not in flat
