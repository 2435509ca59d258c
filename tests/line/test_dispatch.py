"""Dispatch: batches per police station, delivery confirmed, a card returned and remade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest
import zxingcpp
from sqlalchemy.engine import Engine
from sqlmodel import select

from line.db import session_scope
from line.dispatch import batch_code, deliver, dispatch, ready_for_dispatch, return_card
from line.errors import IllegalTransition, NotFound
from line.kpi import history
from line.models import Card
from line.operations import finish_stage, start_print
from line.routing import Action
from line.types import ApplicationState, CardState, Outcome, Stage
from printers.manifest import ManifestHeader, ManifestLine, render_manifest
from tests.conftest import TODAY
from tests.factories import add_application
from tests.sim.pdfcheck import assert_readable

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def passed_cards(engine: Engine, destinations: list[str]) -> None:
    with session_scope(engine) as session:
        for seed, destination in enumerate(destinations, start=1):
            app = add_application(session, seed=seed, today=TODAY, destination=destination)
            card = start_print(
                session=session, application_id=app.id or 0, actor="w", machine="p", at=T0
            )
            for stage in (Stage.PRINT, Stage.ENCODE, Stage.QC):
                finish_stage(
                    session=session,
                    card_id=card.id or 0,
                    stage=stage,
                    outcome=Outcome.OK,
                    actor="w",
                    machine="m",
                    started_at=T0,
                    ended_at=T0,
                    rework_limit=2,
                )


def test_batches_by_station_then_delivery(engine: Engine) -> None:
    passed_cards(engine, ["079-0112", "001-0001", "079-0112"])
    with session_scope(engine) as session:
        ready = ready_for_dispatch(session=session)
        assert {k: [c.serial for c in v] for k, v in ready.items()} == {
            "001-0001": ["C0000000002-1"],
            "079-0112": ["C0000000001-1", "C0000000003-1"],
        }
        at = T0 + timedelta(hours=1)
        code = batch_code(session=session, destination="079-0112", at=at)
        assert code == "D079-0112-20261102-001"
        batch = dispatch(
            session=session,
            destination="079-0112",
            cards=ready["079-0112"],
            code=code,
            actor="d",
            at=at,
            rework_limit=2,
        )
        assert (
            batch_code(session=session, destination="079-0112", at=at) == "D079-0112-20261102-002"
        )
        with pytest.raises(ValueError, match="not for 079-0112"):
            dispatch(
                session=session,
                destination="079-0112",
                cards=ready["001-0001"],
                code="X",
                actor="d",
                at=at,
                rework_limit=2,
            )
    with session_scope(engine) as session:
        assert list(ready_for_dispatch(session=session)) == ["001-0001"]
        deliver(session=session, code=batch.code, actor="station", at=at + timedelta(days=1))
        with pytest.raises(IllegalTransition):
            deliver(session=session, code=batch.code, actor="station", at=at + timedelta(days=2))
        with pytest.raises(NotFound):
            deliver(session=session, code="D-nope", actor="station", at=at)
        states = {c.serial: c.state for c in session.exec(select(Card))}
        assert states == {
            "C0000000001-1": CardState.DELIVERED,
            "C0000000002-1": CardState.QC_PASSED,
            "C0000000003-1": CardState.DELIVERED,
        }
        events = history(session=session, application_id=1).events
        assert [(e.stage.value, e.machine) for e in events][-2:] == [
            ("dispatch", code),
            ("delivery", None),
        ]


def test_a_returned_card_is_spoiled_and_its_application_gets_a_new_one(
    sqlite_engine: Engine,
) -> None:
    passed_cards(sqlite_engine, ["079-0112"])
    with session_scope(sqlite_engine) as session:
        card = session.exec(select(Card)).one()
        dispatch(
            session=session,
            destination="079-0112",
            cards=[card],
            code="D1",
            actor="d",
            at=T0,
            rework_limit=2,
        )
        assert (
            return_card(
                session=session,
                serial=card.serial,
                reason="delivery.damaged",
                actor="station",
                at=T0,
                rework_limit=2,
            )
            is Action.REWORK
        )
        shown = history(session=session, application_id=1)
        assert (
            shown.application.state is ApplicationState.APPROVED
            and shown.application.spoiled_cards == 1
        )
        assert (shown.cards[0].state, shown.cards[0].spoil_reason) == (
            CardState.SPOILED,
            "delivery.damaged",
        )
        assert (
            shown.events[-1].stage.value,
            shown.events[-1].outcome.value,
            shown.events[-1].reason_code,
        ) == ("delivery", "fail", "delivery.damaged")
        with pytest.raises(IllegalTransition):
            return_card(
                session=session,
                serial=card.serial,
                reason="again",
                actor="station",
                at=T0,
                rework_limit=2,
            )


def test_the_manifest_shows_masked_ids_and_a_qr_of_its_batch(tmp_path: Path) -> None:
    lines = [
        ManifestLine(f"C{n:010d}-1", "********" + f"{n:04d}", f"04C1{n:010X}") for n in range(50)
    ]
    station = "Công an phường Bến Nghé, " + "Quận 1, Thành phố Hồ Chí Minh, " * 4 + "Việt Nam"
    header = ManifestHeader(
        code="D079-0112-20261102-001", centre="HN1", destination="079-0112", station=station,
        dispatched_at=T0, zone=ZoneInfo("Asia/Ho_Chi_Minh"),
    )  # fmt: skip
    out = render_manifest(out=tmp_path / "m.pdf", header=header, lines=lines)
    document = pdfium.PdfDocument(str(out))
    assert len(document) == 2  # 32 rows a page
    text = assert_readable(out)
    assert "BIÊN BẢN BÀN GIAO" in text and "********0049" in text and "C0000000049-1" in text
    assert f"079-0112: {station}" in text, "the station's name and address, wrapped, whole"
    local = T0.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert f"{local:%Y-%m-%d %H:%M} (Asia/Ho_Chi_Minh)" in text and "UTC" not in text
    image = document[0].render(scale=3).to_pil()
    assert [r.text for r in zxingcpp.read_barcodes(image)] == ["D079-0112-20261102-001"]
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_a_long_station_name_pushes_the_cards_down_never_onto_the_signatures(
    tmp_path: Path,
) -> None:
    lines = [ManifestLine(f"C{n:010d}-1", "********" + f"{n:04d}", None) for n in range(64)]
    header = ManifestHeader(
        code="D001-0030-20261102-001", centre="HN1", destination="001-0030",
        station="Công an phường Hàng Bạc " * 5 + ", " + "phố Hàng Bạc, Hoàn Kiếm, Hà Nội " * 7,
        dispatched_at=T0, zone=ZoneInfo("Asia/Ho_Chi_Minh"),
    )  # fmt: skip
    out = render_manifest(out=tmp_path / "m.pdf", header=header, lines=lines)
    text = assert_readable(out)  # nothing drawn over anything, nothing off the page
    assert all(f"C{n:010d}-1" in text for n in range(64))
