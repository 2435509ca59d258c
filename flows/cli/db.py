"""``cardline db``: the database schema, created and upgraded by the migrations."""

from __future__ import annotations

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
