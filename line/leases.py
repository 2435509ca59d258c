"""Machine leases: the database interlock that keeps two runs off the same machines.

A run (``cardline run --without-prefect`` or the production flow) drives the print, encode
and QC machines of its station. Before it starts a card it takes a lease on all of them,
in the ``machine_lease`` table; it renews the lease while it drives and releases it at the
end, on errors too. A second run on the same machines gets none of them: it waits (up to
``wait``) or fails at once with one line naming the holder. The holder is the run's actor,
``worker_identity``: ``<kind>@<centre>/<host>:<pid>``, which the stage events record too,
so the record tells workers apart.

Decisions:

- **One row per machine, kept.** A free machine's row has no ``token``; ``holder`` and
  ``acquired_at`` stay as the last holder's, for the record. Rows are never deleted, so
  that on PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` can tell "locked by another run
  taking it right now" (a row it skipped) from "free" (a row it got).
- **All or none.** ``acquire`` inserts the missing rows (``INSERT ... ON CONFLICT DO
  NOTHING``), locks the rows of every machine asked for (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, in name order; on SQLite the engine's ``BEGIN IMMEDIATE`` already serialises
  the whole transaction), and takes them only if none is held; otherwise it raises
  ``MachinesBusy`` and the caller's transaction rolls back, taking nothing. Two runs never
  wait on each other's row locks, so they cannot deadlock.
- **Expiry.** A lease lasts ``ttl`` (``LEASE_TTL``, 60 s) from its last renewal. A lease
  whose ``expires_at`` has passed was left by a run that died or hung, and may be taken
  over. A holder on this same host and pid namespace (``Worker.node``) whose process is
  gone (a ``kill -9``) is taken over at once; a pid that is alive (or of another host)
  is trusted until expiry. A pid reused by another process only delays the takeover.
- **Renewal.** ``HeldMachines`` renews in a daemon thread every ``ttl / 3``, each time in
  a short transaction of its own (its own pooled connection of the engine), and the run
  calls ``check()`` before each batch, which renews too. A renewal that finds another
  token on a machine (the lease expired and another run took it) marks the lease lost;
  the next ``check()`` raises ``LeaseLost``: the run stops before its next batch, with
  one line naming the new holder. Cards it left mid-line are the next run's to take over.
  A renewal that fails on a database error is logged and retried; once the lease's own
  expiry has passed without a renewal, ``check()`` stops the run as well.
- **Limits.** A lease is not a fence: a run whose renewals fail for a whole ``ttl`` while
  it is in the middle of a batch finishes that batch's stage in progress, while another
  run may already have taken the machines. ``check()`` before each batch bounds this to
  one batch. The CLI's default wait is 0 (say who holds the machines and exit 1); the
  flow's parameter ``machine_wait_seconds`` is 0 too.

Prefect's global concurrency limits, which the production flow also takes, show on the
UI's Concurrency page; this lease is the interlock both paths rely on.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from line.db import session_scope
from line.errors import CardlineError
from line.logsetup import get_logger
from line.models import MachineLease
from line.types import Clock

log = get_logger(__name__)

LEASE_TTL = timedelta(seconds=60)
"""How long a lease lasts after its last renewal; renewed every third of it."""
SETTLE_TRIES = 50
SETTLE_PAUSE = timedelta(seconds=0.1)
"""A row locked by another run's acquisition in progress is tried again this often."""
ACTOR_LENGTH = 64
"""The longest actor the stage event record keeps (``StageEvent.actor``)."""


# --- who drives: the worker process ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Worker:
    """A worker process: its host and pid, and ``node``, the pid namespace of this boot of
    the host (``None`` where it cannot be known): two pids are comparable only there."""

    host: str
    pid: int
    node: str | None

    @classmethod
    def here(cls) -> Worker:
        """This process."""
        return cls(socket.gethostname() or "localhost", os.getpid(), _node())

    def actor(self, kind: str, centre: str) -> str:
        """``<kind>@<centre>/<host>:<pid>``, within ``ACTOR_LENGTH`` (the host is cut:
        first to its first label, then to what fits)."""
        head, tail = f"{kind}@{centre}/", f":{self.pid}"
        room = ACTOR_LENGTH - len(head) - len(tail)
        if room < 1:
            raise ValueError(f"actor kind {kind!r} and centre {centre!r} leave no room")
        host = self.host if len(self.host) <= room else self.host.split(".", 1)[0]
        return f"{head}{host[:room]}{tail}"

    def sees_dead(self, node: str | None, pid: int | None) -> bool:
        """Whether the process ``pid`` of ``node`` is certainly gone, seen from here."""
        if self.node is None or node != self.node or pid is None:
            return False
        return not _alive(pid)


def worker_identity(kind: str, centre: str, *, worker: Worker | None = None) -> str:
    """The actor of a run: ``cardline-run@HN1/host1:4242``, ``prefect:production@HN1/...``."""
    return (worker or Worker.here()).actor(kind, centre)


def _node() -> str | None:
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}/{namespace}"[:80]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:  # a zombie is dead, only not reaped yet
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


# --- records and errors ---------------------------------------------------------------------


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
            busy += [s for s in (LeaseStatus.of(r, at) for r in _read(session, taking)) if s.held]
            taking = [name for name in taking if name not in {s.machine for s in busy}]
        raise MachinesBusy(sorted(busy, key=lambda s: s.machine), taking)
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
        theirs = [r for r in _read(session, lease.machines) if r.token != lease.token]
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


def _read(session: Session, names: Sequence[str]) -> list[MachineLease]:
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


# --- holding a lease while a run drives -----------------------------------------------------


def take(
    *,
    engine: Engine,
    machines: Iterable[str],
    holder: str,
    clock: Clock,
    ttl: timedelta = LEASE_TTL,
    wait: timedelta = timedelta(0),
    poll: timedelta = timedelta(seconds=1),
    sleep: Callable[[float], None] = time.sleep,
    worker: Worker | None = None,
) -> Lease:
    """``acquire`` in a transaction of its own, trying again every ``poll`` for up to
    ``wait`` while the machines are busy; then ``MachinesBusy``, naming the holder.

    A machine whose row another transaction has locked (a run taking or renewing its lease
    this very moment: milliseconds) is tried again shortly, whatever ``wait``, so that the
    answer names the run that holds it rather than "being taken"."""
    names = sorted(set(machines))
    start = clock()
    told = False
    settling = SETTLE_TRIES
    while True:
        try:
            with session_scope(engine) as session:
                lease = acquire(
                    session=session, machines=names, holder=holder, at=clock(), ttl=ttl,
                    worker=worker,
                )  # fmt: skip
        except MachinesBusy as busy:
            if busy.taking and settling:
                settling -= 1
                sleep(SETTLE_PAUSE.total_seconds())
                continue
            waited = clock() - start
            if waited >= wait:
                if not wait:
                    raise
                raise MachinesBusy(busy.holders, busy.taking, waited=waited) from None
            if not told:
                log.info("lease.waiting", machines=names, holders=busy.fields["holders"])
                told = True
            sleep(min(poll, wait - waited).total_seconds())
            continue
        log.info("lease.acquired", machines=names, holder=holder, token=lease.token)
        return lease


class HeldMachines:
    """A lease this run holds, renewed by a daemon thread every ``ttl / 3`` until
    ``close``. ``check()`` before each batch renews it too and raises ``LeaseLost`` once
    it is gone."""

    def __init__(self, *, engine: Engine, lease: Lease, clock: Clock, ttl: timedelta) -> None:
        self.engine = engine
        self.lease = lease
        self.clock = clock
        self.ttl = ttl
        self._lock = threading.Lock()
        self._lost: LeaseLost | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._renew_until_stopped, name="machine-lease", daemon=True
        )

    @property
    def lost(self) -> LeaseLost | None:
        return self._lost

    def start(self) -> None:
        self._thread.start()

    def check(self) -> None:
        """Renew now; raise ``LeaseLost`` if the lease is gone (or ran out unrenewed)."""
        self.renew_now()
        if self._lost is not None:
            raise self._lost
        if self.clock() >= self.lease.expires_at:  # renewals kept failing: not ours now
            with session_scope(self.engine) as session:
                now = [LeaseStatus.of(r, self.clock()) for r in _read(session, self.lease.machines)]
            self._lost = LeaseLost(self.lease, now, expired=True)
            raise self._lost

    def renew_now(self) -> None:
        """One renewal; a lost lease is remembered, a database error logged."""
        with self._lock:
            if self._lost is not None:
                return
            try:
                with session_scope(self.engine) as session:
                    self.lease = renew(
                        session=session, lease=self.lease, at=self.clock(), ttl=self.ttl
                    )
            except LeaseLost as lost:
                self._lost = lost
                log.info(  # the run stops with the error at its next check()
                    "lease.lost", machines=list(self.lease.machines), holders=lost.fields["holders"]
                )
            except SQLAlchemyError as error:
                log.warning(
                    "lease.renewal_failed",
                    machines=list(self.lease.machines),
                    error=str(error).splitlines()[0],
                    expires_at=self.lease.expires_at.isoformat(),
                )

    def close(self) -> None:
        """Stop renewing and give the machines back (a failure to is logged: the lease
        then runs out by itself)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            try:
                with session_scope(self.engine) as session:
                    given_back = release(session=session, lease=self.lease, at=self.clock())
            except SQLAlchemyError as error:
                log.warning(
                    "lease.release_failed",
                    machines=list(self.lease.machines),
                    error=str(error).splitlines()[0],
                )
            else:  # none when the lease was lost: the machines are another run's now
                log.info("lease.released", machines=list(self.lease.machines), count=given_back)

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl.total_seconds() / 3):
            self.renew_now()
            if self._lost is not None:
                return


@contextmanager
def hold(
    *,
    engine: Engine,
    machines: Iterable[str],
    holder: str,
    clock: Clock,
    ttl: timedelta = LEASE_TTL,
    wait: timedelta = timedelta(0),
    poll: timedelta = timedelta(seconds=1),
    sleep: Callable[[float], None] = time.sleep,
    worker: Worker | None = None,
) -> Iterator[HeldMachines]:
    """Take the machines (``take``), renew the lease while the block runs, release it at
    the end, on errors too."""
    lease = take(
        engine=engine, machines=machines, holder=holder, clock=clock, ttl=ttl, wait=wait,
        poll=poll, sleep=sleep, worker=worker,
    )  # fmt: skip
    held = HeldMachines(engine=engine, lease=lease, clock=clock, ttl=ttl)
    held.start()
    try:
        yield held
    finally:
        held.close()
