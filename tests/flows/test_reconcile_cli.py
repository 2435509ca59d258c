"""``cardline reconcile`` and ``cardline check`` as a manager uses them, on SQLite and on
PostgreSQL: after a day of the real line (``cardline run --without-prefect``: virtual
devices), a dispatch, a delivery and a returned card, every process and the chip lot
reconcile, with figures equal to counts made from the card table; the JSON is
``cardline.reconcile/1`` field by field; the PDF reads back whole with its sign-off boxes; a
day whose events are broken (written by hand) fails both commands, naming the process, the
day and the card; bad options are usage errors."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from flows.cli import run
from line.db import make_engine, session_scope
from line.models import Card
from line.types import CardState
from schema import upgrade
from tests.conftest import PG_URL
from tests.flows.homes import ready_home
from tests.inventory.reconcile_run import DAYS, broken_day
from tests.sim.pdfcheck import assert_readable, page_texts

PROCESS_FIELDS = {
    "process", "day", "opening_wip", "received", "good", "spoiled", "spoiled_by_reason",
    "samples", "returned", "returned_by_reason", "returned_after_delivery",
    "closing_wip", "reconciles", "unaccounted", "unexpected", "repeated",
}  # fmt: skip
LOT_FIELDS = {
    "lot", "received", "adjusted", "good", "in_process", "spoiled", "on_hand", "reserved",
    "ledger_consumed", "ledger_spoiled", "reconciles", "misbooked",
}  # fmt: skip


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A cardline home whose database is SQLite (the home's file) or a fresh PostgreSQL
    schema (``CARDLINE_DB_URL``): the database URL."""
    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    if request.param == "sqlite":
        monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
        yield f"sqlite:///{tmp_path / 'home' / 'cardline.db'}"
        return
    admin: sa.Engine = request.getfixturevalue("pg_admin")
    schema = f"cardline_reconcile_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("CARDLINE_DB_URL", url)
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def engine(url: str) -> sa.Engine:
    return make_engine(url)


def worked_day(tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Six cards made and dispatched; one batch delivered and its card returned; the
    replacement made (waiting for dispatch). Returns the returned card's serial."""
    ready_home(tmp_path, applications=6, chips=10)
    assert cli(capsys, "-q", "run", "--without-prefect")[0] == 0
    code, out, _ = cli(capsys, "-q", "dispatch", "--json")
    assert code == 0
    first = json.loads(out)[0]["code"]
    assert cli(capsys, "-q", "deliver", first)[0] == 0
    with session_scope(engine(url)) as session:
        serial = session.exec(select(Card.serial).where(Card.state == CardState.DELIVERED)).first()
    assert serial is not None
    assert cli(capsys, "-q", "card", "return", serial, "--reason", "delivery.damaged")[0] == 0
    assert cli(capsys, "-q", "run", "--without-prefect")[0] == 0
    return serial


def test_a_day_of_the_line_reconciles_and_agrees_with_the_cards(
    tmp_path: Path, home: str, capsys: pytest.CaptureFixture[str]
) -> None:
    worked_day(tmp_path, home, capsys)
    code, out, err = cli(capsys, "-q", "reconcile", "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["schema"] == "cardline.reconcile/1" and data["reconciles"] is True
    assert set(data) == {"schema", "centre", "time_zone", "from", "to", "made_at", "reconciles",
                         "processes", "lots_at", "lots", "breaks"}  # fmt: skip
    assert data["time_zone"] == "Asia/Ho_Chi_Minh" and data["from"] == data["to"]
    assert data["breaks"] == []
    rows = {row["process"]: row for row in data["processes"]}
    assert list(rows) == ["print", "chip-encode", "qc", "dispatch", "delivery"]
    assert all(set(row) == PROCESS_FIELDS and row["samples"] == 0 for row in rows.values())
    with session_scope(engine(home)) as session:
        cards = session.exec(select(Card)).all()
    states = [c.state for c in cards]
    assert rows["print"]["received"] == len(cards) == 7
    assert rows["qc"]["good"] == len(cards), "every card passed QC"
    assert rows["dispatch"]["closing_wip"] == states.count(CardState.QC_PASSED) == 1
    assert rows["delivery"]["closing_wip"] == states.count(CardState.DISPATCHED) == 5
    assert rows["delivery"]["good"] == 1
    delivery = rows["delivery"]
    assert delivery["returned_by_reason"] == {"delivery.damaged": 1}
    assert (delivery["returned"], delivery["returned_after_delivery"]) == (0, 1)
    (lot,) = data["lots"]
    assert set(lot) == LOT_FIELDS and lot["lot"] == "L1" and lot["reconciles"] is True
    assert (lot["received"], lot["spoiled"], lot["good"]) == (10, 1, 6)
    assert lot["on_hand"] == 10 - len(cards)
    code, out, err = cli(capsys, "-q", "reconcile")
    assert (code, err) == (0, "")
    assert "reconcile: every day and lot reconciles" in out and "delivery.damaged" in out
    code, out, _ = cli(capsys, "-q", "check")
    assert (code, out.splitlines()[0]) == (0, "check: stock ledger and cards reconcile")
    assert out.splitlines()[1].startswith("check: the hash chains hold: stage_event ")


def test_the_pdf_reads_back_with_its_tables_and_sign_off_boxes(
    tmp_path: Path, home: str, capsys: pytest.CaptureFixture[str]
) -> None:
    returned = worked_day(tmp_path, home, capsys)
    pdf = tmp_path / "reconcile.pdf"
    code, out, _ = cli(capsys, "-q", "reconcile", "--pdf", str(pdf))
    assert code == 0 and f"PDF written to {pdf}" in out
    assert pdf.stat().st_mode & 0o077 == 0, "owner-only"
    text = assert_readable(pdf)
    for words in ("Reconciliation - centre HN1", "print", "chip-encode", "qc", "dispatch",
                  "delivery", "Opening WIP", "Closing WIP", "Samples", "delivery.damaged",
                  "Returned after delivery",
                  "Chip lots at the end of", "L1", "Sign-off", "Operator (made by)",
                  "Reviewer (checked by)", "Name", "Signature", "Date",
                  "Every process on every day and every chip lot reconciles."):  # fmt: skip
        assert words in text, words
    assert returned not in text, "a day that reconciles names no card"
    # A day's sheet is one page, sign-off boxes with the figures they sign for, and says so.
    assert len(page_texts(pdf)) == 1 and "page 1 of 1" in text
    assert re.search(r"delivery \d{4}-\d\d-\d\d 1 delivery\.damaged returned", text), text


def test_a_broken_day_fails_reconcile_and_check_naming_process_day_and_card(
    tmp_path: Path, home: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "-q", "db", "upgrade")[0] == 0
    broken_engine = engine(home)
    upgrade(broken_engine)
    serial = broken_day(broken_engine)
    day = f"{DAYS[0]:%Y-%m-%d}"
    code, out, err = cli(capsys, "-q", "check")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"mismatch: chip-encode on {day} does not reconcile: opening 0 + received 2 = 2, but "
        f"good 1 + spoiled 0 + samples 0 + returned 0 + closing 0 = 1; unaccounted: {serial}",
        f"mismatch: qc on {day} does not reconcile: opening 0 + received 1 = 1, but good 2 "
        f"+ spoiled 0 + samples 0 + returned 0 + closing 0 = 2; unexpected: {serial}",
    ]
    code, out, err = cli(capsys, "-q", "reconcile", "--day", day, "--json")
    assert (code, err) == (1, "")
    data = json.loads(out)
    assert data["reconciles"] is False and len(data["breaks"]) == 2
    encode = next(row for row in data["processes"] if row["process"] == "chip-encode")
    assert (encode["reconciles"], encode["unaccounted"]) == (False, [serial])
    pdf = tmp_path / "broken.pdf"
    assert cli(capsys, "-q", "reconcile", "--day", day, "--pdf", str(pdf))[0] == 1
    text = assert_readable(pdf)
    assert f"BREAK: chip-encode on {day} does not reconcile" in text and serial in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--day", "2026-11-02", "--from", "2026-11-01", "--to", "2026-11-03"], "not both"),
        (["--from", "2026-11-01"], "--from and --to go together"),
        (["--day", "2026-13-01"], "--day"),
        (["--from", "2026-11-03", "--to", "2026-11-01"], "before it starts"),
        (["--from", "2025-01-01", "--to", "2026-11-01"], "at most 366"),
        (["--pdf", "/no/such/dir/r.pdf"], "no directory /no/such/dir"),
    ],
)
def test_bad_options_are_usage_errors_on_one_line(
    home: str, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    assert cli(capsys, "-q", "db", "upgrade")[0] == 0
    code, out, err = cli(capsys, "-q", "reconcile", *args)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and words in err, err
