"""``cardline purge`` on a small line run, on SQLite and PostgreSQL. Six applicants: one
held at print (its photo changed after intake); five made, dispatched and delivered, four
of them today and one in two days; the station returns one of the four. A purge of cards
delivered before tomorrow takes exactly the three of today that were not returned. The
line runs with ``run --without-prefect``; the later delivery goes through
``line.dispatch.deliver`` with its time (the command line's ``deliver`` stamps the wall
clock; a delivery can never be recorded before its dispatch)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest
import sqlalchemy as sa
from sqlmodel import select

from flows.cli import run
from flows.report import gather, render_report
from line.db import make_engine, session_scope
from line.dispatch import deliver
from line.idnumber import mask_id
from line.models import Application, AuditEvent, Card
from line.sealed import CHIP_ARCHIVE, CHIP_IMAGE, SPOOL_PDF, is_sealed
from line.settings import Settings
from line.spec import default_spec
from line.synthetic import portrait
from line.types import ApplicationState, utc_now
from printers.atrest import centre_sealer
from tests.conftest import PG_URL
from tests.flows.homes import ready_home
from tests.sim.pdfcheck import page_texts


@dataclass
class Centre:
    home: Path
    url: str
    env: dict[str, str]

    def engine(self) -> sa.Engine:
        return make_engine(self.url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def centre(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Centre]:
    """A home whose database is SQLite (its file in the home) or a fresh PostgreSQL schema."""
    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.setenv("CARDLINE_RENDER_PROCESSES", "0")
    if request.param == "sqlite":
        monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
        yield Centre(home, f"sqlite:///{home / 'cardline.db'}", {"CARDLINE_HOME": str(home)})
        return
    pg_admin: sa.Engine = request.getfixturevalue("pg_admin")
    schema = f"cardline_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("CARDLINE_DB_URL", url)
    try:
        yield Centre(home, url, {"CARDLINE_HOME": str(home), "CARDLINE_DB_URL": url})
    finally:
        with pg_admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@dataclass(frozen=True)
class Person:
    application_id: int
    id_number: str
    full_name: str
    old_id_number: str | None
    serials: tuple[str, ...]


def people(centre: Centre) -> dict[int, Person]:
    with session_scope(centre.engine()) as session:
        found = {}
        for a in session.exec(select(Application).order_by(Application.id)):
            assert a.id is not None
            serials = session.exec(
                select(Card.serial).where(Card.application_id == a.id).order_by(Card.id)
            ).all()
            found[a.id] = Person(a.id, a.id_number, a.full_name, a.old_id_number, tuple(serials))
        return found


def line_run(
    tmp_path: Path, centre: Centre, capsys: pytest.CaptureFixture[str]
) -> dict[str, list[int]]:
    """The timeline of the module's docstring; the application ids of each group."""
    ready_home(tmp_path, applications=6, chips=20, own_photos=True)
    photos = sorted((tmp_path / "in" / "photos").iterdir())
    photos[0].write_bytes(portrait(random.Random(4242)))  # changed after intake: held
    code, out, _ = cli(capsys, "-q", "run", "--without-prefect", "--json")
    assert code == 0 and json.loads(out)["passed"] == 5
    code, out, _ = cli(capsys, "-q", "dispatch", "--json")
    assert code == 0
    batches = {b["destination"]: b["code"] for b in json.loads(out)}
    engine = centre.engine()
    with session_scope(engine) as session:
        rows = session.exec(
            select(Application.id, Application.destination, Application.state).order_by(
                Application.id
            )
        ).all()
    held = [i for i, _, state in rows if state is ApplicationState.HELD]
    made = [(i, d) for i, d, state in rows if state is ApplicationState.DISPATCHED]
    assert len(held) == 1 and len(made) == 5 and len(batches) == 5
    for _, destination in made[:4]:  # four stations confirm today
        assert cli(capsys, "-q", "deliver", batches[destination])[0] == 0
    in_two_days = utc_now() + timedelta(days=2)  # and one after the cut-off
    with session_scope(engine) as session:
        deliver(session=session, code=batches[made[4][1]], actor="station", at=in_two_days)
    returned = made[3][0]
    serial = people(centre)[returned].serials[-1]
    code, _, err = cli(capsys, "-q", "card", "return", serial, "--reason", "delivery.refused")
    assert (code, err) == (0, "")
    return {
        "old": [i for i, _ in made[:3]],
        "returned": [returned],
        "newer": [made[4][0]],
        "held": held,
    }


def text_hits(engine: sa.Engine, needles: list[str]) -> list[tuple[str, str, str]]:
    """Every (table, column, needle) where a text column of any table holds a needle."""
    hits = []
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        for table in inspector.get_table_names():
            for column in inspector.get_columns(table):
                if not isinstance(column["type"], sa.String):
                    continue
                name = column["name"]
                for needle in needles:
                    query = sa.text(f'SELECT count(*) FROM "{table}" WHERE "{name}" LIKE :n')
                    if connection.execute(query, {"n": f"%{needle}%"}).scalar():
                        hits.append((table, name, needle))
    return hits


SEALED_ROLES = {"spool": SPOOL_PDF, "cards": CHIP_ARCHIVE, "chips": CHIP_IMAGE}
"""The role each directory's sealed files were written under (``line.sealed``)."""


def file_hits(home: Path, needles: list[str]) -> list[tuple[str, str]]:
    """Every (file under ``home``, needle) whose bytes, or a PDF's page text, hold it; a file
    sealed at rest is searched as the centre's data key opens it (what a thief with the
    token would read), so the search does not pass merely because the bytes are sealed."""
    sealer = centre_sealer(Settings(home=home))
    hits = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if is_sealed(data):
            data = sealer.open(data, role=SEALED_ROLES[path.parent.name], name=path.name)
        texts = [data]
        if path.suffix == ".pdf":
            pdf = pdfium.PdfDocument(data)
            pages = [pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf))]
            texts.append(" ".join(pages).encode("utf-8"))
        for needle in needles:
            if any(needle.encode("utf-8") in text for text in texts):
                hits.append((str(path.relative_to(home)), needle))
    return hits


def secrets_of(person: Person) -> list[str]:
    return [
        person.id_number,
        person.full_name,
        *([person.old_id_number] * bool(person.old_id_number)),
    ]


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            table: [tuple(row) for row in connection.execute(sa.text(f'SELECT * FROM "{table}"'))]
            for table in ("application", "card", "stage_event", "stock_movement", "dispatch_batch")
        }


def test_a_purge_removes_exactly_the_old_delivered_cards_personal_data(
    tmp_path: Path, centre: Centre, capsys: pytest.CaptureFixture[str]
) -> None:
    groups = line_run(tmp_path, centre, capsys)
    before = people(centre)
    purged = [before[i] for i in groups["old"]]
    others = [before[i] for key in ("returned", "newer", "held") for i in groups[key]]
    needles = [s for p in purged for s in secrets_of(p)]
    assert text_hits(centre.engine(), needles)  # the search finds them before the purge
    spool = sorted((centre.home / "spool").glob("*.pdf"))
    assert spool and file_hits(centre.home, [p.full_name for p in purged])

    today = utc_now().astimezone(ZoneInfo(default_spec().calendar.timezone)).date()
    cutoff = today + timedelta(days=1)  # the old ones were delivered today, the newer later
    code, out, err = cli(capsys, "-q", "purge", "--delivered-before", cutoff.isoformat(), "--json")
    assert (code, err) == (0, "")
    summary = json.loads(out)
    assert summary["purged"] == 3
    assert summary["cards"] == [s for p in purged for s in p.serials]
    assert summary["kept"] == {"returned": 1, "held": 1, "newer": 1}
    assert summary["photos_outside_home"] == 3  # the intake's photos, outside the home
    # The batch PDF holds the other cards too: it stays, the purged cards' pages blank.
    assert (summary["batches_kept"], summary["batches_blanked"]) == (1, 1)

    after = people(centre)
    for p in purged:
        assert after[p.application_id].id_number == mask_id(p.id_number)
        assert after[p.application_id].full_name == ""
        assert after[p.application_id].serials == p.serials  # the cards stay
    for p in others:
        assert after[p.application_id] == p
    assert text_hits(centre.engine(), needles) == []
    assert file_hits(centre.home, needles) == []
    for p in purged:
        for serial in p.serials:
            assert not (centre.home / "cards" / f"{serial}.chip").exists()
            assert not (centre.home / "chips" / f"{serial}.vchip.json").exists()
    newer = before[groups["newer"][0]]
    assert (centre.home / "cards" / f"{newer.serials[-1]}.chip").is_file()
    assert file_hits(centre.home, [newer.full_name])  # its face is still in the batch PDF

    with session_scope(centre.engine()) as session:
        (row,) = session.exec(select(AuditEvent).where(AuditEvent.kind == "purge")).all()
        detail = json.loads(row.detail)
        assert (detail["applications"], detail["serials"]) == (3, summary["cards"])

    code, out, err = cli(capsys, "-q", "check")  # the books, every day, and the chains hold
    assert (code, err) == (0, "") and out.startswith("check: stock ledger and cards reconcile\n")
    assert "check: the hash chains hold" in out
    code, out, _ = cli(capsys, "-q", "card", "show", str(purged[0].application_id))
    assert code == 0 and "Personal data purged on" in out and purged[0].full_name not in out
    assert cli(capsys, "-q", "status")[0] == 0
    code, _, err = cli(
        capsys, "-q", "card", "return", purged[0].serials[-1], "--reason", "delivery.damaged"
    )
    assert code == 1 and err.count("\n") == 1 and "personal data was purged on" in err
    with session_scope(centre.engine()) as session:  # the daily report reads events only
        report = gather(
            session=session, spec=default_spec(), centre="HN1", at=utc_now(), target=10, days=7
        )
    assert report.counts.applications["delivered"] == 4
    pdf = render_report(out=tmp_path / "daily.pdf", report=report)
    assert "HN1" in " ".join(page_texts(pdf))

    # A second purge, through the installed command: nothing more to do, nothing changes.
    engine = centre.engine()
    frozen = snapshot(engine)
    cardline = Path(sys.executable).parent / "cardline"
    done = subprocess.run(
        [str(cardline), "-q", "purge", "--delivered-before", cutoff.isoformat()],
        env={**os.environ, **centre.env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[0].startswith("purge: purged 0 applications (0 cards) delivered before ")
    assert lines[0].endswith("; 0 files removed")
    assert lines[1] == "kept: 1 returned, 1 held, 1 delivered on or after the cut-off"
    assert snapshot(engine) == frozen


def test_a_dry_run_changes_nothing_and_the_default_retention_keeps_recent_cards(
    tmp_path: Path, centre: Centre, capsys: pytest.CaptureFixture[str]
) -> None:
    line_run(tmp_path, centre, capsys)
    engine = centre.engine()
    frozen = snapshot(engine)
    files = sorted(p for p in centre.home.rglob("*") if p.is_file() and "logs" not in p.parts)
    today = utc_now().astimezone(ZoneInfo(default_spec().calendar.timezone)).date()
    cutoff = today + timedelta(days=1)  # the old ones were delivered today, the newer later
    code, out, _ = cli(capsys, "-q", "purge", "--delivered-before", cutoff.isoformat(), "--dry-run")
    assert code == 0 and out.startswith("purge: would purge 3 applications (3 cards)")
    # 90 days of retention: every card here was delivered within them.
    code, out, _ = cli(capsys, "-q", "purge", "--json")
    assert code == 0
    assert json.loads(out)["purged"] == 0 and json.loads(out)["kept"]["newer"] == 4
    assert snapshot(engine) == frozen
    assert (
        sorted(p for p in centre.home.rglob("*") if p.is_file() and "logs" not in p.parts) == files
    )
    code, _, err = cli(capsys, "-q", "purge", "--delivered-before", "2026-13-01")
    assert code == 2 and "--delivered-before" in err and err.count("\n") == 1
