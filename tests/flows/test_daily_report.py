"""The manager's daily report, rendered and read back as a reader would: what a manager asks
first is on the page and agrees with the database, long text wraps whole, nothing is outside
the page box or drawn over other text, and times are the centre's own."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from flows.artifacts import artifact_key
from flows.cli import run
from flows.daily import summary_markdown
from flows.report import gather, render_report
from line.db import make_engine, session_scope
from line.models import Card, StageEvent
from line.settings import Settings
from line.spec import spec_in_use
from line.today import day_bounds, planned_cards
from line.types import CardState, Outcome, Stage
from tests.factories import good_rows
from tests.flows.homes import ready_home
from tests.sim.pdfcheck import assert_readable

OUT_REASON = (
    "ribbon feed jams every few cards; the service engineer from the supplier comes on "
    "Thursday with a new print head and a feed roller"
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A centre that made some cards, then ran short of chips, with a printer taken out."""
    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    ready_home(tmp_path, applications=14, chips=9)
    assert run(["-q", "run", "--without-prefect", "--batch-size", "5"]) == 0
    assert run(["-q", "machine", "out", "print-02", "--reason", OUT_REASON]) == 0
    return Settings()


def test_the_daily_report_shows_what_a_manager_asks_first(home: Settings, tmp_path: Path) -> None:
    spec = spec_in_use(home.line_spec)
    engine = make_engine(home.database_url)
    at = datetime.now(UTC)
    with session_scope(engine) as session:
        report = gather(session=session, spec=spec, centre=home.centre, at=at, target=1_000)
        midnight, _ = day_bounds(
            at.astimezone(ZoneInfo(spec.calendar.timezone)).date(), ZoneInfo(spec.calendar.timezone)
        )
        passed_today = session.exec(
            select(sa.func.count())
            .select_from(StageEvent)
            .where(
                StageEvent.stage == Stage.QC,
                StageEvent.outcome == Outcome.OK,
                col(StageEvent.ended_at) >= midnight,
            )
        ).one()
        good = session.exec(
            select(sa.func.count()).select_from(Card).where(Card.state == CardState.QC_PASSED)
        ).one()
    pdf = render_report(out=tmp_path / "daily.pdf", report=report)
    text = assert_readable(pdf)

    zone = ZoneInfo(spec.calendar.timezone)
    assert f"Made {at.astimezone(zone):%Y-%m-%d %H:%M}" in text and zone.key in text
    assert report.today.good == passed_today and good > 0
    assert f"Good cards today (passed QC) {report.today.good:,} plan" in text
    assert f"{good:,} of 1,000 good cards" in text
    chip = report.chip
    assert chip is not None and chip.state in ("low", "out")
    assert any(len(item.reason) > 44 for item in report.stock), "a long reason to wrap"
    for item in report.stock:
        assert item.reason in text, "each stock reason whole, wrapped in its cell, not cut"
    assert "Machines out of service 1 print-02" in text
    assert OUT_REASON in text and report.local(report.machines_out[0].changed_at) in text
    for reason in report.spoilage:
        assert f"{reason.code} {reason.stage} {reason.cards:,}" in text
    for row in good_rows(14):
        assert row["id_number"] not in text and row["full_name"] not in text


def test_the_daily_summary_artifact_carries_the_figures_themselves(
    home: Settings, tmp_path: Path
) -> None:
    spec = spec_in_use(home.line_spec)
    with session_scope(make_engine(home.database_url)) as session:
        report = gather(
            session=session, spec=spec, centre=home.centre, at=datetime.now(UTC), target=1_000
        )
    markdown = summary_markdown(report, tmp_path / "reports" / "daily.pdf")
    assert f"| Good cards today | {report.today.good:,} of a plan of" in markdown
    assert "| Machines out of service | print-02 |" in markdown
    assert "| Chip cover |" in markdown and "stock-out projected" in markdown
    assert "{" not in markdown and "'" not in markdown, "no Python reprs"


def test_artifact_keys_are_per_centre_and_campaign() -> None:
    assert artifact_key("HN1", "national", "progress") == "hn1-national-progress"
    assert artifact_key("HN1", "demo", "progress") != artifact_key("HN1", "national", "progress")
    assert artifact_key("HCM 2", "Bầu cử_2021", "daily-summary") == "hcm-2-b-u-c-2021-daily-summary"


def test_the_plan_of_a_day_is_the_bottleneck_capacity_over_the_working_hours() -> None:
    spec = spec_in_use(None)
    monday, sunday = date(2026, 11, 30), date(2026, 12, 6)
    hours = spec.calendar.working_seconds(monday) / 3600
    assert planned_cards(spec, monday) == int(spec.capacity_per_hour * hours) > 0
    if not spec.calendar.is_working_day(sunday):
        assert planned_cards(spec, sunday) == 0


def test_a_local_day_starts_at_the_centres_midnight() -> None:
    start, end = day_bounds(date(2026, 12, 3), ZoneInfo("Asia/Ho_Chi_Minh"))
    assert start == datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
