"""Expected deliveries: purchase orders (delayed, split), and the lot that fulfils one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "purchase_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("item_code", sa.String(length=16), nullable=False),
        sa.Column("supplier", sa.String(length=120), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("expected_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("split_from_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_code"], ["stock_item.code"]),
        sa.ForeignKeyConstraint(["split_from_id"], ["purchase_order.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    with op.batch_alter_table("stock_lot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purchase_order_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_stock_lot_purchase_order", "purchase_order", ["purchase_order_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("stock_lot", schema=None) as batch_op:
        batch_op.drop_constraint("fk_stock_lot_purchase_order", type_="foreignkey")
        batch_op.drop_column("purchase_order_id")
    op.drop_table("purchase_order")
