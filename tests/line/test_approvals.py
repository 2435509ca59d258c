"""Maker-checker in the domain (``line.approvals``), on SQLite and PostgreSQL: a change
waits as an ``approval.request``; only a second person (a supervisor, once operators are
enrolled) makes it, in the transaction of the ``approval.given`` row; anything else records
why and changes nothing. The approver is named here directly: this is the one place the
identity is injected (the command line takes it from the OS user, the UI from its form)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from line.approvals import (
    Change,
    Request,
    decide,
    decision_of,
    expire,
    open_request,
    request,
    waiting,
)
from line.audit import events
from line.db import session_scope
from line.errors import CardlineError, NotFound
from line.machines import put_back, take_out
from line.models import Machine, Operator
from line.types import Stage

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
RUN = "6f1c1a52-0000-4000-8000-000000000001"
BACK = Change(kind="machine.in", summary="machine print-01 back in service", fields={})


def _out_of_service(engine: Engine) -> None:
    with session_scope(engine) as session:
        take_out(
            session=session, name="print-01", stage=Stage.PRINT, reason="head worn",
            actor="alice", at=T0,
        )  # fmt: skip
        request(session=session, run_id=RUN, maker="alice", change=BACK, at=T0)


def _put_back(session: Session, asked: Request) -> str:
    put_back(session=session, name="print-01", actor=asked.maker, at=T0, note="new head")
    return "print-01: back in service"


def _decide(engine: Engine, approver: str, approve: bool = True, note: str = "") -> str:
    with session_scope(engine) as session:
        decision = decide(
            session=session, run_id=RUN, approver=approver, approve=approve, note=note,
            at=T0 + timedelta(minutes=5), apply=_put_back,
        )  # fmt: skip
        return f"{decision.status}: {decision.why or decision.done}"


def _in_service(engine: Engine) -> bool:
    with session_scope(engine) as session:
        row = session.get(Machine, "print-01")
        assert row is not None
        return row.in_service


def _kinds(engine: Engine) -> list[tuple[str, str]]:
    with session_scope(engine) as session:
        return [(e.kind, e.actor) for e in events(session=session, subject=RUN)]


def test_a_request_waits_until_decided(engine: Engine) -> None:
    _out_of_service(engine)
    with session_scope(engine) as session:
        [asked] = waiting(session=session)
        assert (asked.run_id, asked.maker, asked.change) == (RUN, "alice", BACK)
        assert decision_of(session=session, run_id=RUN) is None
    assert _decide(engine, "bob") == "approved: print-01: back in service"
    with session_scope(engine) as session:
        assert waiting(session=session) == []
        with pytest.raises(NotFound, match="already decided: approval.given by bob"):
            open_request(session=session, run_id=RUN)


def test_the_makers_own_approval_is_refused_and_nothing_changes(engine: Engine) -> None:
    _out_of_service(engine)
    assert _decide(engine, "alice") == (
        "refused: alice made this change: a second person must approve it"
    )
    assert not _in_service(engine)
    assert _kinds(engine) == [("approval.request", "alice"), ("approval.refused", "alice")]


def test_a_second_persons_approval_makes_the_change_with_its_record(engine: Engine) -> None:
    _out_of_service(engine)
    assert _decide(engine, "bob", note="tested 20 cards") == "approved: tested 20 cards"
    assert _in_service(engine)
    assert _kinds(engine) == [("approval.request", "alice"), ("approval.given", "bob")]
    with session_scope(engine) as session:
        given = events(session=session, kind="approval.given")[0]
    assert json.loads(given.detail)["maker"] == "alice"


def test_a_refusal_changes_nothing_and_says_who_and_why(engine: Engine) -> None:
    _out_of_service(engine)
    assert _decide(engine, "bob", approve=False, note="not tested") == (
        "refused: refused by bob: not tested"
    )
    assert not _in_service(engine)
    with session_scope(engine) as session:
        decided = decision_of(session=session, run_id=RUN)
    assert decided is not None and (decided.status, decided.approver) == ("refused", "bob")


def test_once_operators_are_enrolled_only_a_supervisor_approves(engine: Engine) -> None:
    _out_of_service(engine)
    with session_scope(engine) as session:
        for name, role in (("carol", "stock_clerk"), ("dave", "supervisor")):
            session.add(Operator(name=name, role=role, added_by="root", added_at=T0))
    assert _decide(engine, "carol") == (
        "refused: carol is not an active supervisor: only a supervisor approves"
    )
    assert not _in_service(engine)
    with session_scope(engine) as session:  # decided: a new request for the supervisor
        request(session=session, run_id=RUN + "-2", maker="alice", change=BACK, at=T0)
        decision = decide(
            session=session, run_id=RUN + "-2", approver="dave", approve=True, note="",
            at=T0, apply=_put_back,
        )  # fmt: skip
    assert decision.approved and _in_service(engine)


def test_a_change_that_can_no_longer_be_made_is_undone_with_its_approval(engine: Engine) -> None:
    _out_of_service(engine)

    def fails(session: Session, asked: Request) -> str:
        _put_back(session, asked)
        raise CardlineError("the lot moved meanwhile")

    with session_scope(engine) as session:
        decision = decide(
            session=session, run_id=RUN, approver="bob", approve=True, note="", at=T0,
            apply=fails,
        )  # fmt: skip
    assert decision.why == "approved by bob but could not be made: the lot moved meanwhile"
    assert not _in_service(engine)
    assert _kinds(engine) == [("approval.request", "alice"), ("approval.refused", "bob")]


def test_an_expired_request_changes_nothing_and_waits_no_more(engine: Engine) -> None:
    _out_of_service(engine)
    with session_scope(engine) as session:
        ended = expire(session=session, run_id=RUN, at=T0, waited_seconds=30)
        assert waiting(session=session) == []
    assert ended.why == "nobody approved it within 30 s"
    assert not _in_service(engine)
    with pytest.raises(NotFound, match="already decided"):
        _decide(engine, "bob")


def test_bad_requests_are_refused(engine: Engine) -> None:
    with session_scope(engine) as session:
        with pytest.raises(CardlineError, match="unknown change 'stock.delete'"):
            request(
                session=session, run_id=RUN, maker="alice", at=T0,
                change=Change(kind="stock.delete", summary="", fields={}),
            )  # fmt: skip
        with pytest.raises(CardlineError, match="needs its maker"):
            request(session=session, run_id=RUN, maker=" ", change=BACK, at=T0)
        with pytest.raises(NotFound, match=f"no change waits under run {RUN}"):
            open_request(session=session, run_id=RUN)
