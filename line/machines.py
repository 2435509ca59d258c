"""Machines in and out of service.

A run that gives up on a machine (it kept failing through every retry) takes it out of
service, so that no run drives it again until a manager has looked at it and put it back.
Machines are known by name (``print-01``); a machine is registered the first time a run or
a manager names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from line.audit import record
from line.errors import CardlineError, NotFound
from line.models import Machine
from line.types import Stage

MACHINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A machine's name: what the workers use (``print-01``), at most 64 characters."""

_STAGE_OF_PREFIX = {"print": Stage.PRINT, "encode": Stage.ENCODE, "qc": Stage.QC}
"""The stage of a machine named as the workers name theirs: ``<prefix>-<station>``."""


class MachineNameError(CardlineError):
    """A machine name that is not one (empty, too long, spaces or symbols)."""


def check_name(name: str) -> str:
    """``name`` if it can be a machine's name; else ``MachineNameError``."""
    if not MACHINE_NAME.fullmatch(name):
        shown = name if len(name) <= 70 else name[:64] + "..."
        raise MachineNameError(
            f"{shown!r} is not a machine name (letters, digits, '-', '_' or '.', at most 64, "
            "e.g. print-01)"
        )
    return name


def stage_of(name: str) -> Stage | None:
    """The stage of a machine named the way workers name theirs (``print-02``,
    ``encode-02``, ``qc-02``: ``<prefix>-<CARDLINE_STATION>``); None for other names."""
    prefix, _, station = name.rpartition("-")
    return _STAGE_OF_PREFIX.get(prefix) if station else None


def stage_for(*, session: Session, name: str) -> Stage | None:
    """The stage of machine ``name``: the one it is registered at, else the one its name
    says (``stage_of``); None when neither tells."""
    row = session.get(Machine, name)
    return Stage(row.stage) if row is not None else stage_of(name)


class MachineOutOfService(CardlineError):
    """A run was asked to drive a machine a manager (or an earlier run) took out."""

    def __init__(self, machines: Iterable[Machine]) -> None:
        self.machines = list(machines)
        what = "; ".join(
            f"{m.name} ({m.stage}) since {m.changed_at:%Y-%m-%d %H:%M} UTC: {m.reason or '-'}"
            for m in self.machines
        )
        names = " ".join(m.name for m in self.machines)
        super().__init__(
            f"out of service: {what}. Put back after repair: cardline machine in {names}"
        )


@dataclass(frozen=True, slots=True)
class MachineStatus:
    name: str
    stage: str
    in_service: bool
    reason: str | None
    changed_by: str
    changed_at: datetime

    @classmethod
    def of(cls, machine: Machine) -> MachineStatus:
        return cls(
            machine.name,
            machine.stage,
            machine.in_service,
            machine.reason,
            machine.changed_by,
            machine.changed_at,
        )


def register(
    *, session: Session, machines: dict[str, Stage], actor: str, at: datetime
) -> list[Machine]:
    """Make sure each named machine is known (in service when new); return their rows."""
    rows = []
    for name, stage in machines.items():
        row = session.get(Machine, name)
        if row is None:
            try:  # two workers starting at once may both find it new: one insert wins
                with session.begin_nested():
                    session.add(
                        Machine(name=name, stage=stage.value, changed_by=actor, changed_at=at)
                    )
            except IntegrityError:
                pass
            row = session.get(Machine, name, populate_existing=True)
            assert row is not None
        rows.append(row)
    return rows


def require_in_service(
    *, session: Session, machines: dict[str, Stage], actor: str, at: datetime
) -> None:
    """Raise ``MachineOutOfService`` naming every one of ``machines`` that is out."""
    out = [row for row in register(session=session, machines=machines, actor=actor, at=at)
           if not row.in_service]  # fmt: skip
    if out:
        raise MachineOutOfService(out)


def take_out(
    *, session: Session, name: str, stage: Stage, reason: str, actor: str, at: datetime
) -> Machine:
    """Take ``name`` out of service with ``reason`` (registering it if it is new)."""
    if not reason.strip():
        raise CardlineError("reason: say why the machine is taken out", field="reason")
    row = session.get(Machine, name)
    if row is None:
        row = Machine(name=name, stage=stage.value, changed_by=actor, changed_at=at)
    row.in_service = False
    row.reason = reason[:512]
    row.changed_by = actor
    row.changed_at = at
    session.add(row)
    session.flush()
    record(
        session=session, kind="machine.out", actor=actor, at=at, subject=name,
        detail={"stage": stage.value, "reason": row.reason},
    )  # fmt: skip
    return row


def put_back(*, session: Session, name: str, actor: str, at: datetime, note: str = "") -> Machine:
    """Return a known machine to service (``note``: what was done to it)."""
    row = session.get(Machine, name)
    if row is None:
        raise NotFound(f"no machine {name!r} (cardline machine list shows the known ones)")
    row.in_service = True
    row.reason = note[:512] or None
    row.changed_by = actor
    row.changed_at = at
    session.add(row)
    session.flush()
    record(
        session=session, kind="machine.in", actor=actor, at=at, subject=name,
        detail={"stage": row.stage, "note": row.reason or ""},
    )  # fmt: skip
    return row


def machines(*, session: Session) -> list[MachineStatus]:
    """Every known machine, by stage then name."""
    rows = session.exec(select(Machine).order_by(col(Machine.stage), col(Machine.name))).all()
    return [MachineStatus.of(row) for row in rows]
