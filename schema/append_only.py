"""The append-only guard the migrations put on a table: the database itself refuses UPDATE
and DELETE on it (SQLite: ``RAISE(ABORT)`` triggers; PostgreSQL: a trigger function that
raises), whoever asks. Shared by the migrations that make such tables (0003, 0010), so
that every append-only table is guarded the same way."""

from __future__ import annotations

from alembic import op


def make_append_only(table: str) -> None:
    """Refuse UPDATE and DELETE on ``table`` from now on."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{table} is append-only'; END $$"
        )
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
            )


def drop_append_only(table: str) -> None:
    """Undo :func:`make_append_only` (a downgrade)."""
    dialect = op.get_bind().dialect.name
    for action in ("update", "delete"):
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action} ON {table}")
    if dialect == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
