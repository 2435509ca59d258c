"""The production flow: approved applications through print, chip-encode and QC, as Prefect
tasks over batches (Prefect's per-task overhead is milliseconds: a task never takes one card).

Tasks are thin wrappers over the line controller's batch stages. Like ``cardline run``, the
stations work at once: the printer task of the next batch runs (in the task runner's
thread) while encoder and QC work on the batch printed before it.

Machines:

- a run takes a lease on its machines in the database (``line.leases``, the same lease
  ``cardline run --without-prefect`` takes) before it starts a card, renews it while it
  drives, checks it before each batch and releases it at the end: two runs never drive the
  same machine at once, whichever way they were started. A second run fails at once naming
  the holder (``<kind>@<centre>/<host>:<pid>``, the actor its stage events carry), or waits
  ``machine_wait_seconds``. A run whose lease was taken (it expired) stops before its next
  batch with ``LeaseLost``;
- each physical machine is also one slot of a Prefect global concurrency limit
  (``machine-<centre>-<name>``, limit 1), taken for the whole run, so that the UI's
  Concurrency page shows which machines are busy. (Taking them per task cost seconds per
  batch: a just-released slot is not free at once, and a contended limit is polled with
  the server's Retry-After.) A worker killed outright stops renewing its slots' lease and
  they are free after ``MACHINE_LEASE_SECONDS``;
- device faults are retried by the task's retry policy (``DEVICE_RETRIES``); a machine that
  still fails is taken out of service (``cardline machine list``), reported (an event
  ``cardline.machine.out`` and a ``machine-out`` artifact) and the run fails with the reason.
  Its cards stay at their stage; a later run takes them over. A run never drives a machine
  that is out of service.

The flow records a table artifact of the cards per state and a markdown summary of the run.
Prefect is imported here only (and in the modules of its tasks and slots, ``flows.batch_tasks``
and ``flows.slots``), never on the CLI's other paths.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event
from prefect.futures import PrefectFuture
from sqlalchemy.engine import Engine

from flows.artifacts import artifact_key
from flows.batch_tasks import (
    DEVICE_RETRIES,
    RETRY_DELAYS,
    Batch,
    Chip,
    Face,
    Faces,
    MachineFaulted,
    MachineGaveUp,
    PrintWork,
    encode_batch,
    print_batch,
    qc_batch,
    resume_abandoned,
    start_batch,
)
from flows.centre import flow_entry, open_centre
from flows.names import run_name
from flows.slots import MACHINE_LEASE_SECONDS, Station, ensure_machine_limits, limit_name, machine
from flows.wiring import Line, build_line
from line.controller import RunSummary
from line.db import session_scope
from line.errors import CardlineError, DeviceError
from line.kpi import status_counts
from line.leases import LeaseLost, MachinesBusy, hold, worker_identity
from line.machines import require_in_service, take_out
from line.pipeline import pipelined
from line.settings import Settings
from line.types import utc_now

__all__ = [  # what other modules and tests import from here
    "DEVICE_RETRIES", "MACHINE_LEASE_SECONDS", "RETRY_DELAYS", "Batch", "Chip", "Face", "Faces",
    "MachineFaulted", "MachineGaveUp", "PrintWork", "Station", "build_line",
    "ensure_machine_limits", "limit_name", "production",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class InPrint:
    """A batch at the printer: the print task's future and the work it retries on."""

    future: PrefectFuture[Batch[Face]]
    work: PrintWork


def _batches(
    station: Station,
    summary: RunSummary,
    batch_size: int,
    limit: int | None,
    check: Callable[[], None] = lambda: None,
) -> None:
    """The pipelined loop (``line.pipeline``, as the controller's ``run``): batch n+1
    prints while batch n is encoded and checked. ``check`` runs before each batch (the
    machines' lease: it raises once lost). The tasks return what they did; the flow folds
    it into ``summary`` here, in its own thread."""

    numbers = itertools.count(1)

    def start(size: int) -> InPrint | None:
        cards = start_batch(station, size, next(numbers))
        summary.add(cards.summary)
        if not cards:
            return None
        work = PrintWork(cards.items, cards.number)
        return InPrint(print_batch.submit(station, work), work)

    def printed(in_print: InPrint) -> Batch[Face]:
        faces = in_print.future.result()
        summary.add(faces.summary)
        return faces

    def finish(faces: Batch[Face]) -> None:
        chips = encode_batch(station, faces)
        summary.add(chips.summary)
        summary.add(qc_batch(station, chips))

    def settle(in_print: InPrint) -> None:
        """A stage failed: let the batch at the printer be recorded, and count it."""
        in_print.future.wait()
        summary.add(in_print.work.take_summary())

    pipelined(
        start=start,
        printed=printed,
        finish=finish,
        batch_size=batch_size,
        limit=limit,
        started=lambda: summary.started,
        before_batch=check,
        settle=settle,
    )


def _machine_out(
    line: Line, settings: Settings, engine: Engine, actor: str, fault: CardlineError
) -> MachineGaveUp:
    """The machine behind ``fault``, taken out of service and reported."""
    if isinstance(fault, MachineGaveUp):
        gave_up = fault
    elif isinstance(fault, MachineFaulted):  # no retry left to the task (retries=0)
        gave_up = MachineGaveUp(fault.machine, fault.stage, fault.reason, fault.cards_left)
    else:
        assert isinstance(fault, DeviceError)
        stages = line.devices.machines
        name = fault.device if fault.device in stages else line.devices.encoder.name
        gave_up = MachineGaveUp(name, stages[name], fault.reason_code, 0)
    with session_scope(engine) as session:
        take_out(
            session=session, name=gave_up.machine, stage=gave_up.stage,
            reason=f"{gave_up.reason} (still failing after {DEVICE_RETRIES} retries)",
            actor=actor, at=utc_now(),
        )  # fmt: skip
    emit_event(
        event="cardline.machine.out",
        resource={
            "prefect.resource.id": f"cardline.machine.{settings.centre}.{gave_up.machine}",
            "cardline.machine": gave_up.machine,
            "cardline.centre": settings.centre,
        },
        payload={"stage": gave_up.stage.value, "reason": gave_up.reason},
    )
    create_markdown_artifact(
        key="machine-out",
        markdown=(
            f"# {gave_up.machine} taken out of service\n\n{gave_up.message}\n\n"
            f"After repair: `cardline machine in {gave_up.machine}`"
        ),
        description="A machine that kept failing",
    )
    get_run_logger().error(gave_up.message)
    return gave_up


def _counts(counts: dict[str, int]) -> str:
    """``{"print.jam": 2}`` as ``print.jam 2`` (``none`` when empty)."""
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items())) or "none"


@flow(name="production", flow_run_name=run_name("production", station=True))
@flow_entry
def production(
    batch_size: int = 100,
    limit: int | None = None,
    resume_after_seconds: int = 300,
    machine_wait_seconds: float = 0,
) -> dict[str, Any]:
    """Run approved applications through the line until no work (or no chip) is left.

    ``resume_after_seconds``: a card untouched this long mid-line was abandoned (its
    worker crashed) and this run takes it over. ``machine_wait_seconds``: how long to wait
    for this station's machines while another run holds their lease (0: fail at once,
    naming the run that holds them).
    """
    centre = open_centre()
    settings, engine, spec = centre.settings, centre.ready_engine(), centre.spec()
    line = build_line(settings=settings, spec=spec, engine=engine, clock=centre.clock)
    summary = RunSummary()
    actor = worker_identity("prefect:production", settings.centre)
    gave_up: MachineGaveUp | None = None
    try:
        devices = line.devices.machines
        # The database lease is the interlock (the same as `cardline run --without-prefect`
        # takes); the Prefect slots below show the machines on the UI's Concurrency page.
        with hold(
            engine=engine, machines=devices, holder=actor, clock=utc_now,
            wait=timedelta(seconds=machine_wait_seconds),
        ) as held:  # fmt: skip
            with session_scope(engine) as session:
                require_in_service(session=session, machines=devices, actor=actor, at=utc_now())
            ensure_machine_limits([limit_name(settings.centre, name) for name in devices])
            controller = line.controller(
                engine=engine, spec=spec, actor=actor,
                resume_after=timedelta(seconds=resume_after_seconds),
                device_retries=0,  # the tasks' retry policy retries device faults
            )  # fmt: skip
            station = Station(controller, settings.centre)
            try:
                with machine(station, *devices):  # this run's machines, for the whole run
                    held.check()  # still ours after waiting for the slots
                    summary.add(resume_abandoned(station))
                    _batches(station, summary, batch_size, limit, held.check)
            except (MachineGaveUp, MachineFaulted, DeviceError) as fault:
                gave_up = _machine_out(line, settings, engine, actor, fault)
    except (MachinesBusy, LeaseLost) as lease_error:
        get_run_logger().error(lease_error.message)
        raise
    finally:
        line.close()
    _report(engine, settings, summary, gave_up)
    if gave_up is not None:
        raise gave_up
    return summary.as_dict()


def _report(
    engine: Engine, settings: Settings, summary: RunSummary, gave_up: MachineGaveUp | None
) -> None:
    """The run's artifacts: the centre's cards per state, and what this station's run did
    in words (keys per centre and station, so two centres or workers never share one)."""

    with session_scope(engine) as session:
        counts = status_counts(session=session)
    create_table_artifact(
        key=artifact_key(settings.centre, "cards-per-state"),
        table=[{"state": state, "cards": n} for state, n in counts.cards.items()],
        description="Cards per state after the production run",
    )
    create_markdown_artifact(
        key=artifact_key(settings.centre, settings.station, "production-run"),
        markdown=(
            f"# Production run\n\n{summary.started} cards started in {summary.batches} batches; "
            f"{summary.passed} passed QC; {summary.held} held for a manager "
            f"({_counts(summary.held_for)}); spoiled: {_counts(summary.spoiled)}; "
            f"{summary.waiting_for_chips} waiting for chips."
            + (f"\n\n**Stopped:** {gave_up.message}" if gave_up else "")
        ),
        description="What the production run did",
    )
