"""Initial schema: intake runs, applications, cards and the append-only stage event record.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The schema as it was at this revision: later changes to the models do not alter it.
APPLICATION_STATES = (
    "approved",
    "printing",
    "printed",
    "encoded",
    "qc_passed",
    "dispatched",
    "delivered",
    "held",
    "cancelled",
)
CARD_STATES = ("printing", "printed", "encoded", "qc_passed", "dispatched", "delivered", "spoiled")


def _enum(values: tuple[str, ...], name: str, length: int = 16) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=length)


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("source_format", sa.String(length=8), nullable=False),
        sa.Column("source_bytes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("reject_report", sa.String(length=1024), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "application",
        sa.Column("id_number", sa.String(length=12), nullable=False),
        sa.Column("full_name", sa.String(length=120), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("nationality", sa.String(length=40), nullable=False),
        sa.Column("place_of_origin", sa.String(length=250), nullable=False),
        sa.Column("place_of_residence", sa.String(length=250), nullable=False),
        sa.Column("old_id_number", sa.String(length=9), nullable=True),
        sa.Column("photo_path", sa.String(length=1024), nullable=False),
        sa.Column("photo_sha256", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=16), nullable=False),
        sa.Column("priority_group", sa.String(length=32), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            _enum(APPLICATION_STATES, "applicationstate"),
            nullable=False,
        ),
        sa.Column("spoiled_cards", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("intake_run_id", sa.Integer(), nullable=True),
        sa.Column("source_row", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["intake_run_id"],
            ["intake_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.create_index("ix_application_id_number", ["id_number"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_application_intake_run_id"), ["intake_run_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_application_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_application_live_id_number",
            ["id_number"],
            unique=True,
            sqlite_where=sa.text("state NOT IN ('delivered', 'cancelled')"),
            postgresql_where=sa.text("state NOT IN ('delivered', 'cancelled')"),
        )

    op.create_table(
        "card",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=32), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            _enum(CARD_STATES, "cardstate"),
            nullable=False,
        ),
        sa.Column("spoiled_at_stage", sa.String(length=16), nullable=True),
        sa.Column("spoil_reason", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id", "attempt", name="uq_card_application_attempt"),
        sa.UniqueConstraint("serial"),
    )
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_card_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_card_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_card_live_per_application",
            ["application_id"],
            unique=True,
            sqlite_where=sa.text("state <> 'spoiled'"),
            postgresql_where=sa.text("state <> 'spoiled'"),
        )

    op.create_table(
        "stage_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=True),
        sa.Column(
            "stage",
            sa.Enum(
                "intake",
                "print",
                "chip-encode",
                "qc",
                "dispatch",
                "delivery",
                "manager",
                name="eventstage",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("machine", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum("ok", "fail", name="outcome", native_enum=False, length=8),
            nullable=False,
        ),
        sa.Column("reason_code", sa.String(length=64), nullable=True),
        sa.Column(
            "application_state",
            _enum(APPLICATION_STATES, "applicationstate"),
            nullable=False,
        ),
        sa.Column(
            "card_state",
            _enum(CARD_STATES, "cardstate"),
            nullable=True,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["application.id"],
        ),
        sa.ForeignKeyConstraint(
            ["card_id"],
            ["card.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stage_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stage_event_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_stage_event_card_id"), ["card_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_stage_event_ended_at"), ["ended_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_stage_event_stage"), ["stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_stage_event_started_at"), ["started_at"], unique=False)

    _make_stage_event_append_only()


def downgrade() -> None:
    _drop_stage_event_guards()
    with op.batch_alter_table("stage_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stage_event_started_at"))
        batch_op.drop_index(batch_op.f("ix_stage_event_stage"))
        batch_op.drop_index(batch_op.f("ix_stage_event_ended_at"))
        batch_op.drop_index(batch_op.f("ix_stage_event_card_id"))
        batch_op.drop_index(batch_op.f("ix_stage_event_application_id"))

    op.drop_table("stage_event")
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_card_live_per_application",
            sqlite_where=sa.text("state <> 'spoiled'"),
            postgresql_where=sa.text("state <> 'spoiled'"),
        )
        batch_op.drop_index(batch_op.f("ix_card_state"))
        batch_op.drop_index(batch_op.f("ix_card_application_id"))

    op.drop_table("card")
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_application_live_id_number",
            sqlite_where=sa.text("state NOT IN ('delivered', 'cancelled')"),
            postgresql_where=sa.text("state NOT IN ('delivered', 'cancelled')"),
        )
        batch_op.drop_index(batch_op.f("ix_application_state"))
        batch_op.drop_index(batch_op.f("ix_application_intake_run_id"))
        batch_op.drop_index("ix_application_id_number")

    op.drop_table("application")
    op.drop_table("intake_run")


_GUARDED = ("UPDATE", "DELETE")


def _make_stage_event_append_only() -> None:
    """The stage event record is append-only: the database itself refuses changes."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in _GUARDED:
            op.execute(
                f"CREATE TRIGGER stage_event_no_{action.lower()} BEFORE {action} ON stage_event "
                "BEGIN SELECT RAISE(ABORT, 'stage_event is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION stage_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'stage_event is append-only'; END $$"
        )
        for action in _GUARDED:
            op.execute(
                f"CREATE TRIGGER stage_event_no_{action.lower()} BEFORE {action} ON stage_event "
                "FOR EACH ROW EXECUTE FUNCTION stage_event_append_only()"
            )


def _drop_stage_event_guards() -> None:
    dialect = op.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        for action in _GUARDED:
            op.execute(
                f"DROP TRIGGER IF EXISTS stage_event_no_{action.lower()}"
                + (" ON stage_event" if dialect == "postgresql" else "")
            )
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS stage_event_append_only()")
