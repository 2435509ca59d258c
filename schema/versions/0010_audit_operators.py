"""Accountability: operators and their roles, the audit record, the hash chain's columns,
and when an application's personal data was purged.

``audit_event`` is append-only like ``stage_event`` and ``stock_movement`` (triggers refuse
UPDATE and DELETE). The three append-only tables get ``prev_hash``/``row_hash`` for the
tamper-evident chain of ``line.chain``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from schema.append_only import drop_append_only, make_append_only

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CHAINED = ("stage_event", "stock_movement")


def upgrade() -> None:
    op.create_table(
        "operator",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "role"),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.String(length=4000), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("row_hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_event_kind", "audit_event", ["kind"])
    op.create_index("ix_audit_event_subject", "audit_event", ["subject"])
    op.create_index("ix_audit_event_at", "audit_event", ["at"])
    make_append_only("audit_event")
    for table in CHAINED:  # ADD COLUMN is not an UPDATE: the triggers stay
        with op.batch_alter_table(table, recreate="never") as batch_op:
            batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("application", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("application", recreate="never") as batch_op:
        batch_op.drop_column("purged_at")
    for table in CHAINED:
        with op.batch_alter_table(table, recreate="never") as batch_op:
            batch_op.drop_column("row_hash")
            batch_op.drop_column("prev_hash")
    drop_append_only("audit_event")
    op.drop_index("ix_audit_event_at", table_name="audit_event")
    op.drop_index("ix_audit_event_subject", table_name="audit_event")
    op.drop_index("ix_audit_event_kind", table_name="audit_event")
    op.drop_table("audit_event")
    op.drop_table("operator")
