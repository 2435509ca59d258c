"""Persistence models: applications, cards, the append-only stage event record, intake runs.

Models come in families (``ApplicationBase`` / ``ApplicationCreate`` / ``Application`` /
``ApplicationPublic``). The schema itself is made by the Alembic migrations in
``schema`` package; a test holds the two together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from line.idnumber import mask_id
from line.types import ApplicationState, CardState, EventKind, Outcome, Stage


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(enum: type[Any], length: int = 16) -> sa.Enum:
    return sa.Enum(
        enum,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        create_constraint=False,
    )


def _utc(nullable: bool = False, index: bool = False) -> Any:
    column: sa.Column[datetime] = sa.Column(UTCDateTime(), nullable=nullable, index=index)
    if nullable:
        return Field(default=None, sa_column=column)
    return Field(sa_column=column)


LIVE_APPLICATION_SQL = "state NOT IN ('delivered', 'cancelled')"
LIVE_CARD_SQL = "state <> 'spoiled'"


# --- applications -------------------------------------------------------------------------


class ApplicationBase(SQLModel):
    id_number: str = Field(max_length=12)
    full_name: str = Field(max_length=120)
    date_of_birth: date
    sex: str = Field(max_length=1)
    nationality: str = Field(max_length=40)
    place_of_origin: str = Field(max_length=250)
    place_of_residence: str = Field(max_length=250)
    old_id_number: str | None = Field(default=None, max_length=9)
    photo_path: str = Field(max_length=1024)
    photo_sha256: str = Field(max_length=64)
    destination: str = Field(max_length=16)
    priority_group: str | None = Field(default=None, max_length=32)
    due_date: date | None = None


class ApplicationCreate(ApplicationBase):
    """A validated row of an intake file, ready to insert."""


class Application(ApplicationBase, table=True):
    __tablename__ = "application"
    __table_args__ = (
        sa.Index(
            "uq_application_live_id_number",
            "id_number",
            unique=True,
            sqlite_where=sa.text(LIVE_APPLICATION_SQL),
            postgresql_where=sa.text(LIVE_APPLICATION_SQL),
        ),
        sa.Index("ix_application_id_number", "id_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    state: ApplicationState = Field(
        sa_column=sa.Column(_enum(ApplicationState), nullable=False, index=True)
    )
    spoiled_cards: int = Field(default=0, ge=0)
    received_at: datetime = _utc()
    updated_at: datetime = _utc()
    intake_run_id: int | None = Field(default=None, foreign_key="intake_run.id", index=True)
    source_row: int | None = None
    # When ``cardline purge`` removed the citizen's personal data (retention): the row and
    # its masked ID stay for the audit record.
    purged_at: datetime | None = _utc(nullable=True)


class ApplicationPublic(SQLModel):
    """What may leave the database in logs and machine output: no personal data."""

    id: int
    id_number_masked: str
    state: ApplicationState
    destination: str
    priority_group: str | None
    due_date: date | None
    spoiled_cards: int

    @classmethod
    def of(cls, application: Application) -> ApplicationPublic:
        assert application.id is not None
        return cls(
            id=application.id,
            id_number_masked=mask_id(application.id_number),
            state=application.state,
            destination=application.destination,
            priority_group=application.priority_group,
            due_date=application.due_date,
            spoiled_cards=application.spoiled_cards,
        )


# --- cards --------------------------------------------------------------------------------


class Card(SQLModel, table=True):
    """One physical card body (one chip). Every card ever made stays in the record."""

    __tablename__ = "card"
    __table_args__ = (
        sa.Index(
            "uq_card_live_per_application",
            "application_id",
            unique=True,
            sqlite_where=sa.text(LIVE_CARD_SQL),
            postgresql_where=sa.text(LIVE_CARD_SQL),
        ),
        sa.UniqueConstraint("application_id", "attempt", name="uq_card_application_attempt"),
        sa.UniqueConstraint("chip_uid", name="uq_card_chip_uid"),  # a chip is used once, ever
    )

    id: int | None = Field(default=None, primary_key=True)
    serial: str = Field(max_length=32, unique=True)
    application_id: int = Field(foreign_key="application.id", index=True)
    attempt: int = Field(ge=1)
    state: CardState = Field(sa_column=sa.Column(_enum(CardState), nullable=False, index=True))
    spoiled_at_stage: str | None = Field(default=None, max_length=16)
    spoil_reason: str | None = Field(default=None, max_length=64)
    chip_uid: str | None = Field(default=None, max_length=32)
    chip_lot: str | None = Field(default=None, max_length=64)  # lot number of its card body
    print_pdf: str | None = Field(default=None, max_length=1024)
    front_page: int | None = None
    back_page: int | None = None
    dispatch_batch_id: int | None = Field(default=None, foreign_key="dispatch_batch.id", index=True)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


def card_serial(application_id: int, attempt: int) -> str:
    """Unique forever: one application id, one attempt number per card body."""
    return f"C{application_id:010d}-{attempt}"


# --- the stage event record -----------------------------------------------------------------


class StageEvent(SQLModel, table=True):
    """Append-only: who did what, at which stage, on which machine, with which outcome.

    The database refuses UPDATE and DELETE on this table (triggers in the migration).
    """

    __tablename__ = "stage_event"

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="application.id", index=True)
    card_id: int | None = Field(default=None, foreign_key="card.id", index=True)
    stage: Stage = Field(sa_column=sa.Column(_enum(Stage), nullable=False, index=True))
    kind: EventKind = Field(sa_column=sa.Column(_enum(EventKind), nullable=False))
    machine: str | None = Field(default=None, max_length=64)
    actor: str = Field(max_length=64)
    outcome: Outcome = Field(sa_column=sa.Column(_enum(Outcome, 8), nullable=False))
    reason_code: str | None = Field(default=None, max_length=64)
    application_state: ApplicationState = Field(
        sa_column=sa.Column(_enum(ApplicationState), nullable=False)
    )
    card_state: CardState | None = Field(
        default=None, sa_column=sa.Column(_enum(CardState), nullable=True)
    )
    started_at: datetime = _utc(index=True)
    ended_at: datetime = _utc(index=True)
    # The tamper-evident chain (``line.chain``): this row's hash, over its content and the
    # hash of the row before it.
    prev_hash: str | None = Field(default=None, max_length=64)
    row_hash: str | None = Field(default=None, max_length=64)

    def record(self) -> StageEventRecord:
        assert self.id is not None
        return StageEventRecord(
            id=self.id,
            application_id=self.application_id,
            card_id=self.card_id,
            stage=self.stage,
            kind=self.kind,
            machine=self.machine,
            actor=self.actor,
            outcome=self.outcome,
            reason_code=self.reason_code,
            application_state=self.application_state,
            card_state=self.card_state,
            started_at=self.started_at,
            ended_at=self.ended_at,
        )


@dataclass(frozen=True, slots=True)
class StageEventRecord:
    """An immutable stage event: feeds the KPIs, the reports and the simulator's calibration."""

    id: int
    application_id: int
    card_id: int | None
    stage: Stage
    kind: EventKind
    machine: str | None
    actor: str
    outcome: Outcome
    reason_code: str | None
    application_state: ApplicationState
    card_state: CardState | None
    started_at: datetime
    ended_at: datetime

    @property
    def duration_seconds(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()


# --- dispatch ---------------------------------------------------------------------------------


class DispatchBatch(SQLModel, table=True):
    """Cards handed over together to one police station, with their manifest."""

    __tablename__ = "dispatch_batch"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=48, unique=True)
    destination: str = Field(max_length=16, index=True)
    cards: int = Field(ge=1)
    manifest: str | None = Field(default=None, max_length=1024)
    dispatched_at: datetime = _utc()
    delivered_at: datetime | None = _utc(nullable=True)


# --- intake runs ----------------------------------------------------------------------------


class IntakeRun(SQLModel, table=True):
    """One import of one file: what came in, what was refused, where the report is."""

    __tablename__ = "intake_run"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=1024)
    source_format: str = Field(max_length=8)
    source_bytes: int
    status: str = Field(max_length=16)  # running / completed / failed / interrupted
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    reject_report: str = Field(max_length=1024)
    started_at: datetime = _utc()
    finished_at: datetime | None = _utc(nullable=True)
    # Who runs it, and when it last showed progress: a later intake marks a run whose
    # process is gone, or that has been silent too long, ``interrupted`` (line.intake).
    host: str | None = Field(default=None, max_length=255)
    node: str | None = Field(default=None, max_length=80)
    pid: int | None = None
    heartbeat_at: datetime | None = _utc(nullable=True)


# --- machines -------------------------------------------------------------------------------


class Machine(SQLModel, table=True):
    """A physical machine of the line, and whether it may be driven (a manager's decision).

    A machine that keeps failing is taken out by the run that gave up on it; it stays out
    until a manager puts it back (``cardline machine in NAME``).
    """

    __tablename__ = "machine"

    name: str = Field(primary_key=True, max_length=64)
    stage: str = Field(max_length=16)
    in_service: bool = True
    reason: str | None = Field(default=None, max_length=512)
    changed_by: str = Field(max_length=128)
    changed_at: datetime = _utc()


class MachineLease(SQLModel, table=True):
    """Which run drives a machine right now (``line.leases``): one row per machine, kept
    once made; a free machine's row has no ``token``. ``holder`` names the worker process
    (``cardline-run@HN1/host1:4242``); ``node`` and ``pid`` let a run on the same host see
    that the holder died. A lease whose ``expires_at`` passed may be taken over."""

    __tablename__ = "machine_lease"

    machine: str = Field(primary_key=True, max_length=64)
    holder: str | None = Field(default=None, max_length=128)
    token: str | None = Field(default=None, max_length=32)
    node: str | None = Field(default=None, max_length=80)
    pid: int | None = None
    acquired_at: datetime | None = _utc(nullable=True)
    renewed_at: datetime | None = _utc(nullable=True)
    expires_at: datetime | None = _utc(nullable=True)


# --- operators and the audit record ---------------------------------------------------------


class Operator(SQLModel, table=True):
    """A person allowed to act at this centre, in one role (``line.operators.Role``): one
    row per name and role. ``name`` is the operating-system user who runs the commands."""

    __tablename__ = "operator"

    name: str = Field(primary_key=True, max_length=64)
    role: str = Field(primary_key=True, max_length=16)
    active: bool = True
    added_by: str = Field(max_length=64)
    added_at: datetime = _utc()


class AuditEvent(SQLModel, table=True):
    """Append-only (the database refuses UPDATE and DELETE): an action that is not a card's
    stage and not a stock movement: a machine taken out or put back, a key operation, an
    operator added, personal data viewed or exported, a purge, an approval given or
    refused. ``kind`` is one of ``line.audit.AUDIT_KINDS``; ``detail`` is JSON text."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    actor: str = Field(max_length=64)
    subject: str | None = Field(default=None, max_length=128, index=True)
    detail: str = Field(default="{}", max_length=4000)
    at: datetime = _utc(index=True)
    prev_hash: str | None = Field(default=None, max_length=64)
    row_hash: str | None = Field(default=None, max_length=64)


class ChainHead(SQLModel, table=True):
    """The last link of one append-only table's hash chain (``line.chain``): the hash of its
    last row and how many rows the chain holds. Writers lock it while they add rows (so the
    chain has one order), and ``cardline check`` holds the table against it (a row deleted
    at the end, or added behind cardline's back, leaves the table and its head apart)."""

    __tablename__ = "chain_head"

    table_name: str = Field(primary_key=True, max_length=32)
    last_hash: str = Field(max_length=64)
    row_count: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
