"""Dispatch batches: one per police station per day, up to the batch limit. A second
dispatch the same day sends only full batches; a station's few late cards wait for its next
day's batch instead of travelling as a parcel of one or two (the demo made 155 batches for
200 cards, a third batch to one station on one day)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from flows.cli import run
from flows.dispatching import dispatch_batch, plan_dispatch
from line.db import make_engine, session_scope
from line.dispatch import ready_for_dispatch
from line.models import Application
from line.settings import Settings
from line.spec import spec_in_use
from tests.flows.homes import ready_home
from tests.sim.pdfcheck import assert_readable

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
STATIONS = ("001-0030", "079-0112", "048-0009")  # every station gets cards in both runs


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=12, chips=12)
    settings = Settings()
    with session_scope(make_engine(settings.database_url)) as session:
        for application in session.exec(select(Application)):
            application.destination = STATIONS[application.id % len(STATIONS)]  # type: ignore[operator]
            session.add(application)
    return settings


def _dispatch(settings: Settings, max_cards: int, at: datetime) -> tuple[list[str], int]:
    engine = make_engine(settings.database_url)
    plan = plan_dispatch(engine=engine, max_cards=max_cards, at=at, zone=HANOI)
    rework = spec_in_use(settings.line_spec).rework_limit
    for destination, serials in plan.batches:
        dispatch_batch(
            engine=engine, settings=settings, destination=destination, serials=serials,
            rework_limit=rework, actor="test",
        )  # fmt: skip
    return [b.destination for b in plan.batches], plan.held_cards


def _waiting(settings: Settings) -> Counter[str]:
    with session_scope(make_engine(settings.database_url)) as session:
        return Counter({d: len(cards) for d, cards in ready_for_dispatch(session=session).items()})


def test_one_batch_per_station_per_day_up_to_the_limit(settings: Settings) -> None:
    assert run(["-q", "run", "--without-prefect", "--limit", "6"]) == 0
    now = datetime.now(UTC)
    first, held = _dispatch(settings, 500, now)
    assert held == 0 and len(first) == len(set(first)), "the day's first run: one per station"

    assert run(["-q", "run", "--without-prefect"]) == 0
    late = _waiting(settings)
    second, held = _dispatch(settings, 500, now + timedelta(minutes=5))
    again = {d: n for d, n in late.items() if d in first}
    assert again, "the fixture has a station served in the morning with late cards"
    assert not set(second) & set(first), "no second partial batch to a station that day"
    assert held == sum(again.values())
    assert set(second) == set(late) - set(first) == set()

    tomorrow = datetime.combine(now.astimezone(HANOI).date() + timedelta(days=1),
                                datetime.min.time(), tzinfo=HANOI) + timedelta(hours=8)  # fmt: skip
    third, held = _dispatch(settings, 500, tomorrow)
    assert held == 0 and set(third) == set(again)


def test_full_batches_go_at_any_time(settings: Settings) -> None:
    assert run(["-q", "run", "--without-prefect"]) == 0
    now = datetime.now(UTC)
    first, _ = _dispatch(settings, 500, now)
    assert sorted(first) == sorted(STATIONS), "4 cards each: one batch per station"
    assert _dispatch(settings, 500, now + timedelta(minutes=1)) == ([], 0)


def test_a_full_batch_goes_even_after_the_days_batch(settings: Settings) -> None:
    assert run(["-q", "run", "--without-prefect", "--limit", "3"]) == 0
    now = datetime.now(UTC)
    waiting = _waiting(settings)
    first, held = _dispatch(settings, 2, now)
    assert Counter(first) == {d: -(-n // 2) for d, n in waiting.items()} and held == 0
    assert run(["-q", "run", "--without-prefect"]) == 0  # the other 9 cards
    waiting = _waiting(settings)
    second, held = _dispatch(settings, 2, now + timedelta(minutes=5))
    served = set(first)
    assert Counter(second) == {
        d: n // 2 + (n % 2 if d not in served else 0)
        for d, n in waiting.items()
        if n // 2 or d not in served
    }
    assert held == sum(n % 2 for d, n in waiting.items() if d in served)
    assert any(n >= 2 for d, n in waiting.items() if d in served), "a full batch went again"


def test_the_manifest_names_the_station_from_the_register_loaded_by_the_cli(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register = tmp_path / "stations.csv"
    register.write_text(
        "code,name,address\n001-0030,Công an phường Hàng Bạc,Hoàn Kiếm\n079-0112,,Quận 1\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert run(["-q", "station", "load", str(register)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "row 3: name is empty" in err
    assert run(["-q", "station", "list"]) == 0
    assert "no station register loaded" in capsys.readouterr().out, "nothing half-loaded"
    register.write_text(
        "code,name,address\n001-0030,Công an phường Hàng Bạc,Hoàn Kiếm\n"
        "079-0112,Công an phường Bến Nghé,Quận 1\n",
        encoding="utf-8",
    )
    assert run(["-q", "station", "load", str(register)]) == 0
    assert run(["-q", "run", "--without-prefect"]) == 0
    capsys.readouterr()
    assert run(["-q", "dispatch", "--json"]) == 0
    batches = {b["destination"]: b for b in json.loads(capsys.readouterr().out)}
    assert set(batches) == set(STATIONS)
    named = assert_readable(Path(batches["001-0030"]["manifest"]))
    assert "001-0030: Công an phường Hàng Bạc, Hoàn Kiếm" in named
    unnamed = assert_readable(Path(batches["048-0009"]["manifest"]))
    assert "048-0009: not in the centre's station register" in unnamed
