"""Who may run which command: one table, checked before every command runs.

:data:`COMMAND_ROLES` maps every command path (``machine in``, ``stock adjust``...) to
the roles allowed to run it; ``card show --full`` is a path of its own (the option needs
more than the command). Read-only commands are open to :data:`EVERYONE`, which means every
enrolled operator: an OS user who is not an operator of the centre is refused them too.

While no operator is enrolled (``line.operators.enrolled``) nothing is checked: a fresh
centre, the tests and the first set-up (``db upgrade``, ``operator add``, the demo) work
without anyone to check against. This is the command line's check only; on SQLite (one
machine, one user) it is the only one, on PostgreSQL each role is a database role too
(``line.dbroles``). :func:`guard` wraps every command of the app in :func:`require`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flows.centre import Centre
from flows.errors import FlowsError
from line.operators import Role

EVERYONE: frozenset[Role] = frozenset(Role)
"""Every enrolled operator, whatever their role (the read-only commands)."""

_OP = frozenset({Role.OPERATOR})
_CLERK = frozenset({Role.STOCK_CLERK})
_SUPERVISOR = frozenset({Role.SUPERVISOR})
_AUDITOR = frozenset({Role.AUDITOR})
_CUSTODIAN = frozenset({Role.KEY_CUSTODIAN})

COMMAND_ROLES: dict[str, frozenset[Role]] = {
    # the line: operators run it and dispatch
    "intake": _OP,
    "run": _OP,
    "dispatch": _OP,
    "deliver": _OP,
    "card return": _OP,
    "chip serve": _OP,
    "demo": _OP | _SUPERVISOR,
    # stock: the clerk receives and expects; adjusting a count is the clerk's (the maker)
    # or a supervisor's, approving it a supervisor's
    "stock receive": _CLERK,
    "stock expect": _CLERK,
    "stock delay": _CLERK,
    "stock split": _CLERK,
    "stock adjust": _CLERK | _SUPERVISOR,
    # a supervisor's decisions
    "machine out": _SUPERVISOR,
    "machine in": _SUPERVISOR,
    "card release": _SUPERVISOR,
    "card cancel": _SUPERVISOR,
    "card show --full": _SUPERVISOR,
    "operator add": _SUPERVISOR,
    "operator remove": _SUPERVISOR,
    "station load": _SUPERVISOR,
    "db upgrade": _SUPERVISOR,
    "db roles": _SUPERVISOR,
    "approve": _SUPERVISOR,
    "purge": _SUPERVISOR,
    # the key ceremony
    "keys init": _CUSTODIAN,
    "keys rotate": _CUSTODIAN,
    # the auditor reconciles, checks and exports
    "check": _AUDITOR,
    "reconcile": _AUDITOR,
    "card export": _AUDITOR,
    # read-only: every enrolled operator
    "status": EVERYONE,
    "simulate": EVERYONE,
    "calibrate": EVERYONE,
    "plan": EVERYONE,
    "machine list": EVERYONE,
    "stock status": EVERYONE,
    "stock ledger": EVERYONE,
    "db current": EVERYONE,
    "card show": EVERYONE,
    "spec show": EVERYONE,
    "spec check": EVERYONE,
    "keys show": EVERYONE,
    "station list": EVERYONE,
    "operator list": EVERYONE,
    "approvals": EVERYONE,
}
"""Every command path and the roles that may run it (``approve``, ``approvals``,
``purge`` and ``reconcile`` are commands other branches add; their rows are here so the
table stays whole when they land)."""


class RoleRefused(FlowsError):
    """A command outside the caller's roles (or a caller who is no operator)."""

    def __init__(self, command: str, *, user: str, needs: frozenset[Role], has: set[Role]):
        if not needs:
            wanted = "a row in the role table (flows/cli/roles.py)"
        elif needs == EVERYONE:
            wanted = "an operator of this centre"
        elif len(needs) == 1:
            wanted = f"the {next(iter(needs)).value} role"
        else:
            wanted = "one of the roles " + ", ".join(sorted(r.value for r in needs))
        held = ", ".join(sorted(r.value for r in has)) if has else None
        who = (
            f"{user} has {held}" if held else f"{user} is not an operator (cardline operator list)"
        )
        super().__init__(f"{command} needs {wanted}; {who}", command=command, user=user)
        self.command = command
        self.user = user


def roles_needed(path: str, params: Mapping[str, Any]) -> tuple[str, frozenset[Role]]:
    """The rule of command ``path`` called with ``params`` (its options by parameter
    name): a ``path --option`` row when that option is given, else the command's own."""
    for rule, roles in COMMAND_ROLES.items():
        head, _, option = rule.partition(" --")
        if option and head == path and params.get(option.replace("-", "_")):
            return rule, roles
    if path not in COMMAND_ROLES:  # a new command no one put in the table: refuse it
        return path, frozenset()
    return path, COMMAND_ROLES[path]


def caller_roles(c: Centre, user: str) -> set[Role] | None:
    """``user``'s roles at the centre, or None while no operator is enrolled (also when
    the database has no schema yet, or, on SQLite, no file: nothing is made to ask)."""
    import sqlalchemy as sa

    from line.db import session_scope
    from line.operators import enrolled, roles_of

    try:
        url = sa.make_url(c.settings.database_url)
    except (sa.exc.ArgumentError, ValueError):
        url = None  # the engine says what is wrong with it, in its own words
    if url and url.get_backend_name() == "sqlite" and not _sqlite_file_exists(url.database):
        return None
    engine = c.engine()
    if not sa.inspect(engine).has_table("operator"):
        return None
    with session_scope(engine) as session:
        if not enrolled(session=session):
            return None
        return roles_of(session=session, name=user)


def _sqlite_file_exists(database: str | None) -> bool:
    """Whether the SQLite database is there (in memory or a ``file:`` URI: assume so)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return True
    return Path(database).expanduser().exists()


def require(c: Centre, path: str, params: Mapping[str, Any]) -> None:
    """Raise ``RoleRefused`` unless the OS user running this may run ``path`` (with
    ``params``) at this centre, or the centre is not enrolled yet."""
    from line.operators import os_user

    rule, needs = roles_needed(path, params)
    user = os_user()
    held = caller_roles(c, user)
    if held is None or held & needs:
        return
    raise RoleRefused(rule, user=user, needs=needs, has=held)


def leaf_commands(command: Any, path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every command of the click command tree under ``command``, by path."""
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return {" ".join(path): command}
    found: dict[str, Any] = {}
    for name, sub in subcommands.items():
        found |= leaf_commands(sub, (*path, name))
    return found


def guard(command: Any) -> Any:
    """``command`` (the app's click group) with every leaf command's callback preceded by
    :func:`require`."""
    for path, leaf in leaf_commands(command).items():
        if leaf.callback is not None and not getattr(leaf.callback, "role_checked", False):
            leaf.callback = _checked(path, leaf.callback)
    return command


def _checked(path: str, callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        from typer._click.globals import get_current_context  # typer's own click

        ctx = get_current_context()
        obj = ctx.find_root().obj
        assert isinstance(obj, Centre)
        require(obj, path, kwargs)
        return callback(*args, **kwargs)

    checked.role_checked = True  # type: ignore[attr-defined]
    return checked
