"""The lifecycle in the database, on SQLite and PostgreSQL: the timeline of one application."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from structlog.testing import capture_logs

from line.db import session_scope
from line.errors import IllegalTransition, LiveCardExists, NotFound
from line.kpi import history, status_counts
from line.models import Card, StageEvent
from line.operations import (
    cancel_application,
    confirm_delivery,
    finish_stage,
    live_card,
    release_held,
    start_print,
)
from line.routing import Action
from line.types import LINE_ORDER, Outcome, Stage
from line.types import ApplicationState as A
from line.types import CardState as C
from tests.factories import add_application
from tests.line.helpers import at

TODAY = date(2026, 11, 1)


def run_stage(
    session: Session,
    card: Card,
    stage: Stage,
    outcome: Outcome,
    t: float,
    reason: str | None = None,
) -> Action:
    assert card.id is not None
    route = finish_stage(
        session=session,
        card_id=card.id,
        stage=stage,
        outcome=outcome,
        actor="worker-1",
        machine=f"{stage.value}-01",
        started_at=at(t),
        ended_at=at(t + 2),
        rework_limit=2,
        reason_code=reason,
    )
    return route.action


def timeline(session: Session, application_id: int) -> list[tuple[str, str, str | None, str]]:
    shown = history(session=session, application_id=application_id)
    return [
        (e.stage.value, e.outcome.value, e.reason_code, e.application_state.value)
        for e in shown.events
    ]


def test_a_card_goes_from_approved_to_delivered(engine: Engine) -> None:
    with session_scope(engine) as session:
        app = add_application(session, seed=1, today=TODAY)
        assert app.id is not None
        card = start_print(
            session=session, application_id=app.id, actor="worker-1", machine="print-01", at=at(0)
        )
        for t, stage in enumerate(LINE_ORDER):
            assert run_stage(session, card, stage, Outcome.OK, 10 * t) is Action.ADVANCE
        assert card.id is not None
        confirm_delivery(session=session, card_id=card.id, actor="station-079-0112", at=at(100))
    with session_scope(engine) as session:
        assert timeline(session, app.id) == [
            ("print", "ok", "print.started", "printing"),
            ("print", "ok", None, "printed"),
            ("chip-encode", "ok", None, "encoded"),
            ("qc", "ok", None, "qc_passed"),
            ("dispatch", "ok", None, "dispatched"),
            ("delivery", "ok", None, "delivered"),
        ]
        counts = status_counts(session=session)
        assert counts.applications["delivered"] == 1 and counts.cards["delivered"] == 1
        assert counts.total_applications == 1 and counts.total_cards == 1


def test_failures_rework_on_new_cards_then_hold_for_a_manager(engine: Engine) -> None:
    with session_scope(engine) as session:
        app = add_application(session, seed=2, today=TODAY)
        assert app.id is not None
        first = start_print(
            session=session, application_id=app.id, actor="w", machine="print-01", at=at(0)
        )
        assert (
            run_stage(session, first, Stage.PRINT, Outcome.FAIL, 1, "print.defect") is Action.REWORK
        )
        second = start_print(
            session=session, application_id=app.id, actor="w", machine="print-02", at=at(10)
        )
        run_stage(session, second, Stage.PRINT, Outcome.OK, 11)
        assert (
            run_stage(session, second, Stage.ENCODE, Outcome.FAIL, 20, "encode.chip_defect")
            is Action.REWORK
        )
        third = start_print(
            session=session, application_id=app.id, actor="w", machine="print-01", at=at(30)
        )
        run_stage(session, third, Stage.PRINT, Outcome.OK, 31)
        run_stage(session, third, Stage.ENCODE, Outcome.OK, 40)
        assert run_stage(session, third, Stage.QC, Outcome.FAIL, 50, "qc.reject") is Action.HOLD
    with session_scope(engine) as session:
        shown = history(session=session, application_id=app.id)
        assert shown.application.state is A.HELD
        assert shown.application.spoiled_cards == 3
        assert [
            (c.serial, c.attempt, c.state, c.spoiled_at_stage, c.spoil_reason) for c in shown.cards
        ] == [
            (f"C{app.id:010d}-1", 1, C.SPOILED, "print", "print.defect"),
            (f"C{app.id:010d}-2", 2, C.SPOILED, "chip-encode", "encode.chip_defect"),
            (f"C{app.id:010d}-3", 3, C.SPOILED, "qc", "qc.reject"),
        ]
        assert live_card(session=session, application_id=app.id) is None
        # A held application cannot be printed until a manager releases it.
        with pytest.raises(IllegalTransition, match="held -> printing"):
            start_print(
                session=session, application_id=app.id, actor="w", machine="print-01", at=at(60)
            )
    with session_scope(engine) as session:
        release_held(
            session=session,
            application_id=app.id,
            actor="manager-lan",
            reason_code="manager.retry",
            at=at(70),
        )
        fourth = start_print(
            session=session, application_id=app.id, actor="w", machine="print-01", at=at(80)
        )
        assert fourth.attempt == 4
        # Past the limit every further failure goes straight back to the manager.
        assert (
            run_stage(session, fourth, Stage.PRINT, Outcome.FAIL, 81, "print.defect") is Action.HOLD
        )
        cancel_application(
            session=session,
            application_id=app.id,
            actor="manager-lan",
            reason_code="manager.cancel",
            at=at(90),
        )
    with session_scope(engine) as session:
        assert timeline(session, app.id)[-3:] == [
            ("print", "ok", "print.started", "printing"),
            ("print", "fail", "print.defect", "held"),
            ("manager", "ok", "manager.cancel", "cancelled"),
        ]
        assert session.exec(select(sa.func.count()).select_from(Card)).one() == 4, (
            "every card stays"
        )


def test_one_live_card_per_application(engine: Engine) -> None:
    with session_scope(engine) as session:
        app = add_application(session, seed=3, today=TODAY)
        assert app.id is not None
        start_print(session=session, application_id=app.id, actor="w", machine="print-01", at=at(0))
    # The state machine refuses a second print of a printing application...
    with pytest.raises(IllegalTransition), session_scope(engine) as session:
        start_print(session=session, application_id=app.id, actor="w", machine="print-02", at=at(1))
    # ...and the database refuses a second live card even if code went around it.
    with pytest.raises(sa.exc.IntegrityError), session_scope(engine) as session:
        session.add(
            Card(
                serial="C-bypass",
                application_id=app.id,
                attempt=2,
                state=C.PRINTING,
                created_at=at(2),
                updated_at=at(2),
            )
        )
        session.flush()


def test_live_card_guard_in_code(engine: Engine) -> None:
    with session_scope(engine) as session:
        app = add_application(session, seed=4, today=TODAY)
        assert app.id is not None
        start_print(session=session, application_id=app.id, actor="w", machine="print-01", at=at(0))
        app.state = A.APPROVED  # as if someone reset the state by hand
        session.add(app)
        session.flush()
        with pytest.raises(LiveCardExists):
            start_print(
                session=session, application_id=app.id, actor="w", machine="print-01", at=at(1)
            )


def test_a_stage_out_of_order_is_illegal_and_changes_nothing(engine: Engine) -> None:
    with session_scope(engine) as session:
        app = add_application(session, seed=5, today=TODAY)
        assert app.id is not None
        card = start_print(
            session=session, application_id=app.id, actor="w", machine="print-01", at=at(0)
        )
    with (
        pytest.raises(IllegalTransition, match="printing -> qc_passed"),
        session_scope(engine) as session,
    ):
        run_stage(session, card, Stage.QC, Outcome.OK, 5)
    with session_scope(engine) as session:
        assert timeline(session, app.id) == [("print", "ok", "print.started", "printing")]
        assert session.get(Card, card.id).state is C.PRINTING  # type: ignore[union-attr]


def test_delivery_needs_a_dispatched_card(engine: Engine) -> None:
    with session_scope(engine) as session:
        app = add_application(session, seed=6, today=TODAY)
        assert app.id is not None
        card = start_print(
            session=session, application_id=app.id, actor="w", machine="print-01", at=at(0)
        )
        assert card.id is not None
        with pytest.raises(IllegalTransition, match="printing -> delivered"):
            confirm_delivery(session=session, card_id=card.id, actor="station", at=at(1))


def test_a_failure_needs_a_reason_and_unknown_ids_are_not_found(engine: Engine) -> None:
    with session_scope(engine) as session:
        app = add_application(session, seed=7, today=TODAY)
        assert app.id is not None
        card = start_print(
            session=session, application_id=app.id, actor="w", machine="print-01", at=at(0)
        )
        with pytest.raises(ValueError, match="reason code"):
            run_stage(session, card, Stage.PRINT, Outcome.FAIL, 1)
        with pytest.raises(NotFound):
            start_print(session=session, application_id=999_999, actor="w", machine=None, at=at(2))


def test_the_stage_event_record_is_append_only(engine: Engine) -> None:
    with session_scope(engine) as session:
        app = add_application(session, seed=8, today=TODAY)
        assert app.id is not None
        start_print(session=session, application_id=app.id, actor="w", machine="print-01", at=at(0))
    for statement in ("UPDATE stage_event SET actor = 'someone else'", "DELETE FROM stage_event"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as connection:
            connection.execute(sa.text(statement))
    with session_scope(engine) as session:
        events = session.exec(select(StageEvent)).all()
        assert [(e.actor, e.machine) for e in events] == [("w", "print-01")]


def test_spoils_holds_and_decisions_are_logged_with_their_context(sqlite_engine: Engine) -> None:
    with capture_logs() as logs, session_scope(sqlite_engine) as session:
        app = add_application(session, seed=9, today=TODAY)
        assert app.id is not None
        for attempt in range(3):
            card = start_print(
                session=session,
                application_id=app.id,
                actor="w",
                machine="print-01",
                at=at(10 * attempt),
            )
            run_stage(session, card, Stage.PRINT, Outcome.OK, 10 * attempt + 1)
            run_stage(
                session, card, Stage.ENCODE, Outcome.FAIL, 10 * attempt + 2, "encode.chip_defect"
            )
        release_held(
            session=session,
            application_id=app.id,
            actor="manager-lan",
            reason_code="manager.retry",
            at=at(50),
        )
    serial = f"C{app.id:010d}-"
    assert [
        (
            e["event"],
            e.get("card_serial"),
            e.get("station"),
            e.get("route"),
            e.get("application_state"),
        )
        for e in logs
        if e["log_level"] != "debug"
    ] == [
        ("stage.finished", serial + "1", "chip-encode", "rework", "approved"),
        ("stage.finished", serial + "2", "chip-encode", "rework", "approved"),
        ("stage.finished", serial + "3", "chip-encode", "hold", "held"),
        ("application.decided", None, "manager", None, "approved"),
    ]
    assert all(e["application_id"] == app.id for e in logs)
    assert not any("id_number" in e or "full_name" in e for e in logs)
