"""``cardline machine``: the line's machines, taken out of service and put back."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli.approvals import DEFAULT_TIMEOUT, TIMEOUT_OPTION, wait_for_approval
from flows.cli.context import actor, cli_context, echo_json
from line.errors import CardlineError
from line.types import utc_now

app = typer.Typer(help="The line's machines: in and out of service.", no_args_is_help=True)


@app.command("list")
def machine_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the machines as JSON.")] = False,
) -> None:
    """The machines runs have driven, which are out of service (and why), and which run
    drives each one now (its lease)."""
    from dataclasses import asdict

    from line.db import session_scope
    from line.leases import leases
    from line.machines import machines

    now = utc_now()
    with session_scope(cli_context(ctx).ready_engine()) as session:
        found = machines(session=session)
        held = {name: s for name, s in leases(session=session, at=now).items() if s.held}
    if as_json:
        echo_json(
            [
                asdict(m)
                | {
                    "lease": {
                        "holder": held[m.name].holder,
                        "since": held[m.name].acquired_at,
                        "renewed_at": held[m.name].renewed_at,
                        "expires_at": held[m.name].expires_at,
                    }
                    if m.name in held
                    else None
                }
                for m in found
            ]
        )
        return
    if not found:
        typer.echo("no machines yet (a run registers the machines it drives)")
    for m in found:
        state = "in service" if m.in_service else "OUT OF SERVICE"
        typer.echo(
            f"{m.name:<14} {m.stage:<12} {state:<15} since {m.changed_at:%Y-%m-%d %H:%M} UTC "
            f"by {m.changed_by}" + (f": {m.reason}" if m.reason else "")
        )
        if (lease := held.get(m.name)) is not None:
            typer.echo(
                f"{'':<14} driven now by {lease.holder} since {lease.acquired_at:%Y-%m-%d %H:%M:%S}"
                f" UTC (lease until {lease.expires_at:%H:%M:%S} UTC unless renewed)"
            )


@app.command("out")
def machine_out(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Machine name, e.g. print-01.")],
    reason: Annotated[str, typer.Option(help="Why it is taken out.")],
    stage: Annotated[
        str,
        typer.Option(
            help="Its stage, for a new machine whose name does not say it (print-02, "
            "encode-02 and qc-02 do)."
        ),
    ] = "",
) -> None:
    """Take a machine out of service: no run drives it until it is put back. A machine no
    run has named yet is registered, at the stage its name says (or --stage)."""
    from line.db import session_scope
    from line.machines import check_name, stage_for, take_out
    from line.types import LINE_ORDER, Stage

    check_name(name)
    if not reason.strip():
        raise typer.BadParameter("say why the machine is taken out", param_hint="--reason")
    stages = ", ".join(s.value for s in LINE_ORDER)
    if stage and stage not in {s.value for s in LINE_ORDER}:
        raise typer.BadParameter(f"must be one of {stages}", param_hint="--stage")
    c = cli_context(ctx)
    with session_scope(c.ready_engine()) as session:
        where = Stage(stage) if stage else stage_for(session=session, name=name)
        if where is None:
            raise CardlineError(
                f"machine {name!r} is new and its name does not say its stage: give --stage "
                f"(one of {stages})"
            )
        take_out(
            session=session, name=name, stage=where, reason=reason,
            actor=actor(ctx), at=utc_now(),
        )  # fmt: skip
    typer.echo(f"{name}: out of service ({reason})")


@app.command("in")
def machine_in(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Machine name, e.g. print-01.")],
    note: Annotated[str, typer.Option(help="What was done to it.")] = "",
    timeout: Annotated[int, TIMEOUT_OPTION] = DEFAULT_TIMEOUT,
) -> None:
    """Put a repaired machine back in service, once a second person approves (the command
    waits for them: cardline approve RUN_ID)."""
    from flows.changes import machine_back
    from line.machines import check_name

    check_name(name)
    wait_for_approval(ctx, machine_back(name=name, note=note), timeout)
