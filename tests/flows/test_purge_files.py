"""Which files a purge removes, and a purge that dies between its commit and its files, on
SQLite and PostgreSQL. The rows are made straight in the database (delivered applications
with one card each, in batches delivered at a given time); the files are small stand-ins
at the paths the line uses (their content does not matter to a removal)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from flows.purging import home_of, run_purge
from line.db import session_scope
from line.models import Application, AuditEvent, Card, DispatchBatch, card_serial
from line.purge import pending_plan, purge
from line.settings import Settings
from line.spec import default_spec
from line.types import ApplicationState, CardState
from tests.factories import add_application
from tests.sim.pdfcheck import flat, page_texts

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=200)  # past the default retention of 90 days
RECENT = NOW - timedelta(days=10)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    return settings


def delivered(
    session: Session,
    settings: Settings,
    *,
    seed: int,
    at: datetime,
    photo: Path,
    pdf: Path,
    page: int,
) -> Application:
    """A delivered application with one card printed on pages ``page``, ``page + 1`` of
    ``pdf``, its chip archive and virtual chip image in the home."""
    application = add_application(
        session,
        seed=seed,
        today=NOW.date(),
        state=ApplicationState.DELIVERED,
        photo_path=str(photo),
    )
    assert application.id is not None
    batch = DispatchBatch(
        code=f"D{application.destination}-{seed}",
        destination=application.destination,
        cards=1,
        dispatched_at=at - timedelta(days=1),
        delivered_at=at,
    )
    session.add(batch)
    session.flush()
    serial = card_serial(application.id, 1)
    session.add(
        Card(
            serial=serial,
            application_id=application.id,
            attempt=1,
            state=CardState.DELIVERED,
            chip_uid=f"04D0{application.id:010X}",
            print_pdf=str(pdf),
            front_page=page,
            back_page=page + 1,
            dispatch_batch_id=batch.id,
            created_at=at - timedelta(days=2),
            updated_at=at,
        )
    )
    session.flush()
    for path in (
        settings.cards_dir / f"{serial}.chip",
        settings.chips_dir / f"{serial}.vchip.json",
        photo,
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(application.full_name.encode("utf-8"))
    return application


def batch_pdf(path: Path, *applications: Application) -> Path:
    """A print batch as the spool has it: each card's front and back page with its name."""
    from reportlab.pdfgen.canvas import Canvas

    path.parent.mkdir(parents=True, exist_ok=True)
    canvas = Canvas(str(path))
    for application in applications:
        for side in ("front", "back"):
            canvas.drawString(72, 720, f"{side} {application.id}")
            canvas.showPage()
    canvas.save()
    return path


def purge_now(engine: sa.Engine, settings: Settings) -> dict[str, object]:
    return run_purge(engine=engine, settings=settings, spec=default_spec(), now=NOW, actor="test")


@pytest.mark.parametrize("chunk", [500, 1])
def test_a_photo_and_a_batch_go_with_their_last_user_and_outside_photos_stay(
    engine: sa.Engine,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
) -> None:
    """(``chunk`` 1: every query by ids or paths in many chunks, as a big purge does.)"""
    monkeypatch.setattr("line.purge.CHUNK", chunk)
    home = settings.home_dir
    shared_photo = home / "photos" / "shared.jpg"  # the centre's copy, two applicants
    outside = tmp_path / "station" / "own.jpg"  # the intake source's, not the centre's
    old_pdf, mixed_pdf = home / "spool" / "old.pdf", home / "spool" / "mixed.pdf"
    with session_scope(engine) as session:
        a = delivered(session, settings, seed=1, at=OLD, photo=shared_photo, pdf=old_pdf, page=0)
        b = delivered(session, settings, seed=2, at=OLD, photo=outside, pdf=mixed_pdf, page=0)
        c = delivered(
            session, settings, seed=3, at=RECENT, photo=shared_photo, pdf=mixed_pdf, page=2
        )
        ids = [a.id, b.id, c.id]
        batch_pdf(old_pdf, a)
        batch_pdf(mixed_pdf, b, c)
    summary = purge_now(engine, settings)
    assert summary["purged"] == 2 and summary["kept"] == {"returned": 0, "held": 0, "newer": 1}
    assert summary["photos_outside_home"] == 1 and outside.is_file()
    assert shared_photo.is_file()  # the recent applicant still uses it
    assert not old_pdf.exists()  # every card in it purged
    assert mixed_pdf.is_file() and summary["batches_kept"] == 1
    # The purged card's pages are blank; the other card keeps its page numbers.
    assert [flat(t) for t in page_texts(mixed_pdf)] == ["", "", f"front {ids[2]}", f"back {ids[2]}"]
    for application_id in ids[:2]:
        serial = card_serial(application_id or 0, 1)
        assert not (settings.cards_dir / f"{serial}.chip").exists()
        assert not (settings.chips_dir / f"{serial}.vchip.json").exists()
    # Two hundred days on, the recent one is old too: the photo and the batch go with it.
    later = run_purge(
        engine=engine,
        settings=settings,
        spec=default_spec(),
        now=NOW + timedelta(days=200),
        actor="test",
    )
    assert later["purged"] == 1 and later["batches_kept"] == 0
    assert not shared_photo.exists() and not mixed_pdf.exists()
    assert outside.is_file()


def test_a_purge_that_died_after_its_commit_is_finished_by_the_next(
    engine: sa.Engine, settings: Settings
) -> None:
    home = home_of(settings)
    photo = settings.home_dir / "photos" / "p.jpg"
    pdf = settings.home_dir / "spool" / "b.pdf"
    with session_scope(engine) as session:
        application = delivered(session, settings, seed=4, at=OLD, photo=photo, pdf=pdf, page=0)
        batch_pdf(pdf, application)
    chip = settings.cards_dir / f"{card_serial(application.id or 0, 1)}.chip"
    with session_scope(engine) as session:  # committed; the process dies before the files
        result = purge(
            session=session, home=home, cutoff=NOW - timedelta(days=90), actor="t", at=NOW
        )
    assert len(result.purged) == 1 and home.pending.is_file()
    assert chip.is_file() and photo.is_file() and pdf.is_file()
    summary = purge_now(engine, settings)
    assert summary["purged"] == 0 and summary["files_removed"] == 4
    assert not chip.exists() and not photo.exists() and not pdf.exists()
    assert not home.pending.exists()
    with session_scope(engine) as session:
        assert len(session.exec(select(AuditEvent).where(AuditEvent.kind == "purge")).all()) == 1


def test_the_plan_of_a_purge_that_never_committed_is_dropped(
    engine: sa.Engine, settings: Settings
) -> None:
    home = home_of(settings)
    photo = settings.home_dir / "photos" / "p.jpg"
    pdf = settings.home_dir / "spool" / "b.pdf"
    with session_scope(engine) as session:
        application = delivered(session, settings, seed=5, at=OLD, photo=photo, pdf=pdf, page=0)
        batch_pdf(pdf, application)
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        purge(session=session, home=home, cutoff=NOW - timedelta(days=90), actor="t", at=NOW)
        raise RuntimeError("the transaction fails after the plan was written")
    assert home.pending.is_file()
    with session_scope(engine) as session:
        assert pending_plan(session=session, home=home) is None
        row = session.get(Application, application.id)
        assert row is not None and row.purged_at is None and row.full_name
    assert not home.pending.exists() and photo.is_file() and pdf.is_file()


def test_a_busy_sqlite_file_is_left_uncompacted_with_a_warning(tmp_path: Path) -> None:
    """Another process writing: VACUUM gives up after the busy timeout (here 0.1 s), the
    purge's commit stands, and ``compact`` says it did not compact."""
    from structlog.testing import capture_logs

    from flows.purging import compact
    from line.db import make_engine

    url = f"sqlite:///{tmp_path / 'busy.db'}"
    writer = make_engine(url)
    engine = make_engine(url, connect_args={"timeout": 0.1})
    with writer.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (x TEXT)"))
    assert compact(engine) is True
    with writer.begin() as connection, capture_logs() as logs:
        connection.execute(sa.text("INSERT INTO t VALUES ('x')"))
        assert compact(engine) is False
    assert [entry["event"] for entry in logs] == ["purge.not_compacted"]
