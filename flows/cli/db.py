"""``cardline db``: the database schema, created and upgraded by the migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli.context import cli_context

app = typer.Typer(help="The database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the schema, or bring it up to date (Alembic migrations)."""
    from schema import upgrade

    c = cli_context(ctx)
    engine = c.engine()
    before, after = upgrade(engine)
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        typer.echo(f"database {where} is up to date (revision {after})")
    else:
        typer.echo(f"database {where}: {before or 'empty'} -> {after}")


@app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the schema revision of the database and the one this cardline needs."""
    from schema import current_revision, head_revision

    engine = cli_context(ctx).engine()
    typer.echo(f"current: {current_revision(engine) or '(none)'}  head: {head_revision()}")


@app.command("roles")
def db_roles(
    ctx: typer.Context,
    prefix: Annotated[
        str,
        typer.Option(
            help="Group roles are <prefix>_<role>: one PostgreSQL cluster serving several "
            "centres gives each its own."
        ),
    ] = "cardline",
) -> None:
    """PostgreSQL: the operators' roles as database roles (a group role per role with only
    its grants; each operator a LOGIN role in its groups). Run as the DBA, again after each
    db upgrade and each operator change."""
    import re

    from line.db import session_scope
    from line.dbroles import sync_roles
    from line.operators import every_operator

    if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", prefix):
        raise typer.BadParameter("lower-case letters, digits and '_'", param_hint="--prefix")
    engine = cli_context(ctx).ready_engine()
    with session_scope(engine) as session:
        everyone = every_operator(session=session)
    report = sync_roles(engine, operators=everyone, prefix=prefix)
    typer.echo(f"schema {report.schema}: group roles {', '.join(report.groups.values())}")
    for name, groups in report.logins.items():
        typer.echo(f"  {name}: " + (", ".join(groups) if groups else "no group (no role left)"))
