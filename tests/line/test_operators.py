"""Operators and their roles in the database: enrolment, the supervisor rules, the audit
rows of each change; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from line.audit import events
from line.db import session_scope
from line.models import Operator
from line.operators import (
    OperatorError,
    Role,
    add_roles,
    enrolled,
    every_operator,
    operators,
    remove_roles,
    roles_of,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_the_first_operator_must_be_a_supervisor_and_a_refusal_writes_nothing(
    engine: Engine,
) -> None:
    first = "first operator of a centre must be a supervisor"
    with pytest.raises(OperatorError, match=first), session_scope(engine) as session:
        add_roles(session=session, name="bob", roles=[Role.OPERATOR], actor="root@HN1", at=T0)
    with session_scope(engine) as session:
        assert not enrolled(session=session)
        assert session.exec(select(Operator)).all() == [] and events(session=session) == []
        added = add_roles(
            session=session, name="alice", roles=[Role.SUPERVISOR, Role.AUDITOR],
            actor="root@HN1", at=T0,
        )  # fmt: skip
        assert added == [Role.AUDITOR, Role.SUPERVISOR]
    with session_scope(engine) as session:
        assert enrolled(session=session)
        assert roles_of(session=session, name="alice") == {Role.SUPERVISOR, Role.AUDITOR}
        # after enrolment anyone may be given any role (the command line checks who asks)
        assert add_roles(
            session=session, name="bob", roles=[Role.OPERATOR], actor="alice@HN1", at=T0
        ) == [Role.OPERATOR]
        # a role held already is not added twice, and writes no audit row
        assert (
            add_roles(session=session, name="bob", roles=[Role.OPERATOR], actor="alice@HN1", at=T0)
            == []
        )
        rows = events(session=session, kind="operator.add")
    assert [(r.actor, r.subject, json.loads(r.detail)) for r in rows] == [
        ("root@HN1", "alice", {"roles": ["auditor", "supervisor"]}),
        ("alice@HN1", "bob", {"roles": ["operator"]}),
    ]


def test_roles_taken_away_stay_on_record_and_the_last_supervisor_stays(engine: Engine) -> None:
    later = T0 + timedelta(hours=1)
    with session_scope(engine) as session:
        add_roles(session=session, name="alice", roles=[Role.SUPERVISOR], actor="root", at=T0)
        add_roles(
            session=session, name="bob", roles=[Role.OPERATOR, Role.STOCK_CLERK], actor="alice",
            at=T0,
        )  # fmt: skip
    with session_scope(engine) as session:
        with pytest.raises(OperatorError, match="last supervisor"):
            remove_roles(session=session, name="alice", roles=None, actor="alice", at=later)
        with pytest.raises(OperatorError, match="no operator 'carol'"):
            remove_roles(session=session, name="carol", roles=None, actor="alice", at=later)
        with pytest.raises(OperatorError, match="has no role auditor"):
            remove_roles(session=session, name="bob", roles=[Role.AUDITOR], actor="a", at=later)
        taken = remove_roles(
            session=session, name="bob", roles=[Role.STOCK_CLERK], actor="alice", at=later
        )
        assert taken == [Role.STOCK_CLERK]
    with session_scope(engine) as session:
        assert roles_of(session=session, name="bob") == {Role.OPERATOR}
        assert {n: [r.role for r in rows] for n, rows in operators(session=session).items()} == {
            "alice": ["supervisor"],
            "bob": ["operator"],
        }
        assert every_operator(session=session) == {
            "alice": {Role.SUPERVISOR},
            "bob": {Role.OPERATOR},
        }
        kept = session.get(Operator, ("bob", "stock_clerk"))
        assert kept is not None and not kept.active  # who held it, and since when, stays
        [removed] = events(session=session, kind="operator.remove")
        assert (removed.actor, removed.subject) == ("alice", "bob")
        assert json.loads(removed.detail) == {"roles": ["stock_clerk"]}
        # a second supervisor: then the first may go
        add_roles(session=session, name="bob", roles=[Role.SUPERVISOR], actor="alice", at=later)
        remove_roles(session=session, name="alice", roles=None, actor="bob", at=later)
        assert every_operator(session=session)["alice"] == set()


@pytest.mark.parametrize("name", ["Alice", "a b", "", "x" * 33, "-x", "ali;ce", "élise"])
def test_an_operator_name_is_an_os_user_name(engine: Engine, name: str) -> None:
    with pytest.raises(OperatorError, match="an OS user name"), session_scope(engine) as session:
        add_roles(session=session, name=name, roles=[Role.SUPERVISOR], actor="root", at=T0)
