"""One bad application never stops the line (the property), with the real virtual devices.

Random bad cards (every kind of ``tests.badcards.BAD_KINDS``) among good ones, spoiled before
the run or after their card bodies were taken (a resumed run): every good application gets
a card that passes QC, every bad one is held with one of its kind's reason codes, no card is
left mid-line, and ``cardline check``'s reconciliation finds nothing wrong. The same through
the installed command with the render process pool (the issue's repro) and, in
``tests/flows/test_bad_cards_flow.py``, through the Prefect flow.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from flows.wiring import build_line
from inventory.check import reconcile
from inventory.ledger import receive
from line.controller import LineController, RunSummary
from line.db import make_engine, session_scope
from line.models import Application, Card, StageEvent
from line.settings import Settings
from line.spec import default_spec
from line.types import ApplicationState, CardState, Outcome
from printers.keys import init_test_keys
from schema import upgrade
from tests.badcards import BAD_KINDS, add_applications
from tests.conftest import TODAY, StepClock

MID_LINE = (CardState.PRINTING, CardState.PRINTED, CardState.ENCODED)


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    init_test_keys(directory, now=datetime(2026, 11, 1, tzinfo=UTC))  # DS key usage: 3 months
    return directory


def run_line_with_bad_cards(
    home: Path, keys_dir: Path, good: int, bad: Sequence[str], *, after_start: bool
) -> tuple[RunSummary, dict[int, str], str]:
    """Applications (``good`` and one per kind in ``bad``) through the line; returns the run's
    summary, the bad applications' kinds, and the database URL."""
    url = f"sqlite:///{home / 'cardline.db'}"
    engine = make_engine(url)
    upgrade(engine)
    clock = StepClock(datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    with session_scope(engine) as session:
        made = add_applications(session, home / "photos", good + len(bad), today=TODAY)
        receive(
            session=session, item_code="chip", lot_number="LOT-B", supplier="Chip Co",
            quantity=3 * len(made), first_uid="04C30000000001", at=clock(), actor="test",
        )  # fmt: skip
        kinds = {a.id or 0: name for (a, _), name in zip(made[: len(bad)], bad, strict=True)}
        photos = {application.id or 0: photo for application, photo in made}
    settings = Settings(
        home=home, db_url=url, keys_dir=keys_dir, printer="spool", render_processes=0
    )  # type: ignore[call-arg]
    line = build_line(settings=settings, spec=default_spec(), engine=engine, clock=clock)

    def controller(resume_after: timedelta) -> LineController:
        return LineController(
            engine=engine, spec=default_spec(), devices=line.devices, clock=clock, actor="test",
            archive=line.archive, stock=line.stock, screen=line.screen, resume_after=resume_after,
        )  # fmt: skip

    def spoil() -> None:
        with session_scope(engine) as session:
            for application_id, name in kinds.items():
                application = session.get(Application, application_id)
                assert application is not None
                BAD_KINDS[name].spoil(application, photos[application_id])
                session.add(application)

    try:
        if after_start:  # card bodies taken, then the data goes bad, then a later run resumes
            controller(timedelta(minutes=5)).start_batch(len(photos))
            spoil()
            summary = controller(timedelta(0)).run(batch_size=4)
        else:
            spoil()
            summary = controller(timedelta(minutes=5)).run(batch_size=4)
    finally:
        line.close()
    return summary, kinds, url


def assert_bad_cards_failed_alone(url: str, kinds: dict[int, str]) -> None:
    engine = make_engine(url)
    with session_scope(engine) as session:
        applications = session.exec(select(Application)).all()
        assert applications
        for application in applications:
            assert application.id is not None
            if application.id not in kinds:
                assert application.state is ApplicationState.QC_PASSED, application.id
                continue
            kind = BAD_KINDS[kinds[application.id]]
            assert application.state is ApplicationState.HELD, kind.name
            failed = session.exec(
                select(StageEvent)
                .where(
                    StageEvent.application_id == application.id,
                    StageEvent.outcome == Outcome.FAIL,
                )
                .order_by(col(StageEvent.id))
            ).all()
            assert failed, kind.name
            assert failed[-1].reason_code in kind.reasons, (kind.name, failed[-1].reason_code)
            # Held at once: a new card body would fail the same way.
            assert len(failed) == 1, kind.name
        mid_line = session.exec(select(Card).where(col(Card.state).in_(MID_LINE))).all()
        assert mid_line == []
        assert reconcile(session=session) == []
    engine.dispose()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    good=st.integers(min_value=1, max_value=5),
    bad=st.lists(st.sampled_from(sorted(BAD_KINDS)), min_size=1, max_size=4),
    after_start=st.booleans(),
)
def test_random_bad_cards_among_good_ones_fail_alone(
    keys_dir: Path, good: int, bad: list[str], after_start: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        summary, kinds, url = run_line_with_bad_cards(
            Path(folder), keys_dir, good, bad, after_start=after_start
        )
        assert summary.passed == good
        assert summary.held == len(bad)
        assert sum(summary.held_for.values()) == len(bad)
        assert_bad_cards_failed_alone(url, kinds)


@pytest.mark.parametrize("after_start", [False, True], ids=["before", "after-start"])
def test_every_kind_of_bad_card_at_once(keys_dir: Path, tmp_path: Path, after_start: bool) -> None:
    summary, kinds, url = run_line_with_bad_cards(
        tmp_path, keys_dir, 3, sorted(BAD_KINDS), after_start=after_start
    )
    assert (summary.passed, summary.held) == (3, len(BAD_KINDS))
    assert_bad_cards_failed_alone(url, kinds)


def test_the_installed_command_holds_a_card_whose_photo_is_gone(tmp_path: Path) -> None:
    """The issue's repro: three applications in, one photo removed, ``cardline run
    --without-prefect`` with the render process pool; the run completes and says what it held,
    the next run has nothing left to do, ``cardline check`` passes."""
    from tests.flows.homes import ready_home

    env = {**os.environ, "CARDLINE_HOME": str(tmp_path / "home"), "CARDLINE_RENDER_PROCESSES": "1"}
    env.pop("CARDLINE_DB_URL", None)
    cardline = str(Path(".venv/bin/cardline").resolve())

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cardline, *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    old = os.environ.get("CARDLINE_HOME")
    os.environ["CARDLINE_HOME"] = env["CARDLINE_HOME"]
    try:
        ready_home(tmp_path, applications=3, chips=10, own_photos=True)
    finally:
        if old is None:
            del os.environ["CARDLINE_HOME"]
        else:
            os.environ["CARDLINE_HOME"] = old
    photos = sorted((tmp_path / "in" / "photos").iterdir())
    photos[0].unlink()
    first = run("run", "--without-prefect")
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    assert "2 passed QC" in first.stdout and "1 held for a manager" in first.stdout
    assert "held for a manager: print.photo_not_found 1" in first.stdout
    again = run("run", "--without-prefect", "--resume-after", "0")
    assert again.returncode == 0, again.stderr
    assert "0 cards started" in again.stdout
    check = run("check")
    assert check.returncode == 0, check.stdout + check.stderr
