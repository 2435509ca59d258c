"""``cardline plan``: goal seek over scenario fields, the cheapest setting that reaches
the target in time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from flows.cli.context import cli_context, echo_json, writable_path
from flows.cli.simulate import SIMULATE_MODES


def plan_cmd(
    ctx: typer.Context,
    scenario: Annotated[
        str,
        typer.Argument(help="The scenario: a built-in name (history-2021, ...) or a YAML path."),
    ],
    vary: Annotated[
        list[str],
        typer.Option(
            "--vary",
            help="PATH=LOW..HIGH[:STEP], a field of the scenario and its range, e.g. "
            "line.stages.chip-encode.machines=56..76:4 or "
            "chips.deliveries.june.date=2021-05-01..2021-06-10:5. Repeat for more fields.",
            show_default=False,
        ),
    ],
    probability: Annotated[
        float,
        typer.Option(help="Reach the target in time with at least this probability."),
    ] = 0.9,
    max_replications: Annotated[
        int, typer.Option(min=1, max=10_000, help="The most replications of one setting.")
    ] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the common random numbers.")] = 1,
    mode: Annotated[str, typer.Option(help="cards, fast, or auto (by the size).")] = "auto",
    search: Annotated[
        str,
        typer.Option(
            help="frontier (fields the target is monotone in), grid (every setting), or auto."
        ),
    ] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON (cardline.plan/1).")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the plan as a PDF.")] = None,
    dask_address: Annotated[
        str | None,
        typer.Option("--dask-address", help="Run as the plan Prefect flow on this Dask scheduler."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Replications at once (default: one per core).")
    ] = None,
) -> None:
    """Goal seek: the cheapest setting of the --vary fields that reaches the scenario's target
    by its date with at least --probability (costs from the scenario's costs: block).
    (Long by its option declarations.)"""
    if mode not in SIMULATE_MODES:
        raise typer.BadParameter(f"must be one of {', '.join(SIMULATE_MODES)}", param_hint="--mode")
    if out is not None:
        writable_path(out, "--out")
    from sim import ScenarioError, load_scenario

    try:
        loaded = load_scenario(scenario)
    except ValueError as exc:
        raise ScenarioError(str(exc), field="(file)", source=scenario) from exc
    if dask_address is None:
        from typing import cast

        from sim import Mode
        from sim.plan import Search, plan

        document = plan(
            loaded,
            vary,
            probability=probability,
            seed=seed,
            mode=cast(Mode, mode),
            max_replications=max_replications,
            search=cast(Search, search),
            workers=workers,
        )
    else:
        from flows.prefect_env import prepare_prefect

        prepare_prefect(cli_context(ctx).settings, quiet=True)
        from flows.plan_flow import plan_flow

        document = plan_flow(
            scenario=scenario,
            vary=list(vary),
            probability=probability,
            seed=seed,
            mode=mode,
            max_replications=max_replications,
            search=search,
            dask_address=dask_address,
        )
    _print_plan(document, out, as_json)


def _print_plan(document: Any, out: Path | None, as_json: bool) -> None:
    """The plan as text or JSON on stdout, and as a PDF at ``out`` when asked."""
    from sim.plan_report import plan_text

    if out is not None:
        import logging

        from printers.face.fonts import register_fonts
        from sim.plan_report import render_plan

        logging.getLogger("fontTools").setLevel(logging.WARNING)
        fonts = register_fonts()
        render_plan(document, out, font=fonts.sans, bold=fonts.bold)
    if as_json:
        echo_json(document)
        return
    typer.echo(plan_text(document))
    if out is not None:
        typer.echo(f"report: {out}")
