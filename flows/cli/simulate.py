"""``cardline simulate``: scenarios forecast side by side by the SimPy model (or the
what-if flow on a Dask cluster).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from flows.centre import Centre
from flows.cli.context import cli_context, echo_json, writable_path

SIMULATE_MODES = ("auto", "cards", "fast")


def simulate(
    ctx: typer.Context,
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(
            help="Scenarios to compare: built-in names (plan-2021, history-2021, "
            "slip-march-21d, ...) or paths to scenario YAML files.",
            show_default=False,
        ),
    ] = None,
    replications: Annotated[
        int, typer.Option("--replications", "-n", min=1, max=10_000, help="Per scenario.")
    ] = 10,
    seed: Annotated[
        int,
        typer.Option(min=0, help="Seed of the common random numbers (same for every scenario)."),
    ] = 1,
    mode: Annotated[
        str,
        typer.Option(help="cards (SimPy, card by card), fast (time steps), or auto (by the size)."),
    ] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as JSON (cardline.forecast/1).")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the forecast as a PDF here.")
    ] = None,
    dask_address: Annotated[
        str | None,
        typer.Option(
            "--dask-address",
            help="Run the replications as the what-if Prefect flow on this Dask scheduler "
            "(tcp://host:8786).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Replications at once (default: one per core; with Dask: the chunks)."
        ),
    ] = None,
    paired: Annotated[
        bool,
        typer.Option(
            "--paired",
            help="Also the difference of each scenario from the first, replication by "
            "replication (paired-t intervals: target date, cards, stall days).",
        ),
    ] = False,
    precision: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help="Add replications until the target date's 95 % interval is at most this "
            "many days either side (or --max-replications).",
        ),
    ] = None,
    max_replications: Annotated[
        int | None,
        typer.Option(min=2, max=10_000, help="With --precision: the most replications (200)."),
    ] = None,
    warmup: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Days before stage statistics and the time in system count (steady state).",
        ),
    ] = 0.0,
) -> None:
    """Forecast scenarios side by side: cards per day, cumulative cards, the date the target
    is reached (95 % interval), utilisation and wait per stage, WIP, chip stalls and chips.

    Replications use common random numbers: with the same seed, every scenario sees the same
    draws where it shares structure with the others, so their differences are the changes'.
    (Calibration is its own command: cardline calibrate.) The function is long by its
    option declarations; the work is in the helpers below.
    """
    if mode not in SIMULATE_MODES:
        raise typer.BadParameter(f"must be one of {', '.join(SIMULATE_MODES)}", param_hint="--mode")
    if out is not None:
        writable_path(out, "--out")  # before the work, and no directories made
    if not scenarios:
        raise typer.BadParameter("give at least one scenario", param_hint="SCENARIO")
    loaded = load_scenarios(scenarios)
    if paired and len(loaded) < 2:
        raise typer.BadParameter("--paired needs two scenarios or more", param_hint="--paired")
    if max_replications is not None and precision is None:
        raise typer.BadParameter("goes with --precision", param_hint="--max-replications")
    if warmup >= min(s.days for s in loaded):
        raise typer.BadParameter(
            f"must be shorter than the run ({min(s.days for s in loaded)} days)",
            param_hint="--warmup",
        )
    options = ForecastOptions(
        replications=replications, seed=seed, mode=mode, workers=workers, warmup=warmup,
        paired=paired, precision=precision, max_replications=max_replications or 200,
    )  # fmt: skip
    if dask_address is None:
        figures = _forecast_here(loaded, options)
    else:
        figures = _forecast_on_dask(cli_context(ctx), list(scenarios), options, dask_address)
    _print_forecast(figures, out, as_json)


def load_scenarios(names: list[str]) -> list[Any]:
    """The scenarios of ``names`` (built-in names or YAML paths), each with its own name."""
    from sim import ScenarioError, load_scenario

    loaded = []
    for name in names:
        try:
            loaded.append(load_scenario(name))  # a ScenarioError names the file and field
        except ValueError as exc:  # e.g. YAML's own date parsing: 2021-13-40
            raise ScenarioError(str(exc), field="(file)", source=name) from exc
    given = [s.name for s in loaded]
    if len(set(given)) != len(given):
        twice = sorted({n for n in given if given.count(n) > 1})
        raise typer.BadParameter(
            f"two scenarios are named {twice[0]!r}: give each its own name", param_hint="SCENARIO"
        )
    return loaded


@dataclass(frozen=True)
class ForecastOptions:
    """How the scenarios are replicated, as the options gave it (checked already)."""

    replications: int
    seed: int
    mode: str
    workers: int | None
    warmup: float
    paired: bool
    precision: float | None
    max_replications: int


def _forecast_here(loaded: list[Any], o: ForecastOptions) -> Any:
    """The forecast replicated in this process's pool of workers."""
    from sim import Mode
    from sim.comparison import forecast_scenarios, local_runner

    runner = local_runner(
        seed=o.seed, mode=cast(Mode, o.mode), workers=o.workers, warmup_days=o.warmup
    )
    return forecast_scenarios(
        loaded,
        runner,
        replications=o.replications,
        requested_mode=o.mode,
        warmup_days=o.warmup,
        paired_with_first=o.paired,
        precision=o.precision,
        max_replications=o.max_replications,
    )


def _forecast_on_dask(
    c: Centre, scenarios: list[str], o: ForecastOptions, dask_address: str
) -> Any:
    """The forecast as the what-if Prefect flow, its replications on the Dask cluster."""
    from flows.prefect_env import prepare_prefect

    prepare_prefect(c.settings, quiet=True)
    from flows.whatif import what_if

    return what_if(
        scenarios=scenarios,
        replications=o.replications,
        seed=o.seed,
        mode=o.mode,
        dask_address=dask_address,
        workers=o.workers,
        warmup_days=o.warmup,
        paired=o.paired,
        precision=o.precision,
        max_replications=o.max_replications,
    )


def _print_forecast(figures: Any, out: Path | None, as_json: bool) -> None:
    """The forecast as text or JSON on stdout, and as a PDF at ``out`` when asked."""
    from sim.comparison import paired_text, precision_text
    from sim.report import forecast_text

    if out is not None:
        import logging

        from printers.face.fonts import register_fonts
        from sim.report import render_forecast

        logging.getLogger("fontTools").setLevel(logging.WARNING)  # its subsetting chatter
        fonts = register_fonts()
        render_forecast(figures, out, font=fonts.sans, bold=fonts.bold)
    if as_json:
        echo_json(figures)
        return
    typer.echo(forecast_text(figures))
    for extra in (paired_text(figures), precision_text(figures)):
        if extra:
            typer.echo(extra)
    if out is not None:
        typer.echo(f"report: {out}")
