"""The production flow's tasks: thin wrappers over the line controller's batch stages
(start, print, chip-encode, QC, resume), each task run named for its batch and its cards.

Device faults are retried by the tasks' retry policy (``DEVICE_RETRIES`` retries, after
``RETRY_DELAYS``); a try that fails says so (``MachineFaulted``: attempt n of m,
retrying), and the last one raises ``MachineGaveUp``, on which the flow takes the machine
out of service. Batches pass between tasks in holders Prefect does not walk card by card.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.errors import FlowsError
from flows.slots import Station
from line.card import CardData
from line.controller import EncodedCard, PrintedCard, RunSummary
from line.types import Stage

DEVICE_RETRIES = 2
RETRY_DELAYS: list[float] = [2.0, 5.0]

Face = PrintedCard
Chip = EncodedCard
Faces = list[Face]
T = TypeVar("T")


class MachineFaulted(FlowsError):
    """A machine failed on one attempt of its task; the task's retry policy tries again."""

    def __init__(
        self, machine: str, stage: Stage, reason: str, cards_left: int, attempt: int
    ) -> None:
        super().__init__(
            f"{machine} ({stage.value}) failed on attempt {attempt} of {DEVICE_RETRIES + 1}: "
            f"{reason}; {cards_left} card(s) not done yet; retrying",
            machine=machine,
            stage=stage.value,
        )
        self.machine = machine
        self.stage = stage
        self.reason = reason
        self.cards_left = cards_left


class MachineGaveUp(FlowsError):
    """A machine kept failing through every retry of its task."""

    def __init__(self, machine: str, stage: Stage, reason: str, cards_left: int) -> None:
        super().__init__(
            f"{machine} ({stage.value}) kept failing after {DEVICE_RETRIES} retries: {reason}; "
            f"{cards_left} card(s) left at {stage.value} for a later run",
            machine=machine,
            stage=stage.value,
        )
        self.machine = machine
        self.stage = stage
        self.reason = reason


class Batch(Generic[T]):
    """Cards handed from task to task, and what the task that made them did (its summary,
    for the flow to fold). A plain class, not a list or a dataclass: Prefect walks the
    collections and dataclasses of task arguments and results (for futures), card by card
    and field by field; this it hands on unopened."""

    __slots__ = ("items", "number", "summary")

    def __init__(self, items: list[T], summary: RunSummary, number: int = 0) -> None:
        self.items = items
        self.summary = summary
        self.number = number  # the batch's number in its run (names its task runs)

    def __len__(self) -> int:
        return len(self.items)


class PrintWork:
    """A batch at the printer: what is left to print, and what the tries so far printed and
    recorded, survive the task's retries."""

    __slots__ = ("faces", "number", "pending", "summary")

    def __init__(self, pending: list[CardData], number: int = 0) -> None:
        self.pending = pending
        self.faces: Faces = []
        self.summary = RunSummary()
        self.number = number

    def take_summary(self) -> RunSummary:
        """What the tries recorded, handed over once (a second take is empty)."""
        taken, self.summary = self.summary, RunSummary()
        return taken


@task(name="resume-abandoned", cache_policy=NO_CACHE)
def resume_abandoned(station: Station) -> RunSummary:
    """Cards a crashed or stopped run left mid-line go on from their stage."""
    return station.controller.resume()


def _batch_task_name(stage: str, argument: str) -> Callable[[], str]:
    """A task run's name from its batch: ``print batch 3: 50 cards``."""

    def name() -> str:
        from prefect.runtime import task_run

        batch = task_run.parameters[argument]
        cards = len(getattr(batch, "pending", None) or getattr(batch, "items", []))
        return f"{stage} batch {batch.number}: {cards} card{'' if cards == 1 else 's'}"

    return name


def _start_task_name() -> str:
    from prefect.runtime import task_run

    parameters = task_run.parameters
    return f"start batch {parameters['number']}: up to {parameters['size']} cards"


@task(name="start-batch", cache_policy=NO_CACHE, task_run_name=_start_task_name)
def start_batch(station: Station, size: int, number: int = 0) -> Batch[CardData]:
    started = station.controller.start_batch(size)
    return Batch(started.items, started.summary, number)


@task(
    name="print-batch",
    cache_policy=NO_CACHE,
    retries=DEVICE_RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    task_run_name=_batch_task_name("print", "work"),
)
def print_batch(station: Station, work: PrintWork) -> Batch[Face]:
    from prefect.runtime import task_run

    printer = station.controller.devices.printer.name
    printed, done = station.controller.print_batch(work.pending)
    work.summary.add(printed.summary)
    work.faces.extend(printed.items)
    work.pending = list(done.unprinted)
    if work.pending:
        last = done.faults[-1] if done.faults else None
        reason = last.reason_code if last else "unknown"
        attempt = max(1, int(task_run.run_count or 1))
        if attempt <= DEVICE_RETRIES:  # the task's retry policy tries again: say so
            raise MachineFaulted(printer, Stage.PRINT, reason, len(work.pending), attempt)
        raise MachineGaveUp(printer, Stage.PRINT, reason, len(work.pending))
    return Batch(work.faces, work.take_summary(), work.number)


@task(
    name="encode-batch",
    cache_policy=NO_CACHE,
    retries=DEVICE_RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    task_run_name=_batch_task_name("chip-encode", "faces"),
)
def encode_batch(station: Station, faces: Batch[Face]) -> Batch[Chip]:
    # A defective chip spoils its card and is recorded; only a fault of the encoder itself
    # (no card in the reader, the reader gone) comes out of here to be retried.
    encoded = station.controller.encode_batch(faces.items)
    return Batch(encoded.items, encoded.summary, faces.number)


@task(
    name="qc-batch",
    cache_policy=NO_CACHE,
    retries=DEVICE_RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    task_run_name=_batch_task_name("qc", "chips"),
)
def qc_batch(station: Station, chips: Batch[Chip]) -> RunSummary:
    return station.controller.check_batch(chips.items)
