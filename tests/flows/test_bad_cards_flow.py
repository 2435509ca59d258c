"""Bad cards fail alone under the Prefect production flow too (``prefect_test_harness``):
the run completes, says what it held, and leaves nothing mid-line."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from flows.cli import run
from line.db import make_engine, session_scope
from line.models import Application, Card
from line.settings import Settings
from line.types import ApplicationState, CardState
from tests.badcards import gif_portrait, pixel_bomb
from tests.flows.homes import ready_home


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_the_production_flow_holds_bad_cards_and_finishes_the_rest(
    prefect_server: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flows.production import production

    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    monkeypatch.setenv("CARDLINE_RENDER_PROCESSES", "1")  # through the render process pool
    ready_home(tmp_path, applications=8, chips=20, own_photos=True)
    photos = sorted((tmp_path / "in" / "photos").iterdir())
    photos[0].unlink()  # gone
    photos[1].write_bytes(photos[2].read_bytes())  # changed after intake
    engine = make_engine(Settings().database_url)
    with session_scope(engine) as session:  # legacy rows: content bad, hash recorded with it
        for photo, content in ((photos[3], pixel_bomb()), (photos[4], gif_portrait(4))):
            photo.write_bytes(content)
            application = session.exec(
                select(Application).where(Application.photo_path == str(photo))
            ).one()
            application.photo_sha256 = hashlib.sha256(content).hexdigest()
            session.add(application)
    capsys.readouterr()

    summary = production(batch_size=3)
    assert summary["passed"] == 4
    assert summary["held_for"] == {
        "print.photo_not_found": 1,
        "print.photo_changed": 1,
        "print.photo_too_large": 1,
        "print.photo_not_image": 1,
    }
    with session_scope(engine) as session:
        states = [a.state for a in session.exec(select(Application))]
        assert states.count(ApplicationState.HELD) == 4
        assert states.count(ApplicationState.QC_PASSED) == 4
        mid_line = session.exec(
            select(Card).where(
                col(Card.state).in_([CardState.PRINTING, CardState.PRINTED, CardState.ENCODED])
            )
        ).all()
        assert mid_line == []
    again = production(batch_size=3, resume_after_seconds=0)
    assert again["started"] == 0
    assert run(["-q", "check"]) == 0
    engine.dispose()
