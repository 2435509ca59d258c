"""``cardline approve`` and ``cardline approvals``: the second person of maker-checker.

A stock adjustment (``cardline stock adjust``) and a machine put back in service
(``cardline machine in``) run a flow of :mod:`flows.approvals` in the maker's process,
which waits for a second person (:func:`wait_for_approval`). ``cardline approve RUN_ID``
answers from another terminal as the OS user who runs it (no option names the approver:
the name in the record is the user who ran the command); ``cardline approvals`` lists
what waits. Neither imports Prefect until it has checked what it can in the database.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from flows.cli.context import cli_context, echo_json
from flows.errors import FlowsError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from line.approvals import Change, Decision
    from line.settings import Settings

DEFAULT_TIMEOUT = 1800
"""Seconds a change waits for its second person (``flows.changes.DEFAULT_TIMEOUT_SECONDS``,
which the command line does not import until it runs a flow)."""

ANSWER_WAIT_SECONDS = 120
"""How long ``cardline approve`` waits for the maker's run to record the decision (the run
looks every ``flows.approvals.POLL_SECONDS``)."""

TIMEOUT_OPTION = typer.Option(
    "--timeout",
    min=1,
    max=7 * 24 * 3600,
    help="Seconds to wait for a second person's approval; then nothing changes.",
)


def wait_for_approval(ctx: typer.Context, change: Change, timeout: int) -> None:
    """Check ``change`` can be made, then run its flow here: it says (one line) that the
    change waits for a second person and how to approve it, and returns when they decide
    or ``timeout`` passes. Prints what was done; ``NotApproved`` (exit 1) if nothing was."""
    from flows.changes import check_change
    from line.approvals import NotApproved
    from line.db import session_scope
    from line.operators import os_user

    c = cli_context(ctx)
    with session_scope(c.ready_engine()) as session:
        check_change(session, change)  # one clear line before Prefect starts
    # The flow opens its own engine, and line.db.make_engine opens and closes the SQLite
    # files (to make them owner-only): a close drops every POSIX lock this process holds on
    # them, those of this engine's pooled connection too. With that connection closed first
    # there are none to drop (writes seen lost otherwise while an approver's process polled).
    c.engine().dispose()
    from flows.prefect_env import prepare_prefect

    prepare_prefect(c.settings, quiet=True)
    from flows import approvals
    from flows.changes import outcome_line

    fields = change.fields
    if change.kind == "stock.adjust":
        result = approvals.stock_adjustment(
            lot=str(fields["lot"]), quantity=int(fields["quantity"]),
            reason=str(fields["reason"]), item=str(fields["item"]), maker=os_user(),
            timeout_seconds=timeout,
        )  # fmt: skip
    else:
        result = approvals.machine_in(
            name=str(fields["name"]), note=str(fields["note"]), maker=os_user(),
            timeout_seconds=timeout,
        )  # fmt: skip
    if result["status"] != "approved":
        raise NotApproved(outcome_line(result))
    typer.echo(outcome_line(result))


def approve(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The flow run id the maker's command printed.")],
    refuse: Annotated[bool, typer.Option("--refuse", help="Refuse the change instead.")] = False,
    note: Annotated[str, typer.Option(help="Why, in a line (kept in the audit record).")] = "",
) -> None:
    """Approve (or --refuse) a change that waits for a second person, as the OS user running
    this command. The maker cannot approve their own change; once operators are enrolled,
    only a supervisor can."""
    from line.approvals import NotApproved, open_request, refusal
    from line.db import session_scope
    from line.operators import os_user

    try:
        run = uuid.UUID(run_id)
    except ValueError:
        raise typer.BadParameter("is not a flow run id (a UUID)", param_hint="RUN_ID") from None
    if len(note) > 512:
        raise typer.BadParameter("at most 512 characters", param_hint="--note")
    c = cli_context(ctx)
    engine = c.ready_engine()
    me = os_user()
    with session_scope(engine) as session:
        asked = open_request(session=session, run_id=str(run))
        why = None if refuse else refusal(session=session, maker=asked.maker, approver=me)
    if why is not None:
        raise NotApproved(f"{why}; {asked.change.summary} still waits (run {run})")
    _resume(c.settings, run, {"approver": me, "approve": not refuse, "note": note})
    decision = _answer(engine, str(run))
    if decision is None:
        typer.echo(
            f"answer sent to run {run}; it has not recorded the decision yet (the maker's "
            "command says it; cardline approvals no longer lists the change once it has)"
        )
        return
    if refuse or decision.approved:
        typer.echo(f"{asked.change.summary}: {decision.status} by {me}")
        return
    raise NotApproved(f"{asked.change.summary}: not made: {decision.why}")


def _resume(settings: Settings, run: uuid.UUID, answer: dict[str, object]) -> None:
    """Fill in the paused run's form (as the UI does); one clear line if it cannot be."""
    from flows.prefect_env import prepare_prefect

    prepare_prefect(settings, quiet=True)
    from prefect.exceptions import FlowPauseTimeout, NotPausedError
    from prefect.flow_runs import resume_flow_run

    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                resume_flow_run(run, run_input=answer)
                break
            except RuntimeError as exc:
                # Prefect sets the run Paused a moment before it saves the form's schema;
                # an answer in between is rejected with this reason: ask again shortly.
                if "schema not found" not in str(exc) or time.monotonic() > deadline:
                    raise FlowsError(f"run {run} cannot be answered: {exc}") from None
                time.sleep(0.5)
    except NotPausedError:
        raise FlowsError(
            f"run {run} is not paused for an approval (its process has stopped, or it was "
            "started against another Prefect server: set PREFECT_API_URL as the maker did)"
        ) from None
    except FlowPauseTimeout:
        raise FlowsError(f"run {run} can no longer be approved: its wait has ended") from None


def _answer(engine: Engine, run_id: str) -> Decision | None:
    """The decision the maker's run records, once it has (None after ANSWER_WAIT_SECONDS)."""
    from line.approvals import decision_of
    from line.db import session_scope

    deadline = time.monotonic() + ANSWER_WAIT_SECONDS
    while True:
        with session_scope(engine) as session:
            found = decision_of(session=session, run_id=run_id)
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(1)


def approvals(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON.")] = False,
) -> None:
    """The changes waiting for a second person's approval, oldest first."""
    from line.approvals import waiting
    from line.db import session_scope

    with session_scope(cli_context(ctx).ready_engine()) as session:
        found = waiting(session=session)
    if as_json:
        echo_json(
            [
                {
                    "run_id": r.run_id,
                    "maker": r.maker,
                    "at": r.at,
                    "change": r.change.kind,
                    "summary": r.change.summary,
                }  # fmt: skip
                for r in found
            ]
        )
        return
    if not found:
        typer.echo("no change waits for approval")
    for r in found:
        typer.echo(
            f"{r.run_id}  {r.at:%Y-%m-%d %H:%M} UTC  by {r.maker}: {r.change.summary} "
            f"(cardline approve {r.run_id} [--refuse])"
        )
