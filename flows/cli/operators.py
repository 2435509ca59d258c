"""``cardline operator``: who may act at this centre, in which roles.

An operator is an operating-system user (the commands find who runs them from the
process's effective uid); each holds one or more roles (:class:`line.operators.Role`).
While no operator is enrolled, commands are not role-checked; the first ``operator add``
must give someone the supervisor role, and from then on only a supervisor adds or
removes operators (:mod:`flows.cli.roles`). Each change writes an audit row.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flows.centre import Centre
from flows.cli.context import actor, cli_context, echo_json
from line.operators import Role
from line.types import utc_now

app = typer.Typer(help="Operators and their roles.", no_args_is_help=True)

ROLE_HELP = "A role: " + ", ".join(r.value for r in Role) + " (the option can be repeated)."


@app.command("add")
def operator_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The operator's OS user name.")],
    roles: Annotated[list[Role], typer.Option("--role", help=ROLE_HELP)],
) -> None:
    """Give an OS user one or more roles at this centre (the first must be a supervisor)."""
    from line.db import session_scope
    from line.operators import add_roles

    c = cli_context(ctx)
    with session_scope(c.ready_engine()) as session:
        added = add_roles(session=session, name=name, roles=roles, actor=actor(ctx), at=utc_now())
    if not added:
        typer.echo(f"operator {name} already has {', '.join(sorted(r.value for r in roles))}")
        return
    typer.echo(f"operator {name}: now {', '.join(r.value for r in added)}" + _db_hint(c, name))


@app.command("remove")
def operator_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The operator's OS user name.")],
    roles: Annotated[
        list[Role] | None, typer.Option("--role", help="Only this role (default: all of them).")
    ] = None,
) -> None:
    """Take roles (or all of them) away from an operator; the record of who held them stays."""
    from line.db import session_scope
    from line.operators import remove_roles

    c = cli_context(ctx)
    with session_scope(c.ready_engine()) as session:
        taken = remove_roles(
            session=session, name=name, roles=roles or None, actor=actor(ctx), at=utc_now()
        )
    typer.echo(
        f"operator {name}: no longer {', '.join(r.value for r in taken)}" + _db_hint(c, name)
    )


@app.command("list")
def operator_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the operators as JSON.")] = False,
) -> None:
    """The operators of this centre and their roles (who added each, and when)."""
    from line.db import session_scope
    from line.operators import operators

    with session_scope(cli_context(ctx).ready_engine()) as session:
        found = {
            name: [(row.role, row.added_by, row.added_at) for row in rows]
            for name, rows in operators(session=session).items()
        }
    if as_json:
        echo_json(
            [
                {
                    "name": name,
                    "roles": [
                        {"role": role, "added_by": by, "added_at": at.isoformat()}
                        for role, by, at in rows
                    ],
                }
                for name, rows in found.items()
            ]
        )
        return
    if not found:
        typer.echo(
            "no operators: this centre is not enrolled, commands are not role-checked "
            "(cardline operator add NAME --role supervisor)"
        )
    for name, rows in found.items():
        typer.echo(f"{name:<20} " + ", ".join(role for role, _, _ in rows))
        for role, by, at in rows:
            typer.echo(f"{'':<20}   {role:<14} since {at:%Y-%m-%d %H:%M} UTC, added by {by}")


def _db_hint(c: Centre, name: str) -> str:
    """On PostgreSQL the operator's database login follows its roles: say what to run."""
    if c.engine().dialect.name != "postgresql":
        return ""
    return f" (cardline db roles gives {name} the database grants of its roles)"
