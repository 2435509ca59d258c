"""The pipelined loop and the run summary's fold, without devices or a database."""

from __future__ import annotations

import pytest

from line.pipeline import pipelined
from line.summary import RunSummary


def test_the_next_batch_prints_while_this_one_is_encoded_and_checked() -> None:
    log: list[tuple[str, int]] = []
    work = [3, 3, 1]  # cards each start finds
    started = 0

    def start(size: int) -> int | None:
        nonlocal started
        if not work:
            return None
        n = min(size, work.pop(0))
        started += n
        log.append(("start", n))
        return n

    def printed(batch: int) -> int:
        log.append(("printed", batch))
        return batch

    def finish(batch: int) -> None:
        log.append(("finished", batch))

    pipelined(
        start=start, printed=printed, finish=finish, batch_size=3, limit=None,
        started=lambda: started,
    )  # fmt: skip
    assert log == [
        ("start", 3),
        ("printed", 3),
        ("start", 3),  # the second batch is at the printer...
        ("finished", 3),  # ...while the first is encoded and checked
        ("printed", 3),
        ("start", 1),
        ("finished", 3),
        ("printed", 1),
        ("finished", 1),
    ]


def test_a_limit_and_a_failing_check_stop_the_loop_and_the_batch_in_print_is_settled() -> None:
    sizes: list[int] = []
    settled: list[int] = []
    checks = 0

    def check() -> None:
        nonlocal checks
        checks += 1
        if checks == 3:
            raise RuntimeError("lease lost")

    def start(size: int) -> int:
        sizes.append(size)
        return size

    with pytest.raises(RuntimeError, match="lease lost"):
        pipelined(
            start=start, printed=lambda b: b, finish=lambda b: None, batch_size=4, limit=6,
            started=lambda: sum(sizes), before_batch=check, settle=settled.append,
        )  # fmt: skip
    assert sizes == [4, 2], "the second batch takes what is left of the limit"
    assert settled == [2], "the batch at the printer when the check failed is waited for"


def test_a_summary_adds_its_parts_and_a_later_reading_replaces_an_earlier_one() -> None:
    run = RunSummary()
    first = RunSummary()
    first.count("started", 3)
    first.spoil("print.jam")
    first.gauge("waiting_for_chips", 5)
    first.missing("ribbon", 2)
    run.add(first)
    second = RunSummary()
    second.count("started", 1)
    second.spoil("print.jam")
    second.gauge("waiting_for_chips", 1)
    second.supplies_missing["ribbon"] = 1  # used up by a start: adds
    run.add(second)
    run.add(RunSummary())  # a part that read nothing changes no reading
    assert (run.started, run.spoiled, run.waiting_for_chips) == (4, {"print.jam": 2}, 1)
    assert run.supplies_missing == {"ribbon": 3}
    later = RunSummary()
    later.missing("ribbon", 4)
    run.add(later)
    assert run.supplies_missing == {"ribbon": 4}
    with pytest.raises(ValueError, match="not a counter"):
        run.count("spoiled", 1)
