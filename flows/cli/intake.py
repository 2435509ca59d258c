"""``cardline intake``: approved applications in from a file, bad rows to a reject report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.context import cli_context, echo_json, writable_path
from line.types import utc_now


def intake(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or JSON Lines file of approved applications.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the name).")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Where to write the reject report (CSV).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=50_000, help="Rows per transaction.")
    ] = 10_000,
) -> None:
    """Import approved applications; bad rows go to a reject report, the rest go in."""
    from line.intake import IntakeFile, import_file

    if fmt not in (None, "csv", "jsonl"):
        raise typer.BadParameter("must be csv or jsonl", param_hint="--format")
    if rejects is not None:
        writable_path(rejects, "--rejects")
    c = cli_context(ctx)
    # Refuse an unreadable file before touching the database.
    IntakeFile(file, fmt).close()  # type: ignore[arg-type]
    engine = c.ready_engine()
    summary = import_file(
        engine=engine,
        path=file,
        today=c.today(),
        clock=utc_now,
        rejects_dir=c.settings.rejects_dir,
        reject_report=rejects,
        fmt=fmt,  # type: ignore[arg-type]
        batch_size=batch_size,
    )
    if as_json:
        echo_json(summary.as_dict())
        return
    typer.echo(
        f"{Path(summary.source).name}: {summary.rows} rows: {summary.accepted} accepted, "
        f"{summary.rejected} rejected, {summary.duplicates} duplicates"
    )
    typer.echo(f"reject report: {summary.reject_report}")
