"""``cardline dispatch`` and ``cardline deliver``: passed cards grouped by police
station into batches with manifests, and a station's receipt of a batch.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli.context import actor, cli_context, echo_json
from line.types import MAX_DB_INTEGER, utc_now


def dispatch_cards(
    ctx: typer.Context,
    max_cards: Annotated[
        int, typer.Option(min=1, max=MAX_DB_INTEGER, help="Cards per batch at most.")
    ] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print the batches as JSON.")] = False,
) -> None:
    """Group passed cards into batches, each with a manifest PDF: one batch per police
    station per day (a full batch of --max-cards goes at any time; a station's late few
    wait for its next day's batch)."""
    from zoneinfo import ZoneInfo

    from flows.dispatching import dispatch_batch, plan_dispatch

    c = cli_context(ctx)
    engine = c.ready_engine()
    spec = c.spec()
    plan = plan_dispatch(engine=engine, max_cards=max_cards, zone=ZoneInfo(spec.calendar.timezone))
    made = [
        dispatch_batch(
            engine=engine,
            settings=c.settings,
            destination=destination,
            serials=serials,
            rework_limit=spec.rework_limit,
            actor=actor(ctx),
        )  # fmt: skip
        for destination, serials in plan.batches
    ]
    if as_json:
        echo_json(made)
        return
    if not made and not plan.held:
        typer.echo("dispatch: no passed cards wait for dispatch")
    for batch in made:
        typer.echo(
            f"{batch['code']}: {batch['cards']} cards for {batch['destination']}, "
            f"manifest {batch['manifest']}"
        )
    if plan.held:
        typer.echo(
            f"dispatch: {plan.held_cards} cards for {len(plan.held)} stations wait for "
            "tomorrow's batch (one batch per station per day; a full batch of --max-cards "
            "goes at any time)"
        )


def deliver_batch(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Dispatch batch code (from its manifest's QR).")],
) -> None:
    """The police station confirms it received a batch: its cards are delivered."""
    from line.db import session_scope
    from line.dispatch import deliver

    c = cli_context(ctx)
    with session_scope(c.ready_engine()) as session:
        batch = deliver(session=session, code=code, actor=actor(ctx), at=utc_now())
        typer.echo(f"{batch.code}: delivered ({batch.cards} cards) to {batch.destination}")
