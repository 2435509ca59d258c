"""Flows that wait for a second person: a stock adjustment and a machine put back in service.

Each flow checks the change can be made, records the maker's request
(``line.approvals.request``, subject: the flow run's id), says how to approve it, and
pauses with ``pause_flow_run(wait_for_input=Approval)``: the run's page in the Prefect UI
shows the :class:`Approval` form, and ``cardline approve RUN_ID`` fills it in from another
terminal with the OS user who runs it. On resume ``line.approvals.decide`` refuses an
approval by the maker (or, once operators are enrolled, by anyone not a supervisor), and
only an approval it accepts makes the change, in the transaction of its ``approval.given``
row. Nobody deciding within ``timeout_seconds`` changes nothing (``approval.expired``).

The pause blocks the process that runs the flow (no ``reschedule``): the command line
runs these flows in its own process, so the maker's command waits for the decision; a
worker running the deployments waits the same way.
"""

from __future__ import annotations

import sys

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from flows.centre import flow_entry, open_centre
from flows.changes import (
    DEFAULT_TIMEOUT_SECONDS,
    adjustment,
    check_change,
    machine_back,
    make_change,
)
from flows.errors import FlowsError
from flows.names import run_name
from line.approvals import Change, decide, expire, request
from line.db import session_scope
from line.types import utc_now

POLL_SECONDS = 2
"""How often the paused run asks the server whether it was resumed (Prefect's default: 10)."""


class Approval(RunInput):
    """The form a second person fills in on the paused run's page."""

    approver: str = Field(
        min_length=1,
        max_length=64,
        title="Your name",
        description="Your operating-system user name at the centre (cardline approve fills "
        "it in from the user running it; here it is only what you type).",
    )
    approve: bool = Field(title="Approve", description="Yes: make the change. No: refuse it.")
    note: str = Field(default="", max_length=512, title="Note", description="Why, in a line.")


@flow(name="stock-adjustment", flow_run_name=run_name("stock-adjustment"))
@flow_entry
def stock_adjustment(
    lot: str,
    quantity: int,
    reason: str,
    maker: str,
    item: str = "chip",
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
) -> dict[str, str]:
    """Correct a lot's count after a stock take, once a second person approves."""
    change = adjustment(lot=lot, item=item, quantity=quantity, reason=reason)
    return _with_approval(change, maker, timeout_seconds)


@flow(name="machine-in", flow_run_name=run_name("machine-in"))
@flow_entry
def machine_in(
    name: str, maker: str, note: str = "", timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
) -> dict[str, str]:
    """Put a repaired machine back in service, once a second person approves."""
    return _with_approval(machine_back(name=name, note=note), maker, timeout_seconds)


def _with_approval(change: Change, maker: str, timeout_seconds: int) -> dict[str, str]:
    """Request, announce, pause for the :class:`Approval`, decide (see the module)."""
    if timeout_seconds < 1:
        raise FlowsError(f"timeout_seconds: {timeout_seconds} must be at least 1")
    engine = open_centre().ready_engine()
    run_id = _run_id()
    with session_scope(engine) as session:
        check_change(session, change)
        request(session=session, run_id=run_id, maker=maker, change=change, at=utc_now())
    _announce(
        f"{change.summary}: waits for a second person's approval (flow run {run_id}): "
        f"approve or refuse on the run's page in the Prefect UI, or run "
        f"'cardline approve {run_id} [--refuse] [--note TEXT]' as another user "
        f"(waiting up to {timeout_seconds} s)"
    )
    try:
        answer = pause_flow_run(
            wait_for_input=Approval.with_initial_data(description=_form_text(change, maker)),
            timeout=timeout_seconds,
            poll_interval=POLL_SECONDS,
        )
    except FlowPauseTimeout:
        with session_scope(engine) as session:
            ended = expire(
                session=session, run_id=run_id, at=utc_now(), waited_seconds=timeout_seconds
            )
    else:
        with session_scope(engine) as session:
            ended = decide(
                session=session, run_id=run_id, approver=answer.approver,
                approve=answer.approve, note=answer.note, at=utc_now(), apply=make_change,
            )  # fmt: skip
    get_run_logger().info("%s: %s %s", change.summary, ended.status, ended.why or ended.done)
    return {"summary": change.summary, **ended.as_dict()}


def _form_text(change: Change, maker: str) -> str:
    """What the form says above its fields (Markdown): the change and who asked."""
    return (
        f"**{change.summary}**, asked by **{maker}**. Approve only if you are not {maker}: "
        "the maker's own approval is refused (and, once operators are enrolled, anyone's "
        "who is not a supervisor). A refusal changes nothing."
    )


def _run_id() -> str:
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise FlowsError("an approval waits in a flow run: run it as a flow")
    return str(context.flow_run.id)


def _announce(text: str) -> None:
    """The line that tells the maker what now: on stdout (the command line's or the
    worker's) and in the run's logs (the UI)."""
    get_run_logger().info("%s", text)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
