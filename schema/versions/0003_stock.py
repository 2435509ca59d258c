"""Stock: items, lots, the append-only movement ledger, chip reservations; cards keep their lot.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from schema.append_only import drop_append_only, make_append_only

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MOVEMENT_KINDS = ("receipt", "reservation", "release", "consumption", "spoilage", "adjustment")


def upgrade() -> None:
    item = op.create_table(
        "stock_item",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("cards_per_unit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.bulk_insert(
        item,
        [{"code": "chip", "name": "chip card body", "unit": "card", "cards_per_unit": 1}],
    )
    op.create_table(
        "stock_lot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=16), nullable=False),
        sa.Column("lot_number", sa.String(length=64), nullable=False),
        sa.Column("supplier", sa.String(length=120), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_uid", sa.String(length=32), nullable=True),
        sa.Column("last_uid", sa.String(length=32), nullable=True),
        sa.Column("defect_rate", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["item_code"], ["stock_item.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_code", "lot_number", name="uq_stock_lot_number"),
    )
    with op.batch_alter_table("stock_lot", schema=None) as batch_op:
        batch_op.create_index("ix_stock_lot_item_code", ["item_code"], unique=False)
        batch_op.create_index("ix_stock_lot_received_at", ["received_at"], unique=False)
    op.create_table(
        "stock_movement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=16), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*MOVEMENT_KINDS, name="movementkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("card_serial", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("on_hand_after", sa.Integer(), nullable=False),
        sa.Column("reserved_after", sa.Integer(), nullable=False),
        sa.Column("consumed_after", sa.Integer(), nullable=False),
        sa.Column("spoiled_after", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["stock_lot.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stock_movement", schema=None) as batch_op:
        for column in ("lot_id", "item_code", "kind", "application_id", "card_serial", "at"):
            batch_op.create_index(f"ix_stock_movement_{column}", [column], unique=False)
    op.create_table(
        "chip_reservation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("card_serial", sa.String(length=32), nullable=True),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["application.id"]),
        sa.ForeignKeyConstraint(["lot_id"], ["stock_lot.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("chip_reservation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_chip_reservation_application_id", ["application_id"], unique=False
        )
        batch_op.create_index("ix_chip_reservation_lot_id", ["lot_id"], unique=False)
        batch_op.create_index(
            "uq_chip_reservation_open",
            ["application_id"],
            unique=True,
            sqlite_where=sa.text("state = 'reserved'"),
            postgresql_where=sa.text("state = 'reserved'"),
        )
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chip_lot", sa.String(length=64), nullable=True))
    make_append_only("stock_movement")


def downgrade() -> None:
    drop_append_only("stock_movement")
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.drop_column("chip_lot")
    op.drop_table("chip_reservation")
    op.drop_table("stock_movement")
    op.drop_table("stock_lot")
    op.drop_table("stock_item")
