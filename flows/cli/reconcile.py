"""``cardline reconcile``: per process and day, where every card that came in went, and
per chip lot where every chip went (docs/reconcile.md); a table on the terminal, the JSON
``cardline.reconcile/1``, or a PDF with the operator's and the reviewer's sign-off boxes.
Exit 1 when a day or a lot does not reconcile (after the whole output).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.context import cli_context, echo_json, parse_date, writable_path


def _period(day: str | None, first: str | None, last: str | None, today: date) -> tuple[date, date]:
    """The days asked for: ``--day``, or ``--from`` with ``--to``, or today at the centre."""
    from line.reconcile import days_between

    if day is not None and (first is not None or last is not None):
        raise typer.BadParameter("give --day, or --from and --to, not both", param_hint="--day")
    if (first is None) != (last is None):
        missing = "--to" if last is None else "--from"
        raise typer.BadParameter("--from and --to go together", param_hint=missing)
    if first is not None and last is not None:
        start, end = parse_date(first, "--from"), parse_date(last, "--to")
    else:
        start = end = today if day is None else parse_date(day, "--day")
    try:
        days_between(start, end)
    except ValueError as exc:
        hint = "--day" if first is None else "--to"
        raise typer.BadParameter(str(exc), param_hint=hint) from None
    return start, end


def reconcile(
    ctx: typer.Context,
    day: Annotated[
        str | None, typer.Option("--day", help="The centre's day YYYY-MM-DD (default: today).")
    ] = None,
    first: Annotated[
        str | None, typer.Option("--from", help="First day YYYY-MM-DD of a range (with --to).")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Last day YYYY-MM-DD of the range.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print it as JSON (cardline.reconcile/1).")
    ] = False,
    pdf: Annotated[
        Path | None, typer.Option("--pdf", help="Also write it as a PDF with sign-off boxes.")
    ] = None,
) -> None:
    """Reconcile each process (print, chip-encode, qc, dispatch, delivery) per day, and
    each chip lot: opening WIP + received = good + spoiled + samples + returned + closing WIP."""
    from zoneinfo import ZoneInfo

    from flows.reconcile import as_json as to_json
    from flows.reconcile import gather, terminal_lines
    from line.db import session_scope

    centre = cli_context(ctx)
    start, end = _period(day, first, last, centre.today())
    if pdf is not None:
        writable_path(pdf, "--pdf")
    zone = ZoneInfo(centre.spec().calendar.timezone)
    with session_scope(centre.ready_engine()) as session:
        report = gather(
            session=session, centre=centre.settings.centre, zone=zone, first=start, last=end,
            at=centre.clock(),
        )  # fmt: skip
    if pdf is not None:
        from flows.reconcile_pdf import render_reconciliation

        render_reconciliation(out=pdf, report=report)
    if as_json:
        echo_json(to_json(report))
    else:
        for line in terminal_lines(report):
            typer.echo(line)
        if pdf is not None:
            typer.echo(f"reconcile: PDF written to {pdf}")
    if not report.reconciles:
        raise typer.Exit(1)
