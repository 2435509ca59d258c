"""``cardline purge``: remove the personal data of cards delivered long enough ago.

The retention is the line spec's ``retention_days`` (``--delivered-before DATE`` gives an
explicit cut-off); what goes and what stays is ``line.purge``'s docstring.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli.context import cli_context, echo_json, parse_date


def purge_cmd(
    ctx: typer.Context,
    delivered_before: Annotated[
        str | None,
        typer.Option(
            "--delivered-before",
            metavar="DATE",
            help="Purge cards delivered before this day (YYYY-MM-DD, the centre's time) "
            "instead of the spec's retention_days ago.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be purged; change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Remove citizens' personal data (names, addresses, full ID, photo, faces, chip
    read-back) of cards delivered before the cut-off; the audit record stays. A returned
    or held card is not purged."""
    from flows.purging import describe, run_purge

    day = None if delivered_before is None else parse_date(delivered_before, "--delivered-before")
    c = cli_context(ctx)
    summary = run_purge(
        engine=c.ready_engine(),
        settings=c.settings,
        spec=c.spec(),
        now=c.clock(),
        actor=f"cli@{c.settings.centre}",
        delivered_before=day,
        dry_run=dry_run,
    )
    if as_json:
        echo_json(summary)
        return
    for line in describe(summary):
        typer.echo(line)
