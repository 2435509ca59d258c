"""Holding a lease while a run drives: taking it in a transaction of its own (waiting if
asked), renewing it from a daemon thread, checking it before each batch, giving it back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from line.db import session_scope
from line.leases.interlock import (
    LEASE_TTL,
    Lease,
    LeaseLost,
    LeaseStatus,
    MachinesBusy,
    acquire,
    read_rows,
    release,
    renew,
)
from line.logsetup import get_logger
from line.types import Clock
from line.worker import Worker

log = get_logger(__name__)

SETTLE_TRIES = 50
SETTLE_PAUSE = timedelta(seconds=0.1)
"""A row locked by another run's acquisition in progress is tried again this often."""


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
                now = [
                    LeaseStatus.of(r, self.clock()) for r in read_rows(session, self.lease.machines)
                ]
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
