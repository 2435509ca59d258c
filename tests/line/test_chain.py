"""The tamper-evident record: a line's worth of stage events, stock movements and audit
rows makes three clean chains, on SQLite and PostgreSQL; then someone with the database
itself (the trigger dropped or disabled) changes a column, deletes a row or inserts one
with a forged hash, and ``verify`` names that first row. Two writers at once on
PostgreSQL still make one chain. PostgreSQL refuses UPDATE, DELETE and TRUNCATE of the
three tables to the application's own role."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from inventory.models import StockMovement
from line import audit
from line.chain import CHAINED_TABLES, GENESIS, Problem, row_hash, verify_engine
from line.db import READ_ONLY, make_engine, session_scope
from line.errors import CardlineError
from line.models import AuditEvent, StageEvent
from schema import upgrade
from tests.conftest import StepClock
from tests.inventory.helpers import applications, line, receive_chips

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def a_line_of_rows(engine: Engine, clock: StepClock) -> None:
    """Chips received, four cards made on the real ledger, a machine out and back."""
    receive_chips(engine, "L1", 10, "04A0000000000001")
    applications(engine, 4)
    summary = line(engine, clock).run()
    assert summary.started == 4
    with session_scope(engine) as session:
        audit.record(session=session, kind="machine.out", actor="ann", at=T0, subject="print-01",
                     detail={"reason": "ribbon jam"})  # fmt: skip
        audit.record(session=session, kind="machine.in", actor="ann", at=T0, subject="print-01")


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def ids(engine: Engine, table: str) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(f"SELECT id FROM {table} ORDER BY id")).scalars())


def as_attacker(engine: Engine, table: str, statement: str, **params: object) -> None:
    """Run ``statement`` with the table's append-only triggers out of the way, as someone
    holding the database could (SQLite: dropped; PostgreSQL: disabled)."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            for action in ("update", "delete"):
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
        else:
            connection.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        connection.execute(sa.text(statement), params)


def test_a_line_of_rows_makes_three_clean_chains(engine: Engine, clock: StepClock) -> None:
    a_line_of_rows(engine, clock)
    found = verify_engine(engine)
    assert found.problems == []
    for table in CHAINED_TABLES:
        assert found.rows[table] == count(engine, table) > 0
    with engine.connect() as connection:
        first = connection.execute(
            sa.text("SELECT prev_hash FROM stage_event ORDER BY id LIMIT 1")
        ).scalar_one()
        heads = dict(
            connection.execute(sa.text("SELECT table_name, last_hash FROM chain_head")).all()
        )
    assert first == GENESIS
    assert heads == found.last_hashes


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("stage_event", "outcome", "fail"),
        ("stock_movement", "quantity", 9),
        ("audit_event", "actor", "mallory"),
        ("stage_event", "ended_at", "2026-11-01 08:00:00+00"),
    ],
)
def test_one_column_changed_behind_the_trigger_is_named(
    engine: Engine, clock: StepClock, table: str, column: str, value: object
) -> None:
    a_line_of_rows(engine, clock)
    victim = ids(engine, table)[1]
    cast = "CAST(:value AS TIMESTAMP WITH TIME ZONE)" if column == "ended_at" else ":value"
    if column == "ended_at" and engine.dialect.name == "sqlite":
        cast, value = ":value", "2026-11-01 08:00:00.000000"
    as_attacker(engine, table, f"UPDATE {table} SET {column} = {cast} WHERE id = :id",
                value=value, id=victim)  # fmt: skip
    assert verify_engine(engine).problems == [
        Problem(
            table,
            victim,
            "its content does not match its hash: a column was changed after it was written, "
            "or the hash forged",
        )
    ]


def test_a_deleted_row_is_named_by_the_row_after_it(engine: Engine, clock: StepClock) -> None:
    a_line_of_rows(engine, clock)
    rows = ids(engine, "stock_movement")
    as_attacker(engine, "stock_movement", "DELETE FROM stock_movement WHERE id = :id", id=rows[2])
    (problem,) = verify_engine(engine).problems
    assert (problem.table, problem.row_id) == ("stock_movement", rows[3])
    assert problem.what.startswith(
        f"does not link to row {rows[1]}: a row between them was deleted"
    )


def test_the_last_row_deleted_leaves_the_table_short_of_its_head(
    engine: Engine, clock: StepClock
) -> None:
    a_line_of_rows(engine, clock)
    rows = ids(engine, "audit_event")
    as_attacker(engine, "audit_event", "DELETE FROM audit_event WHERE id = :id", id=rows[-1])
    assert verify_engine(engine).problems == [
        Problem(
            "audit_event",
            rows[-2],
            "1 row(s) after it are missing: the chain's head records 2 rows, the table holds 1",
        )
    ]


def _insert_audit(engine: Engine, prev_hash: str | None, digest: str | None) -> int:
    with engine.begin() as connection:
        return int(
            connection.execute(
                sa.text(
                    "INSERT INTO audit_event (kind, actor, subject, detail, at, prev_hash,"
                    " row_hash) VALUES ('key.rotate', 'mallory', NULL, '{}', :at, :prev, :hash)"
                    " RETURNING id"
                ),
                {"at": T0.replace(tzinfo=None), "prev": prev_hash, "hash": digest},
            ).scalar_one()
        )


def test_a_row_inserted_with_a_forged_hash_or_none_is_named(
    engine: Engine, clock: StepClock
) -> None:
    a_line_of_rows(engine, clock)
    last = verify_engine(engine).last_hashes["audit_event"]
    forged = _insert_audit(engine, last, "f" * 64)
    assert verify_engine(engine).problems == [
        Problem(
            "audit_event",
            forged,
            "its content does not match its hash: a column was changed after it was written, "
            "or the hash forged",
        )
    ]


def test_a_row_without_a_hash_is_named(engine: Engine, clock: StepClock) -> None:
    a_line_of_rows(engine, clock)
    bare = _insert_audit(engine, None, None)
    assert verify_engine(engine).problems == [
        Problem("audit_event", bare, "has no hash: it was not written by cardline")
    ]


def test_a_row_whose_hash_is_right_but_the_head_was_not_moved_is_named(
    engine: Engine, clock: StepClock
) -> None:
    """Someone who knows the algorithm links a row correctly, but not through cardline."""
    a_line_of_rows(engine, clock)
    last = verify_engine(engine).last_hashes["audit_event"]
    values = {"kind": "key.rotate", "actor": "mallory", "subject": None, "detail": "{}", "at": T0}
    added = _insert_audit(engine, last, row_hash(last, "audit_event", values))
    assert verify_engine(engine).problems == [
        Problem("audit_event", added, "comes after the chain's recorded head: added behind "
                "cardline's back")
    ]  # fmt: skip


def test_later_rows_after_a_clean_check_still_link(engine: Engine, clock: StepClock) -> None:
    """Rows written in many transactions and flushes, some rolled back, make one chain."""
    a_line_of_rows(engine, clock)
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        audit.record(session=session, kind="purge", actor="ann", at=T0)
        raise RuntimeError("rolled back: its row and the head's move go with it")
    with session_scope(engine) as session:
        audit.record(session=session, kind="purge", actor="ann", at=T0)
        with session.begin_nested():
            audit.record(session=session, kind="card.export", actor="ann", at=T0)
        savepoint = session.begin_nested()
        audit.record(session=session, kind="card.export", actor="bob", at=T0)
        savepoint.rollback()
    found = verify_engine(engine)
    assert found.problems == [] and found.rows["audit_event"] == 4


@pytest.fixture
def pg_engine(empty_pg: Engine) -> Engine:
    upgrade(empty_pg)
    return empty_pg


@pytest.mark.postgres
def test_two_writers_at_once_on_postgresql_make_one_chain(pg_engine: Engine) -> None:
    engine = pg_engine
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            start.wait()
            for n in range(40):
                with session_scope(engine) as session:
                    audit.record(session=session, kind="card.export", actor=name,
                                 at=T0 + timedelta(seconds=n), subject=f"{name}-{n}")  # fmt: skip
                    audit.record(session=session, kind="card.show_full", actor=name,
                                 at=T0 + timedelta(seconds=n), subject=f"{name}-{n}")  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 (handed to the test's thread)
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    found = verify_engine(engine)
    assert found.problems == [] and found.rows["audit_event"] == 160


@pytest.mark.postgres
@pytest.mark.parametrize("table", CHAINED_TABLES)
@pytest.mark.parametrize(
    "statement",
    ["UPDATE {table} SET id = id", "DELETE FROM {table}", "TRUNCATE {table}"],
)
def test_postgresql_refuses_changes_to_the_record(
    pg_engine: Engine, clock: StepClock, table: str, statement: str
) -> None:
    engine = pg_engine
    a_line_of_rows(engine, clock)
    # The tests connect as the role the application uses (here the owner of the tables).
    refused = pytest.raises(sa.exc.DatabaseError, match=f"{table} is append-only")
    with refused, engine.begin() as connection:
        connection.execute(sa.text(statement.format(table=table)))
    assert verify_engine(engine).problems == []


def test_sqlite_refuses_changes_to_the_record(sqlite_engine: Engine, clock: StepClock) -> None:
    a_line_of_rows(sqlite_engine, clock)
    for table in CHAINED_TABLES:
        for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
            refused = pytest.raises(sa.exc.DatabaseError, match=f"{table} is append-only")
            with refused, sqlite_engine.begin() as connection:
                connection.execute(sa.text(statement))


def test_the_models_rows_carry_their_hashes(engine: Engine, clock: StepClock) -> None:
    a_line_of_rows(engine, clock)
    with session_scope(engine) as session:
        for model in (StageEvent, StockMovement, AuditEvent):
            rows = session.execute(sa.select(model).order_by(sa.text("id"))).scalars().all()
            assert all(r.row_hash and len(r.row_hash) == 64 for r in rows)
            assert [r.prev_hash for r in rows[1:]] == [r.row_hash for r in rows[:-1]]


_BEFORE_THE_CHAIN = (
    "INSERT INTO application (id, id_number, full_name, date_of_birth, sex, nationality,"
    " place_of_origin, place_of_residence, photo_path, photo_sha256, destination, state,"
    " spoiled_cards, received_at, updated_at) VALUES (1, '079301123456', 'Lê Thu',"
    " '2001-05-17', 'F', 'Việt Nam', 'x', 'y', '/p.jpg', 'h', '079-0112', 'approved', 0,"
    " '2026-11-01 08:00:00', '2026-11-01 08:00:00')",
    "INSERT INTO stage_event (application_id, card_id, stage, kind, actor, outcome,"
    " reason_code, application_state, card_state, started_at, ended_at) VALUES"
    " (1, NULL, 'manager', 'decision', 'Nguyễn Văn A', 'ok', 'manager.retry', 'approved', NULL,"
    " '2026-11-01 08:00:00', '2026-11-01 08:00:01.250000')",
    "INSERT INTO stock_lot (item_code, lot_number, supplier, quantity, received_at,"
    " first_uid, last_uid) VALUES ('chip', 'L0', 'Chip Co', 5, '2026-11-01 07:00:00',"
    " '04F0000000000001', '04F0000000000005')",
    "INSERT INTO stock_movement (lot_id, item_code, kind, quantity, actor, at, on_hand_after,"
    " reserved_after, consumed_after, spoiled_after) SELECT id, 'chip', 'receipt', 5, 'store',"
    " '2026-11-01 07:00:00', 5, 0, 0, 0 FROM stock_lot WHERE lot_number = 'L0'",
    "INSERT INTO audit_event (kind, actor, subject, detail, at) VALUES ('machine.out', 'ann',"
    " 'print-01', '{\"reason\": \"jam\"}', '2026-11-01 07:30:00')",
)


def test_an_upgraded_centre_has_its_earlier_rows_chained(empty_engine: Engine) -> None:
    """Rows written before revision 0011 (no hashes) are linked by it; new rows follow."""
    upgrade(empty_engine, "0010")
    with empty_engine.begin() as connection:
        for statement in _BEFORE_THE_CHAIN:
            connection.execute(sa.text(statement))
        connection.execute(sa.text(_BEFORE_THE_CHAIN[1]))
    upgrade(empty_engine)
    found = verify_engine(empty_engine)
    assert found.problems == []
    assert found.rows == {"stage_event": 2, "stock_movement": 1, "audit_event": 1}
    receive_chips(empty_engine, "L1", 10, "04A0000000000001")
    with session_scope(empty_engine) as session:
        audit.record(session=session, kind="machine.in", actor="ann", at=T0, subject="print-01")
    found = verify_engine(empty_engine)
    assert found.problems == []
    assert found.rows == {"stage_event": 2, "stock_movement": 2, "audit_event": 2}
    with empty_engine.connect() as connection, pytest.raises(sa.exc.DatabaseError):
        connection.execute(sa.text("UPDATE stage_event SET actor = 'x'"))  # still append-only


def test_a_reader_on_sqlite_leaves_the_writers_free(
    sqlite_engine: Engine, clock: StepClock
) -> None:
    """``verify_engine`` reads in a deferred transaction (``READ_ONLY``): in WAL mode a
    writer commits meanwhile (an IMMEDIATE reader would hold it off: "database is locked"),
    and the reader goes on seeing its snapshot."""
    a_line_of_rows(sqlite_engine, clock)
    count_audit = sa.text("SELECT count(*) FROM audit_event")
    writer = make_engine(str(sqlite_engine.url), connect_args={"timeout": 0.5})
    reading = sqlite_engine.connect().execution_options(**{READ_ONLY: True})
    with reading as reader, reader.begin():
        before = reader.execute(count_audit).scalar_one()
        with session_scope(writer) as session:
            audit.record(session=session, kind="purge", actor="ann", at=T0)
        assert reader.execute(count_audit).scalar_one() == before
    writer.dispose()
    assert count(sqlite_engine, "audit_event") == before + 1
    assert verify_engine(sqlite_engine).problems == []


def test_a_new_row_with_an_id_of_its_own_is_refused_and_nothing_is_written(
    engine: Engine,
) -> None:
    """The chain's order is the id order the database gives; a chosen id could break it."""
    refused = pytest.raises(CardlineError, match="audit_event: a new row's id is the database's")
    with refused, session_scope(engine) as session:
        session.add(AuditEvent(id=7, kind="purge", actor="ann", at=T0))
    assert count(engine, "audit_event") == 0
    assert verify_engine(engine).problems == []
