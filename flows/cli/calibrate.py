"""``cardline calibrate``: the line spec fitted to the recorded stage events, and
optionally backtested against what the line did.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from flows.centre import Centre
from flows.cli.context import cli_context, echo_json, parse_date, writable_path
from line.types import utc_now


def calibrate(
    ctx: typer.Context,
    spec_out: Annotated[
        Path | None,
        typer.Option(help="The spec to write (default: <home>/calibrated-line.yaml)."),
    ] = None,
    since: Annotated[str | None, typer.Option(help="First day of the record (YYYY-MM-DD).")] = None,
    until: Annotated[
        str | None, typer.Option(help="Last day of the record (YYYY-MM-DD, included).")
    ] = None,
    backtest: Annotated[
        bool,
        typer.Option(
            "--backtest",
            help="Replay the period (--since..--until; default the last 7 days) with the "
            "fitted spec and compare its throughput with what the line did.",
        ),
    ] = False,
    replications: Annotated[
        int,
        typer.Option("--replications", "-n", min=1, max=10_000, help="Of the backtest."),
    ] = 10,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the backtest's draws.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fit processing times, defect rates and breakdowns to the recorded stage events and
    write them into a line spec (--spec-out); with --backtest, check it against the record."""
    if spec_out is not None:
        writable_path(spec_out, "--spec-out")
    c = cli_context(ctx)
    start, end = _period(since, until, c.spec().calendar.timezone)
    out = spec_out or c.settings.home_dir / "calibrated-line.yaml"
    _calibrate(c, out, start, end, backtest, replications, seed, as_json)


def _period(since: str | None, until: str | None, zone: str) -> tuple[Any, Any]:
    """The record's period as aware datetimes at the centre (None: open at that end)."""
    start = _day_start(since, "--since", zone)
    end = _day_start(until, "--until", zone, after=True)
    if start is not None and end is not None and end <= start:
        raise typer.BadParameter("--until is before --since", param_hint="--until")
    return start, end


def _calibrate(
    c: Centre,
    out: Path,
    start: Any,
    end: Any,
    backtest: bool,
    replications: int,
    seed: int,
    as_json: bool,
) -> None:
    """Write the fitted spec to ``out``; backtest it when asked; print what was done."""

    from line.spec import load_spec
    from sim.backtest import backtest_command
    from sim.calibrate import calibrate_command

    engine = c.ready_engine()
    text = calibrate_command(engine, c.spec(), start, end, out)
    result: dict[str, Any] = {"spec": str(out)}
    if backtest:
        end = end or utc_now()
        start = start or end - timedelta(days=7)
        result["backtest"] = backtest_command(
            engine, load_spec(out), start, end, replications=replications, seed=seed
        )
    if as_json:
        echo_json(result)
        return
    typer.echo(text)
    if backtest:
        total = result["backtest"]["total"]
        simulated = total["simulated"]
        typer.echo(
            f"backtest {start:%Y-%m-%d}..{end:%Y-%m-%d}: recorded {total['recorded']} good "
            f"cards, simulated {simulated['mean']:.0f} (95 % {simulated['low']:.0f}-"
            f"{simulated['high']:.0f}); error {100 * total['relative_error']:+.1f} %: "
            + ("agrees" if total["agrees"] else "DOES NOT AGREE: check the spec before planning")
        )


def _day_start(text: str | None, option: str, zone: str, *, after: bool = False) -> Any:
    """``YYYY-MM-DD`` at the centre as an aware datetime (its midnight; ``after``: the next)."""
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    if text is None:
        return None
    day = parse_date(text, option)
    if after:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))
