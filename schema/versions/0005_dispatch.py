"""Dispatch batches: cards grouped by police station, with a manifest; cards know their batch.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dispatch_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("destination", sa.String(length=16), nullable=False),
        sa.Column("cards", sa.Integer(), nullable=False),
        sa.Column("manifest", sa.String(length=1024), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("dispatch_batch", schema=None) as batch_op:
        batch_op.create_index("ix_dispatch_batch_destination", ["destination"], unique=False)
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispatch_batch_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_card_dispatch_batch_id", ["dispatch_batch_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_card_dispatch_batch", "dispatch_batch", ["dispatch_batch_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.drop_constraint("fk_card_dispatch_batch", type_="foreignkey")
        batch_op.drop_index("ix_card_dispatch_batch_id")
        batch_op.drop_column("dispatch_batch_id")
    op.drop_table("dispatch_batch")
