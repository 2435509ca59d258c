"""Who drives: a worker process, its host, pid and pid namespace, and its actor name.

A run's actor (``<kind>@<centre>/<host>:<pid>``) is what machine leases name as holder and
stage events record; whether a process is certainly gone is what lets a lease, or an
intake run, left by a killed process be taken over at once (``line.leases``,
``line.intake``).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

ACTOR_LENGTH = 64
"""The longest actor the stage event record keeps (``StageEvent.actor``)."""


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
