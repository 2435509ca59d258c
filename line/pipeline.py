"""The pipelined loop of the line: the printer works on the next batch while encoder and QC
work on the batch printed before it, as the stations of a physical line do.

One loop for whoever drives the stages: the controller's ``run`` (the printer in a thread of
its own) and the production flow (the printer task submitted to the task runner) both call
``pipelined`` with their own ways to start a print, wait for it, and finish a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

InPrint = TypeVar("InPrint")  # a batch at the printer (a future of its printed cards)
Printed = TypeVar("Printed")  # a batch's printed cards, recorded


def pipelined(
    *,
    start: Callable[[int], InPrint | None],
    printed: Callable[[InPrint], Printed],
    finish: Callable[[Printed], None],
    batch_size: int,
    limit: int | None,
    started: Callable[[], int],
    before_batch: Callable[[], None] | None = None,
    settle: Callable[[InPrint], None] | None = None,
) -> None:
    """Run batches until ``start`` finds no work (or ``limit`` cards have started).

    ``start(size)`` starts up to ``size`` cards and sets their print going (None: no work);
    ``printed`` waits for a print and records it; ``finish`` encodes and checks a printed
    batch; ``started()`` counts the cards started so far. ``before_batch`` runs before each
    batch starts (and before the one printed last goes on to encode and QC); an error it
    raises stops the loop there (a lost machine lease). ``settle`` is called with the batch
    still at the printer when a stage fails, so that its print is waited for (and
    recorded) before the error goes on.
    """

    def start_next() -> InPrint | None:
        if before_batch is not None:
            before_batch()
        done = started()
        if limit is not None and done >= limit:
            return None
        return start(batch_size if limit is None else min(batch_size, limit - done))

    in_print = start_next()
    try:
        while in_print is not None:
            batch = printed(in_print)
            in_print = start_next()
            finish(batch)
            if in_print is None:  # rework sent back by encode and QC goes round again
                in_print = start_next()
    finally:
        if in_print is not None and settle is not None:
            settle(in_print)
