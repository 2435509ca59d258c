"""The migrations make exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import inventory.models  # noqa: F401
import line.models  # noqa: F401
from line.errors import SchemaError
from schema import current_revision, downgrade, head_revision, require_current_schema, upgrade


def test_upgrade_from_empty_reaches_head_and_matches_the_models(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    with pytest.raises(SchemaError, match="run `cardline db upgrade`"):
        require_current_schema(empty_engine)
    assert upgrade(empty_engine) == (None, head_revision())
    require_current_schema(empty_engine)
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_upgrade_is_idempotent_and_downgrade_removes_everything(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    assert upgrade(empty_engine) == (head_revision(), head_revision())
    downgrade(empty_engine, "base")
    assert current_revision(empty_engine) is None
    assert set(sa.inspect(empty_engine).get_table_names()) <= {"alembic_version"}


def test_upgrading_from_the_first_revision_keeps_every_card(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0001")
    with empty_engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO application (id, id_number, full_name, date_of_birth, sex, nationality,"
                " place_of_origin, place_of_residence, photo_path, photo_sha256, destination, state,"
                " spoiled_cards, received_at, updated_at) VALUES (1, '079301123456', 'Lê Thu',"
                " '2001-05-17', 'F', 'Việt Nam', 'x', 'y', '/p.jpg', 'h', '079-0112', 'printing', 0,"
                " '2026-11-01 08:00:00', '2026-11-01 08:00:00')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO card (id, serial, application_id, attempt, state, created_at, updated_at)"
                " VALUES (1, 'C0000000001-1', 1, 1, 'printing', '2026-11-01 08:00:00',"
                " '2026-11-01 08:00:00')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO stage_event (application_id, card_id, stage, actor, outcome,"
                " reason_code, application_state, card_state, started_at, ended_at) VALUES"
                " (1, 1, 'print', 'w', 'ok', 'print.started', 'printing', 'printing',"
                " '2026-11-01 08:00:00', '2026-11-01 08:00:00')"
            )
        )
    # Later revisions rebuild the card table (SQLite batch mode) under its stage events.
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT serial, state, chip_uid FROM card")).all()
        events = connection.execute(sa.text("SELECT card_id, reason_code FROM stage_event")).all()
    assert [tuple(r) for r in rows] == [("C0000000001-1", "printing", None)]
    assert [tuple(e) for e in events] == [(1, "print.started")]


def _insert_event(connection: sa.Connection, card_id: int | None, stage: str, outcome: str,
                  reason: str | None, state: str) -> None:  # fmt: skip
    connection.execute(
        sa.text(
            "INSERT INTO stage_event (application_id, card_id, stage, actor, outcome,"
            " reason_code, application_state, card_state, started_at, ended_at) VALUES"
            " (1, :card, :stage, 'w', :outcome, :reason, :state, NULL,"
            " '2026-11-01 08:00:00', '2026-11-01 08:00:00')"
        ),
        {"card": card_id, "stage": stage, "outcome": outcome, "reason": reason, "state": state},
    )


def test_0009_says_each_events_kind_and_keeps_the_qc_verdict_in_its_event(
    empty_engine: Engine,
) -> None:
    upgrade(empty_engine, "0008")
    with empty_engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO application (id, id_number, full_name, date_of_birth, sex, nationality,"
                " place_of_origin, place_of_residence, photo_path, photo_sha256, destination, state,"
                " spoiled_cards, received_at, updated_at) VALUES (1, '079301123456', 'Lê Thu',"
                " '2001-05-17', 'F', 'Việt Nam', 'x', 'y', '/p.jpg', 'h', '079-0112', 'qc_passed', 1,"
                " '2026-11-01 08:00:00', '2026-11-01 08:00:00')"
            )
        )
        for card_id, state, verdict in (
            (1, "spoiled", "qc.sod.signature"),
            (2, "qc_passed", "passed"),
        ):
            connection.execute(
                sa.text(
                    "INSERT INTO card (id, serial, application_id, attempt, state, qc_result,"
                    " created_at, updated_at) VALUES (:id, :serial, 1, :id, :state, :verdict,"
                    " '2026-11-01 08:00:00', '2026-11-01 08:00:00')"
                ),
                {"id": card_id, "serial": f"C0000000001-{card_id}", "state": state,
                 "verdict": verdict},
            )  # fmt: skip
        _insert_event(connection, 1, "print", "ok", "print.started", "printing")
        _insert_event(connection, 1, "qc", "fail", "qc.sod.signature", "approved")
        _insert_event(connection, 2, "print", "ok", "print.started", "printing")
        _insert_event(connection, 2, "qc", "ok", None, "qc_passed")
        _insert_event(connection, None, "manager", "ok", "manager.retry", "approved")
    upgrade(empty_engine)
    with empty_engine.connect() as connection:
        kinds = connection.execute(sa.text("SELECT kind FROM stage_event ORDER BY id")).all()
        columns = {c["name"] for c in sa.inspect(connection).get_columns("card")}
    assert [k for (k,) in kinds] == ["start", "outcome", "start", "outcome", "decision"]
    assert "qc_result" not in columns
    with empty_engine.connect() as connection, pytest.raises(sa.exc.DatabaseError):
        connection.execute(sa.text("UPDATE stage_event SET kind = 'start'"))  # still append-only
    downgrade(empty_engine, "0008")
    with empty_engine.connect() as connection:
        verdicts = connection.execute(sa.text("SELECT id, qc_result FROM card ORDER BY id")).all()
        columns = {c["name"] for c in sa.inspect(connection).get_columns("stage_event")}
    assert [tuple(v) for v in verdicts] == [(1, "qc.sod.signature"), (2, "passed")]
    assert "kind" not in columns
