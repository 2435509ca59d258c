"""The ``cardline`` command line: the typer app, its commands gathered, and the entry point.

Each noun's commands live in their own module of this package; this one composes them
into one app, reads the settings and configures logging once per invocation (the app's
callback), and turns whatever a command raises into one line on stderr and an exit code
(:mod:`flows.cli.errors`). Prefect is not imported on this path (it costs a second per
start): the commands that run flows import it when they need it.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.main import get_command

from flows.cli import (
    approvals,
    calibrate,
    cards,
    chip,
    db,
    demo,
    dispatch,
    intake,
    keys,
    line_run,
    machines,
    operators,
    plan,
    purge,
    reconcile,
    simulate,
    spec,
    stations,
    status,
    stock,
)
from flows.cli.errors import error_line, exit_code, not_utf8
from flows.cli.roles import guard
from line.settings import Settings

app = typer.Typer(
    name="cardline",
    help="Run and plan the production line of chip ID cards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(machines.app, name="machine")
app.add_typer(stock.app, name="stock")
app.add_typer(db.app, name="db")
app.add_typer(cards.app, name="card")
app.add_typer(spec.app, name="spec")
app.add_typer(keys.app, name="keys")
app.add_typer(chip.app, name="chip")
app.add_typer(stations.app, name="station")
app.add_typer(operators.app, name="operator")
app.command()(intake.intake)
app.command()(status.status)
app.command("run")(line_run.run_line)
app.command("dispatch")(dispatch.dispatch_cards)
app.command("deliver")(dispatch.deliver_batch)
app.command("check")(status.check)
app.command()(reconcile.reconcile)
app.command()(demo.demo)
app.command()(simulate.simulate)
app.command()(calibrate.calibrate)
app.command("plan")(plan.plan_cmd)
app.command("purge")(purge.purge_cmd)
app.command("approve")(approvals.approve)
app.command("approvals")(approvals.approvals)


@app.callback()
def _main(
    ctx: typer.Context,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log debug lines on the console.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Log only warnings on the console.")
    ] = False,
) -> None:
    """Open the centre for this invocation: the settings read, the home made, logging
    configured at the console level the options ask for (the full log is in the file)."""
    from flows.centre import check_log_level, open_centre

    settings = Settings()
    settings.ensure_home()
    level = "DEBUG" if verbose else "WARNING" if quiet else settings.log_level
    level = check_log_level(level, settings)
    if ctx.invoked_subcommand == "demo" and not verbose:
        level = "WARNING"  # the demo prints its own story; the full log is in the file
    ctx.obj = open_centre(settings, console_level=level)


def command() -> Any:
    """The app as the click command it runs as, every command role-checked first
    (:func:`flows.cli.roles.guard`: the table of who may run what)."""
    return guard(get_command(app))


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; errors become one line on stderr
    (:func:`flows.cli.errors.exit_code` says which code for what)."""
    args = sys.argv[1:] if argv is None else list(argv)
    bad = not_utf8(args)
    if bad is not None:
        return error_line(f"argument {bad} is not UTF-8 text", 2)
    try:
        result = command().main(args=args, prog_name="cardline", standalone_mode=False)
    except (KeyboardInterrupt, Exception) as exc:
        return exit_code(exc)
    return result if isinstance(result, int) else 0


def main() -> None:
    """The installed ``cardline`` executable."""
    sys.exit(run())
