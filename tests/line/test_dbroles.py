"""The operators' roles as PostgreSQL roles: each operator connects as themself, and the
database refuses what their role may not do (its own errors, not the command line's).

Roles are cluster-wide: every test makes its own group roles and logins (unique names)
and drops them at the end; the grants are on the test's own schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from inventory.ledger import adjust, receive
from inventory.models import StockMovement
from line.audit import record
from line.db import make_engine, session_scope
from line.dbroles import DatabaseRoleError, group_names, sync_roles
from line.decisions import cancel_application
from line.models import Application, AuditEvent, Operator, StageEvent
from line.operators import Role, add_roles, every_operator, remove_roles
from schema import upgrade
from tests.conftest import PG_URL, TODAY
from tests.factories import add_application

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.postgres


@dataclass
class Centre:
    admin: Engine
    schema: str
    prefix: str
    names: dict[Role, str]

    def connect(self, role: Role) -> Engine:
        """An engine that logs in as the operator holding ``role``, on the test's schema."""
        url = sa.make_url(PG_URL).set(username=self.names[role], password=None)
        return make_engine(
            url.render_as_string(hide_password=False),
            connect_args={"options": f"-csearch_path={self.schema}"},
        )

    def sync(self) -> None:
        with session_scope(self.admin) as session:
            everyone = every_operator(session=session)
        sync_roles(self.admin, operators=everyone, prefix=self.prefix)


@pytest.fixture
def centre(empty_pg: Engine, pg_admin: Engine) -> Iterator[Centre]:
    upgrade(empty_pg)
    tag = uuid.uuid4().hex[:10]
    names = {role: f"{role.value}_{tag}" for role in Role}
    with session_scope(empty_pg) as session:
        schema = session.connection().execute(sa.text("SELECT current_schema()")).scalar_one()
        for role, name in sorted(names.items(), key=lambda kv: kv[0] != Role.SUPERVISOR):
            add_roles(session=session, name=name, roles=[role], actor="dba@HN1", at=AT)
        add_application(session, seed=1, today=TODAY)
        receive(
            session=session, item_code="chip", lot_number="L1", supplier="Vina", quantity=10,
            first_uid="04A1000000000001", at=AT, actor="dba@HN1",
        )  # fmt: skip
    made = Centre(admin=empty_pg, schema=schema, prefix=f"t{tag}", names=names)
    made.sync()
    try:
        yield made
    finally:
        with pg_admin.begin() as connection:
            for role in [*names.values(), *group_names(made.prefix).values()]:
                connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
                connection.exec_driver_sql(f'DROP ROLE "{role}"')


def refused(engine: Engine, write: Callable[[Session], object], match: str | None = None) -> str:
    """The database's own error for ``write`` in a transaction of ``engine`` (asserted)."""
    with pytest.raises(sa.exc.ProgrammingError, match=match) as error, session_scope(engine) as s:
        write(s)
    return str(error.value.orig)


def _lot_id(engine: Engine) -> int:
    with session_scope(engine) as session:
        movement = session.exec(select(StockMovement)).first()
        assert movement is not None
        return movement.lot_id


def test_an_operators_connection_records_stage_events_but_cannot_adjust_stock(
    centre: Centre,
) -> None:
    operator = centre.connect(Role.OPERATOR)
    try:
        with session_scope(operator) as session:
            who = session.exec(select(sa.func.current_user())).one()
            assert who == centre.names[Role.OPERATOR]
            cancel_application(
                session=session, application_id=1, actor=f"{who}@HN1", reason_code="manager.cancel",
                at=AT,
            )  # fmt: skip
        lot = _lot_id(centre.admin)
        booked = refused(
            operator,
            lambda s: adjust(
                session=s, lot_id=lot, quantity=-1, reason="count", at=AT, actor="x@HN1"
            ),
            "row-level security policy",
        )
        assert 'table "stock_movement"' in booked
        refused(
            operator,
            lambda s: add_roles(
                session=s, name="mallory", roles=[Role.SUPERVISOR], actor="x", at=AT
            ),
            "permission denied for table operator",
        )
    finally:
        operator.dispose()
    with session_scope(centre.admin) as session:
        events = session.exec(select(StageEvent)).all()
        assert [e.actor for e in events] == [f"{centre.names[Role.OPERATOR]}@HN1"]
        kinds = [m.kind.value for m in session.exec(select(StockMovement))]
        assert kinds == ["receipt"]  # the adjustment was not booked
        assert session.get(Operator, ("mallory", "supervisor")) is None


def test_an_auditors_connection_reads_and_cannot_write_anything(centre: Centre) -> None:
    auditor = centre.connect(Role.AUDITOR)
    try:
        with session_scope(auditor) as session:  # reading is what an auditor does
            assert session.exec(select(Application)).one().id == 1
            assert len(session.exec(select(StockMovement)).all()) == 1
        writes = [
            lambda s: cancel_application(
                session=s, application_id=1, actor="a@HN1", reason_code="manager.cancel", at=AT
            ),
            lambda s: adjust(
                session=s, lot_id=_lot_id(centre.admin), quantity=1, reason="r", at=AT, actor="a"
            ),
            lambda s: s.execute(sa.text("UPDATE application SET destination = 'x'")),
            lambda s: s.execute(sa.text("DELETE FROM machine_lease")),
            lambda s: record(session=s, kind="machine.out", actor="a@HN1", at=AT, subject="x"),
        ]
        refusals = [refused(auditor, write) for write in writes]
        # the one row it may append: the record of its own export
        with session_scope(auditor) as session:
            record(session=session, kind="card.export", actor="a@HN1", at=AT, subject="C1")
    finally:
        auditor.dispose()
    assert all("permission denied" in text or "row-level security" in text for text in refusals), (
        refusals
    )
    with session_scope(centre.admin) as session:
        assert session.get(Application, 1).state.value == "approved"  # type: ignore[union-attr]
        assert [
            e.kind
            for e in session.exec(select(AuditEvent).where(AuditEvent.kind != "operator.add"))
        ] == ["card.export"]


def test_a_stock_clerks_connection_receives_stock(centre: Centre) -> None:
    clerk = centre.connect(Role.STOCK_CLERK)
    try:
        with session_scope(clerk) as session:
            receive(
                session=session, item_code="chip", lot_number="L2", supplier="Vina", quantity=5,
                first_uid="04A1000000000100", at=AT, actor="c@HN1",
            )  # fmt: skip
        refused(
            clerk,
            lambda s: cancel_application(
                session=s, application_id=1, actor="x@HN1", reason_code="manager.cancel", at=AT
            ),
            "permission denied for table application",
        )
    finally:
        clerk.dispose()


def test_a_role_taken_away_is_taken_from_the_login_too(centre: Centre) -> None:
    supervisor = centre.names[Role.SUPERVISOR]
    operator = centre.names[Role.OPERATOR]
    with session_scope(centre.admin) as session:
        add_roles(session=session, name=operator, roles=[Role.AUDITOR], actor="dba", at=AT)
        remove_roles(session=session, name=operator, roles=[Role.OPERATOR], actor="dba", at=AT)
    centre.sync()
    with centre.admin.connect() as connection:
        member_of = connection.execute(
            sa.text(
                "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = :name"
            ),
            {"name": operator},
        ).scalars()
        assert sorted(member_of) == [f"{centre.prefix}_auditor"]
    engine = centre.connect(Role.OPERATOR)
    try:
        refused(
            engine,
            lambda s: cancel_application(
                session=s, application_id=1, actor="x@HN1", reason_code="manager.cancel", at=AT
            ),
            "permission denied for table application",
        )
    finally:
        engine.dispose()
    assert supervisor  # the supervisor kept its role: the last one cannot be removed


def test_database_roles_are_postgresqls_only(sqlite_engine: Engine) -> None:
    with pytest.raises(DatabaseRoleError, match="PostgreSQL"):
        sync_roles(sqlite_engine, operators={})
