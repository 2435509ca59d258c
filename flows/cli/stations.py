"""``cardline station``: the centre's register of police stations (the names on manifests)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.context import cli_context, echo_json

app = typer.Typer(
    help="The police stations cards go to: the register that names them on manifests.",
    no_args_is_help=True,
)


@app.command("load")
def station_load(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="CSV with the columns code,name (and optionally address).")
    ],
) -> None:
    """Check a station register whole, then make it the one in use (a file with any bad
    row changes nothing and names each bad row)."""
    from line.stations import install_register

    settings = cli_context(ctx).settings
    stations = install_register(path, settings.ensure_home())
    typer.echo(f"station register: {len(stations)} stations from {path}")


@app.command("list")
def station_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stations as JSON.")] = False,
) -> None:
    """The stations of the register in use, by code."""
    from dataclasses import asdict

    from line.stations import load_register

    register = load_register(cli_context(ctx).settings.home_dir)
    if as_json:
        echo_json([asdict(station) for _, station in sorted(register.items())])
        return
    if not register:
        typer.echo("no station register loaded: cardline station load FILE (code,name,address)")
    for code, station in sorted(register.items()):
        typer.echo(f"{code}  {station.label()}")
