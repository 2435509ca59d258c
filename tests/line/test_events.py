"""The stage event record: each event says its kind, and a card's QC verdict is its QC event."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import Engine

from line.db import session_scope
from line.events import QC_PASSED, qc_verdict, qc_verdicts
from line.kpi import daily_figures, history
from line.operations import finish_stage, release_held, return_card, start_print
from line.routing import Action
from line.types import LINE_ORDER, EventKind, Outcome, Stage
from tests.factories import add_application

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
TODAY = date(2026, 11, 1)


def test_events_say_their_kind_and_the_qc_event_is_the_verdict(engine: Engine) -> None:
    with session_scope(engine) as session:
        app = add_application(session, seed=7, today=TODAY)
        assert app.id is not None
        first = start_print(
            session=session, application_id=app.id, actor="w", machine="print-01", at=T0
        )
        for n, stage in enumerate(LINE_ORDER[:3], start=1):
            failed = stage is Stage.QC
            assert first.id is not None
            finish_stage(
                session=session, card_id=first.id, stage=stage,
                outcome=Outcome.FAIL if failed else Outcome.OK, actor="w", machine=None,
                started_at=T0 + timedelta(seconds=n), ended_at=T0 + timedelta(seconds=n),
                rework_limit=0, reason_code="qc.reject" if failed else None,
            )  # fmt: skip
        release_held(
            session=session, application_id=app.id, actor="m", reason_code="manager.retry",
            at=T0 + timedelta(seconds=9),
        )  # fmt: skip
        shown = history(session=session, application_id=app.id)
        assert [(e.stage, e.kind) for e in shown.events] == [
            (Stage.PRINT, EventKind.START),
            (Stage.PRINT, EventKind.OUTCOME),
            (Stage.ENCODE, EventKind.OUTCOME),
            (Stage.QC, EventKind.OUTCOME),
            (Stage.MANAGER, EventKind.DECISION),
        ]
        assert qc_verdict(shown.events, first.id) == "qc.reject"
        assert qc_verdicts(session=session, card_ids=[first.id]) == {first.id: "qc.reject"}
        figures = daily_figures(session=session, until=T0 + timedelta(hours=1), days=1)
        assert sum(figures.done["print"].values()) == 1, "a start is not a print outcome"
    assert QC_PASSED == "passed"


def test_a_returned_card_is_a_failure_at_delivery_through_the_one_outcome_path(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        app = add_application(session, seed=8, today=TODAY)
        assert app.id is not None
        card = start_print(session=session, application_id=app.id, actor="w", machine=None, at=T0)
        assert card.id is not None
        for n, stage in enumerate(LINE_ORDER, start=1):
            finish_stage(
                session=session, card_id=card.id, stage=stage, outcome=Outcome.OK, actor="w",
                machine=None, started_at=T0 + timedelta(seconds=n),
                ended_at=T0 + timedelta(seconds=n), rework_limit=2,
            )  # fmt: skip
        route = return_card(
            session=session, card_id=card.id, reason_code="delivery.damaged", actor="station",
            at=T0 + timedelta(minutes=5), rework_limit=2,
        )  # fmt: skip
        assert route.action is Action.REWORK
        last = history(session=session, application_id=app.id).events[-1]
        assert (last.stage, last.kind, last.outcome, last.reason_code) == (
            Stage.DELIVERY, EventKind.OUTCOME, Outcome.FAIL, "delivery.damaged",
        )  # fmt: skip
        assert qc_verdicts(session=session, card_ids=[card.id]) == {card.id: QC_PASSED}
