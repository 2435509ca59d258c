"""``cardline demo``: synthetic applications through the whole line as flows."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli.context import cli_context
from line.types import utc_now


def demo(
    ctx: typer.Context,
    count: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Good applications to make.")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data.")] = 2021,
) -> None:
    """Make synthetic applications (with some bad rows) and run the whole line as flows."""
    from flows.prefect_env import prepare_prefect

    c = cli_context(ctx)
    prefect_at = prepare_prefect(c.settings, quiet=True)
    from flows.demo import run_demo

    run_demo(
        prefect_at=prefect_at,
        settings=c.settings,
        count=count,
        seed=seed,
        today=c.today(),
        clock=utc_now,
        echo=typer.echo,
    )
