"""Cards remember their devices: chip UID (unique forever), printed PDF pages, QC result.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chip_uid", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("print_pdf", sa.String(length=1024), nullable=True))
        batch_op.add_column(sa.Column("front_page", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("back_page", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("qc_result", sa.String(length=512), nullable=True))
        batch_op.create_unique_constraint("uq_card_chip_uid", ["chip_uid"])


def downgrade() -> None:
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.drop_constraint("uq_card_chip_uid", type_="unique")
        batch_op.drop_column("qc_result")
        batch_op.drop_column("back_page")
        batch_op.drop_column("front_page")
        batch_op.drop_column("print_pdf")
        batch_op.drop_column("chip_uid")
