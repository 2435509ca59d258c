"""``cardline status`` and ``cardline check``: the line's state at a glance, and the
reconciliation of the stock ledger with the cards.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli.context import cli_context, echo_json
from line.types import ApplicationState, utc_now

NOT_ENROLLED = (
    "operators: none enrolled: commands are not role-checked "
    "(cardline operator add NAME --role supervisor enrols the first)"
)


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Applications and cards per state."""
    from inventory.cover import cover
    from line.db import session_scope
    from line.kpi import status_counts
    from line.machines import machines
    from line.operators import enrolled

    engine = cli_context(ctx).ready_engine()
    with session_scope(engine) as session:
        counts = status_counts(session=session)
        stock = cover(
            session=session, now=utc_now(), backlog=counts.applications[ApplicationState.APPROVED]
        )
        out = [m for m in machines(session=session) if not m.in_service]
        is_enrolled = enrolled(session=session)
    if as_json:
        echo_json(
            {
                **counts.as_dict(),
                "stock": [entry.as_dict() for entry in stock],
                "machines_out_of_service": [
                    {"name": m.name, "stage": m.stage, "reason": m.reason} for m in out
                ],
                "operators_enrolled": is_enrolled,
            }
        )
        return
    apps = list(counts.applications.items())
    cards = list(counts.cards.items())
    typer.echo(f"{'applications':<24}{'cards':<24}")
    for index in range(max(len(apps), len(cards))):
        left = f"  {apps[index][0]:<13}{apps[index][1]:>8}" if index < len(apps) else ""
        right = f"  {cards[index][0]:<13}{cards[index][1]:>8}" if index < len(cards) else ""
        typer.echo(f"{left:<24}{right}")
    typer.echo(
        f"  {'total':<13}{counts.total_applications:>8}    {'total':<13}{counts.total_cards:>8}"
    )
    for entry in stock:
        days = "-" if entry.days_of_cover is None else f"{entry.days_of_cover:.1f}"
        typer.echo(
            f"stock {entry.item}: {entry.available} available, {entry.reserved} reserved, "
            f"days of cover {days}: {entry.state} ({entry.reason})"
        )
    for m in out:
        typer.echo(
            f"machine {m.name} ({m.stage}) OUT OF SERVICE since {m.changed_at:%Y-%m-%d %H:%M} "
            f"UTC: {m.reason or '-'} (cardline machine in {m.name})"
        )
    if not is_enrolled:
        typer.echo(NOT_ENROLLED)


def check(ctx: typer.Context) -> None:
    """Reconcile stock and cards, every process on every day, and verify the record's hash
    chains; exit non-zero naming every mismatch and the first broken row of each chain."""
    from zoneinfo import ZoneInfo

    from inventory.check import reconcile
    from line.chain import verify_engine
    from line.db import session_scope
    from line.reconcile import history_breaks

    centre = cli_context(ctx)
    engine = centre.ready_engine()
    with session_scope(engine) as session:
        problems = reconcile(session=session)
        # and every process on every day (line.reconcile): one line per break
        problems += history_breaks(session=session, zone=ZoneInfo(centre.spec().calendar.timezone))
    chains = verify_engine(engine)
    for problem in problems:
        typer.echo(f"mismatch: {problem}", err=True)
    for broken in chains.problems:
        typer.echo(f"chain broken: {broken}", err=True)
    if problems or chains.problems:
        raise typer.Exit(1)
    typer.echo("check: stock ledger and cards reconcile")
    ends = ", ".join(
        f"{table} {rows} rows (last {chains.last_hashes[table][:16]})"
        for table, rows in chains.rows.items()
    )
    typer.echo(f"check: the hash chains hold: {ends}")
