"""The tamper-evident record: the chain heads, and the rows written before the chain, linked.

``chain_head`` holds, per append-only table, the hash of its last row and how many rows
its chain holds (``line.chain``). The rows ``stage_event``, ``stock_movement`` and
``audit_event`` already hold are linked in id order (their append-only triggers are lifted
while their hash columns are filled, and put back), so an upgraded centre's ``cardline
check`` passes. On PostgreSQL the three tables also refuse TRUNCATE (a statement trigger:
the row triggers do not see it).

The downgrade drops the heads and the TRUNCATE guards; the hash columns are 0010's and
keep their values.

Revision ID: 0011_chain
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from line.chain import CHAINED_TABLES, chain_existing_rows

revision = "0011_chain"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_head",
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("table_name"),
    )
    bind = op.get_bind()
    for table in CHAINED_TABLES:
        _drop_update_guard(table)
        chain_existing_rows(bind, table)
        _make_update_guard(table)
        if bind.dialect.name == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in CHAINED_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.drop_table("chain_head")


def _drop_update_guard(table: str) -> None:
    """Lift the UPDATE trigger (PostgreSQL's trigger function stays for the guard)."""
    on = f" ON {table}" if op.get_bind().dialect.name == "postgresql" else ""
    op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update{on}")


def _make_update_guard(table: str) -> None:
    """Put the UPDATE trigger back as revisions 0001, 0003 and 0010 made it."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
