"""``cardline spec``: the line spec in use, and a spec file checked before it is used."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.context import cli_context

app = typer.Typer(help="The line spec (stations, times, yields, calendar).", no_args_is_help=True)


@app.command("show")
def spec_show(ctx: typer.Context) -> None:
    """Show the line spec in use and each stage's capacity."""
    from flows.render import spec_text

    typer.echo(spec_text(cli_context(ctx).spec()))


@app.command("check")
def spec_check(file: Annotated[Path, typer.Argument(help="YAML line spec to validate.")]) -> None:
    """Validate a line spec file; exit non-zero naming the first bad field."""
    from line.spec import load_spec

    spec = load_spec(file)
    typer.echo(f"{file}: valid line spec {spec.name!r} (bottleneck: {spec.bottleneck.value})")
