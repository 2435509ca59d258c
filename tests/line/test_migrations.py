"""The migrations make exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import line.models  # noqa: F401
from line.db import current_revision, downgrade, head_revision, require_current_schema, upgrade
from line.errors import SchemaError


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
    import sqlalchemy as sa

    assert set(sa.inspect(empty_engine).get_table_names()) <= {"alembic_version"}
