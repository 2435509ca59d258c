"""The machine lease table: a lease's records and errors, and taking, renewing, releasing
and reading leases in the caller's transaction (see the ``line.leases`` package docstring
for the decisions). Every function takes a keyword-only ``session`` and commits nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from line.errors import CardlineError
from line.logsetup import get_logger
from line.models import MachineLease
from line.worker import Worker

log = get_logger(__name__)

LEASE_TTL = timedelta(seconds=60)
"""How long a lease lasts after its last renewal; renewed every third of it."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease this run holds: all of ``machines`` under one ``token``."""

    token: str
    holder: str
    machines: tuple[str, ...]
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    """One machine's lease row as read: ``held`` when a live lease is on it at ``at``."""

    machine: str
    holder: str | None
    held: bool
    acquired_at: datetime | None
    renewed_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def of(cls, row: MachineLease, at: datetime) -> LeaseStatus:
        held = row.token is not None and row.expires_at is not None and row.expires_at > at
        return cls(row.machine, row.holder, held, row.acquired_at, row.renewed_at, row.expires_at)


def _who(statuses: Sequence[LeaseStatus], taking: Sequence[str]) -> str:
    """``print-01, encode-01 held by X since ... (lease until ... unless renewed)``."""
    parts = []
    by_holder: dict[tuple[str | None, datetime | None, datetime | None], list[str]] = {}
    for s in statuses:
        by_holder.setdefault((s.holder, s.acquired_at, s.expires_at), []).append(s.machine)
    for (holder, since, until), names in by_holder.items():
        when = f" since {since:%Y-%m-%d %H:%M:%S} UTC" if since else ""
        expiry = f" (lease until {until:%H:%M:%S} UTC unless renewed)" if until else ""
        parts.append(f"{', '.join(names)} held by {holder}{when}{expiry}")
    if taking:
        parts.append(f"{', '.join(taking)} being taken by another run right now")
    return "; ".join(parts)


class MachinesBusy(CardlineError):
    """Another run holds (or is taking) some of the machines a run asked for."""

    def __init__(
        self,
        holders: Sequence[LeaseStatus],
        taking: Sequence[str] = (),
        *,
        waited: timedelta = timedelta(0),
    ) -> None:
        after = f" after waiting {waited.total_seconds():.0f} s" if waited else ""
        super().__init__(
            f"machines busy{after}: {_who(holders, taking)}; wait for them "
            "(cardline run --wait SECONDS) or drive other machines (CARDLINE_STATION)",
            machines=[s.machine for s in holders] + list(taking),
            holders=sorted({s.holder for s in holders if s.holder}),
        )
        self.holders = list(holders)
        self.taking = list(taking)


class LeaseLost(CardlineError):
    """A run's lease on its machines was taken by another run (or ran out unrenewed)."""

    def __init__(self, lease: Lease, now: Sequence[LeaseStatus], *, expired: bool = False) -> None:
        theirs = [s for s in now if s.held]
        if theirs:
            why = f"now {_who(theirs, ())}"
        elif expired:
            why = f"not renewed since it ran out at {lease.expires_at:%H:%M:%S} UTC"
        else:
            why = "released by someone else"
        super().__init__(
            f"lost the lease on {', '.join(lease.machines)}: {why}; this run stopped before "
            "its next batch (the cards it left mid-line go on with the next run)",
            machines=list(lease.machines),
            token=lease.token,
            holders=sorted({s.holder for s in theirs if s.holder}),
        )
        self.lease = lease
        self.now = list(now)


# --- persistence: acquire, renew, release, read ---------------------------------------------


def acquire(
    *,
    session: Session,
    machines: Iterable[str],
    holder: str,
    at: datetime,
    ttl: timedelta = LEASE_TTL,
    worker: Worker | None = None,
) -> Lease:
    """Take a lease on every one of ``machines`` for ``holder``, or raise ``MachinesBusy``
    (then nothing is taken once the caller rolls back). ``worker``: the process that will
    drive them (default: this one). Commits nothing."""
    names = sorted(set(machines))
    if not names:
        raise ValueError("a lease is taken on at least one machine")
    worker = worker or Worker.here()
    _insert_missing(session, names)
    rows = session.exec(
        select(MachineLease)
        .where(col(MachineLease.machine).in_(names))
        .order_by(col(MachineLease.machine))
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    _refuse_if_busy(session, names, rows, at, worker)
    token = uuid.uuid4().hex
    for row in rows:
        if row.token is not None:
            log.warning(
                "lease.taken_over",
                machine=row.machine,
                previous=row.holder,
                expired=row.expires_at is not None and row.expires_at <= at,
            )
        row.holder = holder
        row.token = token
        row.node = worker.node
        row.pid = worker.pid
        row.acquired_at = at
        row.renewed_at = at
        row.expires_at = at + ttl
        session.add(row)
    session.flush()
    return Lease(token, holder, tuple(names), at, at + ttl)


def _refuse_if_busy(
    session: Session, names: list[str], rows: Sequence[MachineLease], at: datetime, worker: Worker
) -> None:
    """Raise ``MachinesBusy`` if any machine asked for is under a live lease (one whose
    holder is not certainly dead) or its row is locked by another run's transaction
    (skipped: held already, or being taken this very moment)."""
    got = {row.machine for row in rows}
    taking = [name for name in names if name not in got]
    busy = [
        LeaseStatus.of(row, at)
        for row in rows
        if row.token is not None
        and row.expires_at is not None
        and row.expires_at > at
        and not worker.sees_dead(row.node, row.pid)
    ]
    if busy or taking:
        if taking:  # rows another transaction has locked: held already, or being taken
            busy += [
                s for s in (LeaseStatus.of(r, at) for r in read_rows(session, taking)) if s.held
            ]
            taking = [name for name in taking if name not in {s.machine for s in busy}]
        raise MachinesBusy(sorted(busy, key=lambda s: s.machine), taking)


def renew(*, session: Session, lease: Lease, at: datetime, ttl: timedelta = LEASE_TTL) -> Lease:
    """Extend ``lease`` to ``at + ttl``, or raise ``LeaseLost`` if another token is on any
    of its machines. Commits nothing."""
    done = session.connection().execute(
        sa.update(MachineLease)
        .where(col(MachineLease.machine).in_(lease.machines))
        .where(col(MachineLease.token) == lease.token)
        .values(renewed_at=at, expires_at=at + ttl)
    )
    if done.rowcount != len(lease.machines):  # the caller's rollback undoes a part renewed
        theirs = [r for r in read_rows(session, lease.machines) if r.token != lease.token]
        raise LeaseLost(lease, [LeaseStatus.of(r, at) for r in theirs])
    return Lease(lease.token, lease.holder, lease.machines, lease.acquired_at, at + ttl)


def release(*, session: Session, lease: Lease, at: datetime) -> int:
    """Give ``lease``'s machines back (those still under its token); how many. The last
    holder and when it took them stay in the row. Commits nothing."""
    done = session.connection().execute(
        sa.update(MachineLease)
        .where(col(MachineLease.machine).in_(lease.machines))
        .where(col(MachineLease.token) == lease.token)
        .values(token=None, node=None, pid=None, renewed_at=at, expires_at=at)
    )
    return int(done.rowcount)


def leases(*, session: Session, at: datetime) -> dict[str, LeaseStatus]:
    """Every machine's lease as it stands at ``at``, by machine name."""
    rows = session.exec(select(MachineLease).order_by(col(MachineLease.machine))).all()
    return {row.machine: LeaseStatus.of(row, at) for row in rows}


def read_rows(session: Session, names: Sequence[str]) -> list[MachineLease]:
    """The rows as last committed (no lock: a row another run has locked is read too)."""
    return list(
        session.exec(
            select(MachineLease)
            .where(col(MachineLease.machine).in_(names))
            .order_by(col(MachineLease.machine))
            .execution_options(populate_existing=True)
        ).all()
    )


def _insert_missing(session: Session, names: Sequence[str]) -> None:
    known = set(
        session.exec(select(MachineLease.machine).where(col(MachineLease.machine).in_(names)))
    )
    missing = [name for name in names if name not in known]
    if not missing:
        return
    rows = [{"machine": name} for name in missing]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.connection().execute(
            postgresql.insert(MachineLease).values(rows).on_conflict_do_nothing()
        )
    elif dialect == "sqlite":
        session.connection().execute(
            sqlite.insert(MachineLease).values(rows).on_conflict_do_nothing()
        )
    else:  # another database: one insert at a time, a lost race is no harm
        for name in missing:
            with suppress(IntegrityError), session.begin_nested():
                session.add(MachineLease(machine=name))
