"""Crash safety: a production run killed by SIGKILL in the middle of a batch, then a new
run. No application lost or duplicated, no chip used twice, stage events agree with the
cards, and ``cardline check`` passes.

Real parts throughout: a Prefect server (one for the module, ``prefect_api``), the real
production flow in a subprocess (``crashing_run.py``, which kills itself at the chosen point
of the SECOND batch, so a first batch is committed before), a PostgreSQL database of its own
per test, spooled PDFs and the stock ledger.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from flows.cli import run
from tests.flows.consistency import assert_line_consistent, rows
from tests.flows.crashing_run import POINTS
from tests.flows.homes import ready_home
from tests.flows.prefect_server import (
    ROOT,
    drop_taken_limits,
    fresh_database,
    occupied_limits,
    stop,
)

APPLICATIONS = 15  # three batches of 5
CHIPS = 40  # room for every rework the crashes and the chips' defect rate cause
HARNESS = Path(__file__).with_name("crashing_run.py")

# The state each point leaves the second batch's 5 cards in (what was committed before the
# kill); a card whose chip failed to encode is spoiled, and recorded, before QC.
LEFT_AT: dict[str, tuple[str, ...]] = {
    "start": (),  # the start transaction died with the process: no second batch at all
    "printed": ("printing",),
    "encode": ("printed",),
    "qc": ("encoded", "spoiled"),
    "record-print": ("printing",),
    "record-qc": ("encoded", "spoiled"),
}
assert set(LEFT_AT) == set(POINTS)


@pytest.fixture
def cardline_db(pg_admin: Engine) -> Iterator[str]:
    with fresh_database(pg_admin, "cardline_crash") as url:
        yield url


def flow_process(
    env: dict[str, str],
    point: str,
    folder: Path,
    *,
    lease: float | None = None,
    timeout: float = 240,
) -> tuple[int | None, str, str]:
    """Run the harness; its exit code (-9: killed by SIGKILL; None: still running after
    ``timeout``, then killed), stdout and stderr. Output
    goes to files, not pipes: children of a killed run (its render pool) keep pipes open.
    The whole process group is killed afterwards, whatever the run left behind."""
    out, err = folder / f"{point}.out", folder / f"{point}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(HARNESS), point],
            env=env, cwd=ROOT, stdout=stdout, stderr=stderr, start_new_session=True,
        )  # fmt: skip
    returncode: int | None = None
    try:
        returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        stop(process)
    return returncode, out.read_text(), err.read_text()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(POINTS))
def test_a_run_killed_mid_batch_then_a_new_run_loses_and_doubles_nothing(
    point: str,
    prefect_api: dict[str, str],
    cardline_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.setenv("CARDLINE_DB_URL", cardline_db)
    ready_home(tmp_path, applications=APPLICATIONS, chips=CHIPS)
    capsys.readouterr()
    env = {
        **prefect_api,
        "CARDLINE_HOME": str(home),
        "CARDLINE_DB_URL": cardline_db,
        "CARDLINE_PRINTER": "spool",  # real PDFs; no simulated jams to blur the point
    }
    engine = sa.create_engine(cardline_db)
    try:
        code, out, err = flow_process(env, point, tmp_path)
        assert code == -9, (
            f"the run was not killed at {point!r} ({POINTS[point]}): exit {code}\n"
            f"{out[-1500:]}\n{err[-3000:]}"
        )
        # The first batch was started before; the second is left where the point says
        # (batches start one after the other: the second's cards are the 6th to 10th).
        cards = rows(engine, "SELECT state FROM card ORDER BY id")
        if not LEFT_AT[point]:
            assert len(cards) == 5
        else:
            second = [state for (state,) in cards[5:10]]
            assert len(second) == 5 and set(second) <= set(LEFT_AT[point]), second
            assert second.count(LEFT_AT[point][0]) >= 2, second
        if point == "printed":  # the batch's PDF was written, and nothing records it
            recorded = {
                r[0] for r in rows(engine, "SELECT print_pdf FROM card WHERE print_pdf IS NOT NULL")
            }
            spooled = {str(p) for p in (home / "spool").glob("*.pdf")}
            assert len(spooled - recorded) == 1

        # The killed run's machine slots (Prefect global concurrency limits) stay taken
        # until their lease expires (60 s): the taken limits are deleted here so the module
        # stays short, as an operator may do; the new run makes them again (the last test
        # of the module leaves it to the lease).
        drop_taken_limits(prefect_api)
        code, out, err = flow_process(env, "none", tmp_path)
        assert code == 0, out[-1500:] + err[-3000:]
        summary = json.loads(out.strip().splitlines()[-1])["summary"]
        assert summary["passed"] > 0, summary  # it took over what the killed run left

        assert_line_consistent(engine, applications=APPLICATIONS)
        assert run(["-q", "check"]) == 0, capsys.readouterr().err
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_killed_runs_machines_are_free_again_for_the_next_run(
    prefect_api: dict[str, str],
    cardline_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No hand on the Prefect server this time: the slot the killed run held is leased for
    ``MACHINE_LEASE_SECONDS`` (60 s), so the run after the crash gets the machines by itself
    once it expires. The 180 s bound only says "not never": a slot on Prefect's default
    300 s lease (or none) would keep the next run waiting past it."""
    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.setenv("CARDLINE_DB_URL", cardline_db)
    ready_home(tmp_path, applications=APPLICATIONS, chips=CHIPS)
    capsys.readouterr()
    env = {
        **prefect_api,
        "CARDLINE_HOME": str(home),
        "CARDLINE_DB_URL": cardline_db,
        "CARDLINE_PRINTER": "spool",
    }
    drop_taken_limits(prefect_api)  # an earlier test's dead leases can't touch new limits
    code, out, err = flow_process(env, "printed", tmp_path)
    assert code == -9, err[-3000:]
    taken = occupied_limits(prefect_api)
    assert any(name.endswith("-print-01") for name in taken), taken  # killed at the printer

    code, out, err = flow_process(env, "none", tmp_path, timeout=180)
    assert code == 0, f"exit {code}: the next run did not finish\n{err[-2000:]}"
    engine = sa.create_engine(cardline_db)
    try:
        assert_line_consistent(engine, applications=APPLICATIONS)
    finally:
        engine.dispose()
