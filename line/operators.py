"""Operators and their roles: who may do what at the centre.

An operator is the operating-system user who runs a command (``os_user``), named in the
``operator`` table with one or more :class:`Role`. A flow run acts as its worker's identity
(``line.worker``). What each role may do is :data:`ROLE_DUTIES`; the command line refuses a
command outside the caller's roles (``flows.cli``), and on PostgreSQL each role is also a
database role with only the grants it needs.
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, func, select

from line.audit import record
from line.errors import CardlineError
from line.models import Operator


class Role(StrEnum):
    OPERATOR = "operator"
    STOCK_CLERK = "stock_clerk"
    SUPERVISOR = "supervisor"
    KEY_CUSTODIAN = "key_custodian"
    AUDITOR = "auditor"


ROLE_DUTIES: dict[Role, str] = {
    Role.OPERATOR: "runs the line and dispatches",
    Role.STOCK_CLERK: "receives stock and records expected deliveries",
    Role.SUPERVISOR: "takes machines out and back, approves stock adjustments, sees full IDs",
    Role.KEY_CUSTODIAN: "holds a share of the signing keys' PIN (key ceremony)",
    Role.AUDITOR: "reconciles, checks and exports cards",
}


OPERATOR_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
"""An operator's name: an operating-system user name as ``useradd`` takes it (and, on
PostgreSQL, the name of the operator's login role)."""


class OperatorError(CardlineError):
    """An operator or role change refused; ``name`` is the operator concerned."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message, name=name)
        self.name = name


def os_user() -> str:
    """The operating-system user running this process, from its effective uid (not from
    ``$USER`` or ``$LOGNAME``: a name one can set oneself proves nothing)."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def roles_of(*, session: Session, name: str) -> set[Role]:
    """The active roles of operator ``name`` (empty if unknown)."""
    rows = session.exec(select(Operator).where(Operator.name == name, Operator.active))
    return {Role(row.role) for row in rows}


def enrolled(*, session: Session) -> bool:
    """Whether this centre has any active operator: until it has, commands are not
    role-checked (a fresh centre has nobody to check against)."""
    count = session.exec(select(func.count()).select_from(Operator).where(Operator.active))
    return bool(count.one())


def check_name(name: str) -> str:
    """``name`` if it can be an operator's name, else an ``OperatorError`` saying why."""
    if not OPERATOR_NAME.fullmatch(name):
        raise OperatorError(
            f"operator name {name!r}: an OS user name (lower-case letters, digits, '_', '.', "
            "'-'; starting with a letter or '_'; at most 32 characters)",
            name=name,
        )
    return name


def add_roles(
    *, session: Session, name: str, roles: Iterable[Role], actor: str, at: datetime
) -> list[Role]:
    """Give operator ``name`` each of ``roles`` (one ``operator.add`` audit row for the
    roles it did not hold yet); return those roles. The first operator of a centre must be
    a supervisor: after enrolment only a supervisor adds or removes operators."""
    check_name(name)
    wanted = sorted(set(roles))
    if not wanted:
        raise OperatorError(f"operator {name}: give at least one --role", name=name)
    if not enrolled(session=session) and Role.SUPERVISOR not in wanted:
        raise OperatorError(
            f"operator {name}: the first operator of a centre must be a supervisor "
            "(--role supervisor): after the first, only a supervisor adds operators",
            name=name,
        )
    rows = {row.role: row for row in session.exec(select(Operator).where(Operator.name == name))}
    added = [role for role in wanted if role not in rows or not rows[role].active]
    for role in added:
        row = rows.get(role) or Operator(name=name, role=role, added_by=actor, added_at=at)
        row.active, row.added_by, row.added_at = True, actor, at
        session.add(row)
    if added:
        session.flush()
        record(
            session=session, kind="operator.add", actor=actor, at=at, subject=name,
            detail={"roles": [role.value for role in added]},
        )  # fmt: skip
    return added


def remove_roles(
    *, session: Session, name: str, roles: Iterable[Role] | None, actor: str, at: datetime
) -> list[Role]:
    """Take ``roles`` (all of them if None) away from operator ``name`` (one
    ``operator.remove`` audit row); return the roles taken. The row stays, inactive: who
    held a role, and since when, is part of the record. The last supervisor stays."""
    held = roles_of(session=session, name=name)
    if not held:
        raise OperatorError(f"no operator {name!r} (cardline operator list)", name=name)
    taken = sorted(held if roles is None else set(roles) & held)
    if not taken:
        asked = ", ".join(sorted(r.value for r in roles or ()))
        have = ", ".join(sorted(r.value for r in held))
        raise OperatorError(f"operator {name} has no role {asked} (has {have})", name=name)
    if Role.SUPERVISOR in taken and _supervisors(session) == {name}:
        raise OperatorError(
            f"operator {name} is the centre's last supervisor: add another supervisor first",
            name=name,
        )
    for row in session.exec(select(Operator).where(Operator.name == name)):
        if row.role in taken:
            row.active = False
            session.add(row)
    session.flush()
    record(
        session=session, kind="operator.remove", actor=actor, at=at, subject=name,
        detail={"roles": [role.value for role in taken]},
    )  # fmt: skip
    return taken


def operators(*, session: Session) -> dict[str, list[Operator]]:
    """The active operators by name (sorted), each with its role rows (sorted by role)."""
    rows = session.exec(
        select(Operator).where(Operator.active).order_by(col(Operator.name), col(Operator.role))
    )
    found: dict[str, list[Operator]] = {}
    for row in rows:
        found.setdefault(row.name, []).append(row)
    return found


def every_operator(*, session: Session) -> dict[str, set[Role]]:
    """Everyone who ever was an operator here, with their active roles (empty: none left):
    what the database's login roles must follow (``line.dbroles``)."""
    found: dict[str, set[Role]] = {}
    for row in session.exec(select(Operator)):
        roles = found.setdefault(row.name, set())
        if row.active:
            roles.add(Role(row.role))
    return found


def _supervisors(session: Session) -> set[str]:
    rows = session.exec(
        select(Operator.name).where(Operator.active, Operator.role == Role.SUPERVISOR.value)
    )
    return set(rows)
