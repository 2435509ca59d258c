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
from enum import StrEnum

from sqlmodel import Session, select

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
