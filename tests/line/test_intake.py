"""Intake of approved applications: good rows in, bad rows reported, bad files refused."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import random
import tracemalloc
import unicodedata
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import select

from line.db import session_scope
from line.errors import IntakeFileError
from line.intake import FIELDS
from line.models import Application, IntakeRun
from line.operations import cancel_application
from line.synthetic import people, portrait, write_csv
from line.types import ApplicationState
from tests.conftest import TODAY, StepClock
from tests.factories import applicant, good_rows
from tests.line.helpers import applications, image_bytes, in_script, png_bomb, report, run


def test_good_rows_go_in_with_every_field(engine: Engine, folder: Path, clock: StepClock) -> None:
    rows = good_rows(5)
    rows[0]["full_name"] = unicodedata.normalize("NFD", "Nguyễn  Thị Ánh Tuyết ")
    rows[0]["nationality"] = "VNM"
    rows[0]["priority_group"] = "Elderly"
    rows[0]["due_date"] = "2027-01-15"
    rows[0]["old_id_number"] = "025123456"
    path = folder / "batch.csv"
    write_csv(path, rows)
    summary = run(engine, path, clock)
    assert (summary.rows, summary.accepted, summary.rejected, summary.duplicates) == (5, 5, 0, 0)
    assert report(summary) == []
    stored = applications(engine)
    first = stored[0]
    assert first.full_name == "Nguyễn Thị Ánh Tuyết"  # NFC, spaces tidied
    assert unicodedata.is_normalized("NFC", first.full_name)
    assert first.nationality == "Việt Nam"
    assert (first.priority_group, first.due_date, first.old_id_number) == (
        "elderly",
        date(2027, 1, 15),
        "025123456",
    )
    assert first.photo_path == str((folder / "photos" / "a.jpg").resolve())
    assert (
        first.photo_sha256 == hashlib.sha256((folder / "photos" / "a.jpg").read_bytes()).hexdigest()
    )
    assert [a.source_row for a in stored] == [2, 3, 4, 5, 6]  # header is line 1
    assert {a.state for a in stored} == {ApplicationState.APPROVED}
    assert [a.id_number for a in stored] == [r["id_number"] for r in rows]
    with session_scope(engine) as session:
        run_record = session.get(IntakeRun, summary.intake_run_id)
        assert run_record is not None
        assert (run_record.status, run_record.accepted, run_record.reject_report) == (
            "completed",
            5,
            summary.reject_report,
        )


def test_json_lines_with_bom_nulls_and_missing_optional_keys(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    rows: list[dict[str, Any]] = list(good_rows(3))
    rows[0]["old_id_number"] = None
    del rows[1]["due_date"], rows[1]["priority_group"]
    path = folder / "batch.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
        + b"\n\n"
    )
    summary = run(sqlite_engine, path, clock)
    assert (summary.format, summary.accepted, summary.rejected) == ("jsonl", 3, 0)
    assert applications(sqlite_engine)[0].full_name == rows[0]["full_name"]


def test_csv_with_bom_and_crlf(sqlite_engine: Engine, folder: Path, clock: StepClock) -> None:
    path = folder / "excel.csv"
    write_csv(path, good_rows(2))
    path.write_bytes(
        b"\xef\xbb\xbf" + path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    )
    assert run(sqlite_engine, path, clock).accepted == 2


BAD_ROWS: list[tuple[str, Any, str]] = [
    ("id_number", lambda r: r.update(id_number=r["id_number"][:3] + str(int(r["id_number"][3]) ^ 1) + r["id_number"][4:]), "id_number.century_sex"),
    ("id_number", lambda r: r.update(id_number=r["id_number"][:4] + f"{(int(r['id_number'][4:6]) + 1) % 100:02d}" + r["id_number"][6:]), "id_number.birth_year"),
    ("id_number", lambda r: r.update(id_number="999" + r["id_number"][3:]), "id_number.province"),
    ("id_number", lambda r: r.update(id_number="07930112345"), "id_number.format"),
    ("id_number", lambda r: r.update(id_number=""), "id_number.missing"),
    ("full_name", lambda r: r.update(full_name="Nguyễn Văn 3"), "full_name.invalid_characters"),
    ("full_name", lambda r: r.update(full_name="   "), "full_name.missing"),
    ("date_of_birth", lambda r: r.update(date_of_birth="1990-02-30"), "date_of_birth.format"),
    ("date_of_birth", lambda r: r.update(date_of_birth="17/05/1990"), "date_of_birth.format"),
    ("date_of_birth", lambda r: r.update(date_of_birth=(TODAY + timedelta(days=1)).isoformat()), "date_of_birth.future"),
    ("sex", lambda r: r.update(sex="X"), "sex.invalid"),
    ("nationality", lambda r: r.update(nationality="Lào"), "nationality.not_vietnamese"),
    ("place_of_origin", lambda r: r.update(place_of_origin=""), "place_of_origin.missing"),
    ("place_of_residence", lambda r: r.update(place_of_residence="x" * 251), "place_of_residence.too_long"),
    ("old_id_number", lambda r: r.update(old_id_number="12345"), "old_id_number.format"),
    ("photo", lambda r: r.update(photo="photos/nobody.jpg"), "photo.not_found"),
    ("photo", lambda r: r.update(photo="notes.txt"), "photo.not_image"),
    ("destination", lambda r: r.update(destination="079112"), "destination.format"),
    ("destination", lambda r: r.update(destination="999-0112"), "destination.province"),
    ("priority_group", lambda r: r.update(priority_group="very important!"), "priority_group.format"),
    ("due_date", lambda r: r.update(due_date="2027-13-01"), "due_date.format"),
    # Only ASCII 0-9 is a digit (Arabic-Indic, full-width, Devanagari, Thai, Bengali...).
    ("id_number", lambda r: r.update(id_number=in_script(r["id_number"], 0x660)), "id_number.format"),
    ("id_number", lambda r: r.update(id_number=in_script(r["id_number"], 0xFF10, {11})), "id_number.format"),
    ("id_number", lambda r: r.update(id_number=in_script(r["id_number"], 0x6F0, {0})), "id_number.format"),
    ("old_id_number", lambda r: r.update(old_id_number=in_script("025123456", 0x966, {8})), "old_id_number.format"),
    ("destination", lambda r: r.update(destination=in_script(r["destination"], 0xE50, {7})), "destination.format"),
    ("destination", lambda r: r.update(destination=in_script(r["destination"], 0xFF10, {0, 1, 2})), "destination.format"),
    ("date_of_birth", lambda r: r.update(date_of_birth=in_script(r["date_of_birth"], 0xFF10)), "date_of_birth.format"),
    ("date_of_birth", lambda r: r.update(date_of_birth=in_script(r["date_of_birth"], 0x9E6, {9})), "date_of_birth.format"),
    ("due_date", lambda r: r.update(due_date=in_script("2027-01-15", 0x660, {3})), "due_date.format"),
    ("date_of_birth", lambda r: r.update(date_of_birth=r["date_of_birth"].replace("-", "")), "date_of_birth.format"),
    # Due dates: not more than a year back, not more than two years ahead.
    ("due_date", lambda r: r.update(due_date=(TODAY - timedelta(days=367)).isoformat()), "due_date.past"),
    ("due_date", lambda r: r.update(due_date="2016-11-01"), "due_date.past"),
    ("due_date", lambda r: r.update(due_date=(TODAY + timedelta(days=732)).isoformat()), "due_date.future"),
    ("due_date", lambda r: r.update(due_date="2036-11-01"), "due_date.future"),
    # Photos: the ICAO token minimum and aspect, no pixel bomb, not broken.
    ("photo", lambda r: r.update(photo="photos/tiny.png"), "photo.too_small"),
    ("photo", lambda r: r.update(photo="photos/bomb.png"), "photo.too_large"),
    ("photo", lambda r: r.update(photo="photos/wide.png"), "photo.aspect"),
    ("photo", lambda r: r.update(photo="photos/cut.jpg"), "photo.unreadable"),
    ("photo", lambda r: r.update(photo="photos/cut.png"), "photo.unreadable"),
    ("photo", lambda r: r.update(photo="photos/anim.gif"), "photo.not_image"),
]  # fmt: skip


@functools.cache
def bad_photos() -> dict[str, bytes]:
    jpeg, png = (portrait(random.Random(9), fmt=fmt) for fmt in ("JPEG", "PNG"))
    gif = io.BytesIO()
    Image.new("RGB", (240, 320)).save(gif, format="GIF")
    return {
        "tiny.png": image_bytes(1, 1),  # the 1x1 PNG
        "bomb.png": png_bomb(),  # the 20000 x 20000 PNG
        "wide.png": image_bytes(320, 240),
        "cut.jpg": jpeg[: len(jpeg) // 2],
        "cut.png": png[: len(png) // 2],
        "anim.gif": gif.getvalue(),
    }


@pytest.mark.parametrize(("field", "change", "code"), BAD_ROWS, ids=[c for _, _, c in BAD_ROWS])
def test_each_kind_of_bad_row_is_reported_and_the_rest_goes_in(
    sqlite_engine: Engine, folder: Path, clock: StepClock, field: str, change: Any, code: str
) -> None:
    (folder / "notes.txt").write_text("not a photo", encoding="utf-8")
    for name, content in bad_photos().items():
        (folder / "photos" / name).write_bytes(content)
    rows = good_rows(4)
    change(rows[2])
    path = folder / "batch.csv"
    write_csv(path, rows)
    summary = run(sqlite_engine, path, clock)
    assert (summary.accepted, summary.rejected, summary.duplicates) == (3, 1, 0)
    assert report(summary) == [(4, field, code)]  # the third application is on line 4
    assert [a.source_row for a in applications(sqlite_engine)] == [2, 3, 5]


def test_a_row_with_several_problems_lists_each_once(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    rows = good_rows(1)
    rows[0].update(sex="?", destination="x", photo="")
    path = folder / "batch.csv"
    write_csv(path, rows)
    summary = run(sqlite_engine, path, clock)
    assert summary.rejected == 1
    assert report(summary) == [
        (2, "photo", "photo.missing"),
        (2, "sex", "sex.invalid"),
        (2, "destination", "destination.format"),
    ]


def test_the_reject_report_masks_the_id_number(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    rows = good_rows(1)
    rows[0]["sex"] = "F" if rows[0]["sex"] == "M" else "M"
    path = folder / "batch.csv"
    write_csv(path, rows)
    summary = run(sqlite_engine, path, clock)
    text = Path(summary.reject_report).read_text(encoding="utf-8")
    assert rows[0]["id_number"] not in text
    assert "********" + rows[0]["id_number"][-4:] in text
    assert rows[0]["full_name"] not in text


def test_malformed_rows_in_the_middle_of_a_file(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    rows = good_rows(3)
    path = folder / "batch.csv"
    write_csv(path, rows)
    lines = path.read_bytes().split(b"\r\n")
    lines.insert(2, b"only,three,fields")
    broken = dict(rows[1], full_name="PLACEHOLDER")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([broken[f] for f in FIELDS])
    line = buffer.getvalue().encode()
    lines.insert(3, line.replace(b"PLACEHOLDER", b"Nguy\xe1n Van A"))  # bad UTF-8 in one row
    path.write_bytes(b"\r\n".join(lines))
    summary = run(sqlite_engine, path, clock)
    assert (summary.accepted, summary.rejected) == (3, 2)
    assert report(summary) == [(3, "(row)", "row.width"), (4, "full_name", "full_name.encoding")]


def test_json_lines_bad_records_are_rows_not_the_end(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    rows = good_rows(2)
    path = folder / "batch.jsonl"
    lines = [
        json.dumps(rows[0]),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({**rows[1], "extra": 1}),
        json.dumps({**rows[1], "id_number": 79301123456}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = run(sqlite_engine, path, clock)
    assert (summary.accepted, summary.rejected) == (1, 4)
    assert report(summary) == [
        (2, "(row)", "row.json"),
        (3, "(row)", "row.json"),
        (4, "(row)", "row.unknown_field"),
        (5, "id_number", "id_number.type"),
    ]


def test_importing_the_same_file_twice_adds_nothing(
    engine: Engine, folder: Path, clock: StepClock
) -> None:
    rows = good_rows(30)
    rows.append(dict(rows[4]))  # the same person twice in one file
    path = folder / "batch.csv"
    write_csv(path, rows)
    first = run(engine, path, clock, batch_size=7)  # the repeat lands in another batch
    assert (first.accepted, first.duplicates) == (30, 1)
    assert report(first) == [(32, "id_number", "id_number.duplicate")]  # 31st application, line 32
    second = run(engine, path, clock, batch_size=7)
    assert (second.accepted, second.rejected, second.duplicates) == (0, 0, 31)
    assert len(applications(engine)) == 30
    with session_scope(engine) as session:
        assert session.exec(select(sa.func.count()).select_from(IntakeRun)).one() == 2


def test_a_closed_application_lets_the_person_apply_again(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    path = folder / "batch.csv"
    write_csv(path, good_rows(2))
    run(sqlite_engine, path, clock)
    with session_scope(sqlite_engine) as session:
        cancel_application(
            session=session,
            application_id=1,
            actor="manager",
            reason_code="manager.cancel",
            at=clock(),
        )
    again = run(sqlite_engine, path, clock)
    assert (again.accepted, again.duplicates) == (1, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf\r\n", "the file is empty"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)), "binary file"),
        ("id_number;full_name\n".encode("utf-16"), "binary file"),
        ("id_number,full_name,Ngày\n".encode("cp1258"), "not UTF-8 text"),
        (
            b"id_number,full_name,date_of_birth\n1,2,3\n",
            "lacks required column(s): sex, nationality",
        ),
        ((",".join(FIELDS) + ",notes\n").encode(), "unknown column(s): notes"),
        ((",".join(FIELDS) + ",sex\n").encode(), "repeats column(s): sex"),
    ],
    ids=[
        "missing",
        "empty",
        "bom-only",
        "zip",
        "utf16",
        "cp1258",
        "missing-columns",
        "unknown-column",
        "repeated-column",
    ],
)
def test_an_unreadable_csv_is_refused_and_nothing_is_written(
    engine: Engine, folder: Path, clock: StepClock, content: bytes | None, message: str
) -> None:
    path = folder / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(
        IntakeFileError, match=message.replace("(", r"\(").replace(")", r"\)")
    ) as caught:
        run(engine, path, clock)
    assert str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)
    assert not (folder / "rejects").exists()
    with session_scope(engine) as session:
        assert session.exec(select(sa.func.count()).select_from(IntakeRun)).one() == 0
        assert session.exec(select(sa.func.count()).select_from(Application)).one() == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json at all\n", "line 1 is not JSON"),
        ("[1, 2]\n", "line 1 is not a JSON object"),
        ('{"id_number": "x"}\n', "line 1 lacks required column(s)"),
    ],
)
def test_an_unreadable_json_lines_file_is_refused(
    sqlite_engine: Engine, folder: Path, clock: StepClock, text: str, message: str
) -> None:
    path = folder / "bad.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(IntakeFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(sqlite_engine, path, clock)
    assert not (folder / "rejects").exists()


def test_a_file_with_an_unknown_extension_needs_a_format(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    path = folder / "batch.txt"
    write_csv(path, good_rows(2))
    with pytest.raises(IntakeFileError, match="cannot tell the format"):
        run(sqlite_engine, path, clock)
    assert run(sqlite_engine, path, clock, fmt="csv").accepted == 2


def _peak_python_memory(engine: Engine, folder: Path, clock: StepClock, count: int) -> int:
    path = folder / f"big-{count}.csv"
    rng = random.Random(count)
    write_csv(path, (p.row() for p in people(rng, count, today=TODAY, photos=["photos/a.jpg"])))
    tracemalloc.start()
    try:
        summary = run(engine, path, clock, batch_size=1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.accepted == count
    return peak


@pytest.mark.slow
def test_intake_streams_memory_stays_flat_as_the_file_grows(
    sqlite_engine: Engine, folder: Path, clock: StepClock
) -> None:
    small = _peak_python_memory(sqlite_engine, folder, clock, 2_000)
    large = _peak_python_memory(sqlite_engine, folder, clock, 20_000)
    # Ten times the rows: a reader that loaded the file (or kept every row) would need about
    # ten times the memory; a streaming one needs the same batch-sized amount.
    assert large < 1.5 * small, (small, large)


def test_applicant_factory_is_valid() -> None:
    who = applicant(3, today=TODAY)
    assert len(who.id_number) == 12


def test_the_control_character_pattern_is_exactly_unicode_cc_and_cf() -> None:
    import unicodedata

    from line.intake import control_characters

    for code in range(0x110000):
        char = chr(code)
        expected = unicodedata.category(char) in ("Cc", "Cf")
        assert (control_characters().fullmatch(char) is not None) == expected, hex(code)
