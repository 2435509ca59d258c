"""Stage events say what they record (``kind``); the QC verdict is stored once, in its event.

``stage_event.kind`` is ``start`` (a card body taken as printing starts: the events whose
reason is ``print.started``), ``decision`` (a manager's, at stage ``manager``) or
``outcome`` (everything else: the end of a stage for a card); existing rows are filled so.
``card.qc_result`` goes: a card's verdict is its last QC stage event (``passed``, or the
reason code it was rejected with). The downgrade restores the column filled from those
events (a rejected card then shows its first reason only: the event kept that one).

The stage event record is append-only (triggers refuse UPDATE and DELETE): the guards are
lifted while the existing rows are filled, and put back.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_GUARDED = ("UPDATE", "DELETE")


def upgrade() -> None:
    _drop_guards()
    with op.batch_alter_table("stage_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
    op.execute(
        "UPDATE stage_event SET kind = CASE"
        " WHEN reason_code = 'print.started' THEN 'start'"
        " WHEN stage = 'manager' THEN 'decision'"
        " ELSE 'outcome' END"
    )
    with op.batch_alter_table("stage_event", schema=None) as batch_op:
        batch_op.alter_column("kind", existing_type=sa.String(length=16), nullable=False)
    _make_guards()
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.drop_column("qc_result")


def downgrade() -> None:
    with op.batch_alter_table("card", schema=None) as batch_op:
        batch_op.add_column(sa.Column("qc_result", sa.String(length=512), nullable=True))
    op.execute(
        "UPDATE card SET qc_result = ("
        " SELECT CASE WHEN e.outcome = 'ok' THEN 'passed' ELSE e.reason_code END"
        " FROM stage_event e WHERE e.card_id = card.id AND e.stage = 'qc'"
        " ORDER BY e.id DESC LIMIT 1)"
    )
    _drop_guards()
    with op.batch_alter_table("stage_event", schema=None) as batch_op:
        batch_op.drop_column("kind")
    _make_guards()


def _make_guards() -> None:
    """The stage event record is append-only: the database itself refuses changes (as
    revision 0001 made it; SQLite's batch mode rebuilt the table without its triggers)."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in _GUARDED:
            op.execute(
                f"CREATE TRIGGER stage_event_no_{action.lower()} BEFORE {action} ON stage_event "
                "BEGIN SELECT RAISE(ABORT, 'stage_event is append-only'); END"
            )
    elif dialect == "postgresql":
        for action in _GUARDED:
            op.execute(
                f"CREATE TRIGGER stage_event_no_{action.lower()} BEFORE {action} ON stage_event "
                "FOR EACH ROW EXECUTE FUNCTION stage_event_append_only()"
            )


def _drop_guards() -> None:
    """Lift the append-only triggers (PostgreSQL's trigger function stays for ``_make_guards``)."""
    dialect = op.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        for action in _GUARDED:
            op.execute(
                f"DROP TRIGGER IF EXISTS stage_event_no_{action.lower()}"
                + (" ON stage_event" if dialect == "postgresql" else "")
            )
