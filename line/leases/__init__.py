"""Machine leases: the database interlock that keeps two runs off the same machines.

The package: :mod:`~line.leases.interlock` (the lease table: records, errors, acquire,
renew, release, read) and :mod:`~line.leases.holding` (a run's side: ``take``, ``hold``
and ``HeldMachines``, which renews); the worker process a lease names is
``line.worker.Worker``.

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

from line.leases.holding import SETTLE_PAUSE, SETTLE_TRIES, HeldMachines, hold, take
from line.leases.interlock import (
    LEASE_TTL,
    Lease,
    LeaseLost,
    LeaseStatus,
    MachinesBusy,
    acquire,
    leases,
    release,
    renew,
)
from line.worker import ACTOR_LENGTH, Worker, worker_identity

__all__ = [
    "ACTOR_LENGTH",
    "LEASE_TTL",
    "SETTLE_PAUSE",
    "SETTLE_TRIES",
    "HeldMachines",
    "Lease",
    "LeaseLost",
    "LeaseStatus",
    "MachinesBusy",
    "Worker",
    "acquire",
    "hold",
    "leases",
    "release",
    "renew",
    "take",
    "worker_identity",
]
