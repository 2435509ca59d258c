"""``cardline run``: take approved applications through the line, as the Prefect
production flow or (``--without-prefect``) directly.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from flows.centre import Centre
from flows.cli.context import cli_context, console_quiet, echo_json, not_nan
from line.types import MAX_DB_INTEGER, utc_now


def run_line(
    ctx: typer.Context,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Cards per print batch.")
    ] = 100,
    limit: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_DB_INTEGER, help="Stop after starting this many cards."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    resume_after: Annotated[
        int,
        typer.Option(
            min=0,
            max=366 * 86400,
            help="Seconds a card must lie untouched mid-line before this run takes it over "
            "(another worker may be busy with younger ones).",
        ),
    ] = 300,
    without_prefect: Annotated[
        bool,
        typer.Option(
            "--without-prefect",
            help="Drive the line directly, with no flow run (when Prefect itself is down).",
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            max=7 * 86400,
            metavar="SECONDS",
            help="While another run drives this station's machines, wait this long for them "
            "(0: say which run holds them and exit 1).",
        ),
    ] = 0,
) -> None:
    """Take approved applications through print, chip-encode and QC (rework included).

    Runs the Prefect production flow: against PREFECT_API_URL when it is set, else in
    Prefect's ephemeral mode (no server to start). The run holds a lease on its machines
    (print, encode and QC of CARDLINE_STATION) in the database until it ends. (Long by
    its option declarations.)
    """
    not_nan(wait, "--wait")
    c = cli_context(ctx)
    c.ready_engine()  # a missing schema is one clear line, before Prefect starts
    spec = c.spec()
    if without_prefect:
        summary = _run_directly(c, batch_size, limit, resume_after, wait)
        where = None
    else:
        if not wait:  # a busy or stopped station is one line, before Prefect starts
            _station_free(c)
        from flows.prefect_env import prepare_prefect

        where = prepare_prefect(c.settings, quiet=as_json or console_quiet(ctx))
        from flows.production import production

        summary = production(
            batch_size=batch_size,
            limit=limit,
            resume_after_seconds=resume_after,
            machine_wait_seconds=wait,
        )
    if as_json:
        echo_json(summary)
    else:
        _print_summary(summary, spec.allocation.policy, where)


def _print_summary(summary: Any, policy: str, where: str | None) -> None:
    """The run's summary as the manager reads it: what was made, what stopped it, and
    where the flow run can be seen (``where``: None when no flow ran)."""
    spoiled = ", ".join(f"{k} {v}" for k, v in sorted(summary["spoiled"].items())) or "none"
    faults = ", ".join(f"{k} {v}" for k, v in sorted(summary["device_faults"].items())) or "none"
    typer.echo(
        f"run: {summary['started']} cards started in {summary['batches']} batches; "
        f"{summary['printed']} printed, {summary['encoded']} encoded, "
        f"{summary['passed']} passed QC, {summary['held']} held for a manager"
    )
    typer.echo(f"     spoiled: {spoiled}; device faults: {faults}")
    if summary.get("held_for"):
        held = ", ".join(f"{k} {v}" for k, v in sorted(summary["held_for"].items()))
        typer.echo(
            f"     held for a manager: {held} (cardline card show ID says why; "
            "cardline card release / card cancel decide)"
        )
    for item, missing in sorted(summary["supplies_missing"].items()):
        typer.echo(
            f"     {item}: {missing} unit(s) needed but not in stock (cardline stock status)"
        )
    if summary.get("waiting_for_supplies"):
        items = " and ".join(sorted(summary["supplies_missing"])) or "supplies"
        typer.echo(
            f"     stopped short of {items} (print.supplies_out): "
            f"{summary['waiting_for_supplies']} approved applications wait"
        )
    if summary["waiting_for_chips"]:
        typer.echo(
            f"     stopped short of chips: {summary['waiting_for_chips']} approved applications "
            f"wait for one (policy {policy}; see cardline stock status)"
        )
    if where:
        typer.echo(f"     flow run 'production' recorded in {where}")


def run_actor(c: Centre) -> str:
    """The actor of a direct run: the OS user who started it, at this centre, and the
    process (``alice@HN1/line-a:4242``): who, and which worker, in one name."""
    from line.operators import os_user
    from line.worker import worker_identity

    return worker_identity(os_user(), c.settings.centre)


def _station_free(c: Centre) -> None:
    """Raise ``MachineOutOfService`` or ``MachinesBusy`` if this worker's machines cannot be
    driven now (the flow would find it too, after Prefect's start and with its tracebacks)."""
    from flows.wiring import machine_names
    from line.db import session_scope
    from line.leases import MachinesBusy, leases
    from line.machines import require_in_service

    names = machine_names(c.settings)
    actor = run_actor(c)
    with session_scope(c.ready_engine()) as session:
        now = utc_now()
        require_in_service(session=session, machines=names, actor=actor, at=now)
        statuses = leases(session=session, at=now)
    held = [status for name, status in statuses.items() if name in names and status.held]
    if held:
        raise MachinesBusy(held)


def _run_directly(
    c: Centre, batch_size: int, limit: int | None, resume_after: int, wait: float = 0
) -> Any:
    from line.db import session_scope
    from line.leases import hold
    from line.machines import require_in_service

    engine = c.ready_engine()
    spec = c.spec()
    line = c.build_line()
    actor = run_actor(c)
    machines = line.devices.machines
    try:
        # The machines' lease first (another run may hold them: wait, or say who does),
        # then the manager's word: one may have been taken out while this run waited.
        with hold(
            engine=engine, machines=machines, holder=actor, clock=utc_now,
            wait=timedelta(seconds=wait),
        ) as held:  # fmt: skip
            with session_scope(engine) as session:
                require_in_service(session=session, machines=machines, actor=actor, at=utc_now())
            controller = line.controller(
                engine=engine, spec=spec, actor=actor, resume_after=timedelta(seconds=resume_after)
            )
            summary = controller.run(batch_size=batch_size, limit=limit, before_batch=held.check)
            return summary.as_dict()
    finally:
        line.close()
