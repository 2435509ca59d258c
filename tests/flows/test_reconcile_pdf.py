"""The reconciliation sheet as a reviewer holds it, rendered and read back (pypdfium2): a
day fits one page with its sign-off boxes, a long period runs over pages that each say
"page N of M", no process name or reason code is broken across lines, a break is named."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flows.reconcile import Reconciliation
from flows.reconcile_pdf import render_reconciliation
from inventory.reconcile import LotDay
from line.reconcile import PROCESSES, ProcessDay
from tests.sim.pdfcheck import assert_readable, page_texts

FIRST = date(2026, 11, 2)
SPOILS = {"print": "print.jam", "chip-encode": "encode.chip_defect", "qc": "qc.aa.signature"}


def report(days: int, *, broken: bool = False) -> Reconciliation:
    rows = []
    for n in range(days):
        for process in PROCESSES:
            code = SPOILS.get(process.value)
            good = 1_199 if process.value == "delivery" else 1_200  # 1 came back
            lost = broken and n == 0 and process.value == "qc"
            good -= lost  # a card QC received that the record does not account for
            rows.append(
                ProcessDay(
                    process=process, day=FIRST + timedelta(days=n), opening_wip=0,
                    received=1_203 if code else 1_200, good=good,
                    spoiled_by_reason={code: 3} if code else {}, samples=0,
                    returned_by_reason={"delivery.damaged": 1} if process.value == "delivery" else {},
                    returned_after_delivery=0, closing_wip=0,
                    unaccounted=("C0000000001-1",) if lost else (),
                )
            )  # fmt: skip
    lot = LotDay(lot="VN-2026-A", received=50_000, adjusted=0, good=1_200 * days,
                 in_process=0, spoiled=9 * days, on_hand=50_000 - 1_209 * days, reserved=0,
                 ledger_consumed=1_200 * days, ledger_spoiled=9 * days)  # fmt: skip
    return Reconciliation(
        centre="HN1", zone=ZoneInfo("Asia/Ho_Chi_Minh"), first=FIRST,
        last=FIRST + timedelta(days=days - 1), made_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
        processes=rows, lots=[lot],
    )  # fmt: skip


def test_a_days_sheet_is_one_page_with_its_sign_off(tmp_path: Path) -> None:
    pdf = render_reconciliation(out=tmp_path / "day.pdf", report=report(1))
    text = assert_readable(pdf)
    assert len(page_texts(pdf)) == 1
    assert "Sign-off" in text and "Reviewer (checked by)" in text and "page 1 of 1" in text


def test_a_long_period_numbers_its_pages_and_breaks_no_word(tmp_path: Path) -> None:
    pdf = render_reconciliation(out=tmp_path / "month.pdf", report=report(14))
    text = assert_readable(pdf)
    pages = page_texts(pdf)
    assert len(pages) > 1
    for number, page in enumerate(pages, start=1):
        assert f"page {number} of {len(pages)}" in page
    assert "Sign-off" in pages[-1]
    assert "Every process on every day and every chip lot reconciles." in text
    for process, code in SPOILS.items():  # every reason row, its words whole
        found = re.findall(rf"{process} \d{{4}}-\d\d-\d\d 3 {re.escape(code)} spoiled", text)
        assert len(found) == 14, (process, code)
    assert len(re.findall(r"delivery \d{4}-\d\d-\d\d 1 delivery\.damaged returned", text)) == 14


def test_a_break_is_named_on_the_sheet(tmp_path: Path) -> None:
    pdf = render_reconciliation(out=tmp_path / "broken.pdf", report=report(1, broken=True))
    text = assert_readable(pdf)
    assert "BREAK: qc on 2026-11-02 does not reconcile" in text
    assert "C0000000001-1" in text
    assert "Every process on every day" not in text
