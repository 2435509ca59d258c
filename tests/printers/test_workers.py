"""Two workers run the line at once on one PostgreSQL database: no card is processed twice,
every application gets exactly one good card, stock and cards reconcile, and the record's
hash chains hold."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import queue
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.conftest import PG_URL, TODAY


def _worker(
    url: str,
    home: str,
    keys: str,
    results: multiprocessing.Queue[dict[str, object]],
    ready: multiprocessing.Queue[int],
    go: multiprocessing.synchronize.Event,
) -> None:
    from flows.wiring import build_line
    from line.controller import LineController
    from line.db import make_engine
    from line.settings import Settings
    from line.spec import default_spec
    from line.types import utc_now

    settings = Settings(
        home=Path(home), db_url=url, keys_dir=Path(keys), printer="spool", render_processes=0
    )  # type: ignore[call-arg]
    engine = make_engine(url)
    line = build_line(settings=settings, spec=default_spec(), engine=engine, clock=utc_now)
    try:
        controller = LineController(
            engine=engine, spec=default_spec(), devices=line.devices, clock=utc_now,
            actor=f"worker-{Path(home).name}", archive=line.archive, stock=line.stock,
        )  # fmt: skip
        ready.put(1)
        go.wait(60)  # both workers start together, so both take part
        results.put(controller.run(batch_size=4).as_dict())
    finally:
        line.close()


@pytest.mark.postgres
def test_two_workers_never_take_the_same_card(pg_admin: Engine, tmp_path: Path) -> None:
    from inventory.check import reconcile
    from inventory.ledger import receive
    from line.chain import verify_engine
    from line.db import make_engine, session_scope
    from line.intake import import_file
    from line.synthetic import write_csv
    from printers.keys import init_test_keys
    from schema import upgrade
    from tests.factories import good_rows, photo_file

    schema = f"cardline_workers_{uuid.uuid4().hex[:8]}"
    with pg_admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        photo_file(tmp_path / "in" / "photos", "a.jpg")
        photo_file(tmp_path / "in" / "photos", "b.png")
        write_csv(tmp_path / "in" / "batch.csv", good_rows(24, seed=77))
        now = lambda: datetime.now(UTC)  # noqa: E731
        summary = import_file(
            engine=engine,
            path=tmp_path / "in" / "batch.csv",
            today=TODAY,
            clock=now,
            rejects_dir=tmp_path,
        )
        init_test_keys(tmp_path / "keys", now=now())
        with session_scope(engine) as session:
            receive(
                session=session,
                item_code="chip",
                lot_number="W-1",
                supplier="Chip Co",
                quantity=100,
                first_uid="04F10000000001",
                at=now(),
                actor="test",
            )
        context = multiprocessing.get_context("spawn")
        results: multiprocessing.Queue[dict[str, object]] = context.Queue()
        ready: multiprocessing.Queue[int] = context.Queue()
        go = context.Event()
        workers = [
            context.Process(
                target=_worker,
                args=(url, str(tmp_path / f"home{n}"), str(tmp_path / "keys"), results, ready, go),
            )
            for n in range(2)
        ]
        for worker in workers:
            worker.start()
        waiting = len(workers)  # imported, connected, devices built: then both go at once
        deadline = time.monotonic() + 120
        while waiting:
            try:
                waiting -= ready.get(timeout=1)
            except queue.Empty:
                crashed = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
                assert not crashed, (
                    f"a worker failed while starting (exit {crashed}); see its output"
                )
                assert time.monotonic() < deadline, "the workers did not start"
        go.set()
        outcomes = []
        deadline = time.monotonic() + 240
        while len(outcomes) < len(workers):
            try:
                outcomes.append(results.get(timeout=1))
            except queue.Empty:
                crashed = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
                assert not crashed, f"a worker failed (exit {crashed})"
                assert time.monotonic() < deadline, "the workers did not finish"
        for worker in workers:
            worker.join(timeout=30)
            assert worker.exitcode == 0
        started = sum(int(o["started"]) for o in outcomes)  # type: ignore[call-overload]
        passed = sum(int(o["passed"]) for o in outcomes)  # type: ignore[call-overload]
        assert passed == summary.accepted
        with engine.connect() as connection:
            cards = connection.execute(sa.text("SELECT count(*) FROM card")).scalar_one()
            per_app = connection.execute(
                sa.text(
                    "SELECT application_id, count(*) FROM card WHERE state <> 'spoiled' GROUP BY application_id HAVING count(*) > 1"
                )
            ).all()
            states = dict(
                connection.execute(
                    sa.text("SELECT state, count(*) FROM application GROUP BY state")
                ).all()
            )
        assert cards == started, "every card started is counted by exactly one worker"
        assert per_app == [] and states == {"qc_passed": summary.accepted}
        assert all(int(o["started"]) > 0 for o in outcomes), "both workers took part"  # type: ignore[call-overload]
        with session_scope(engine) as session:
            assert reconcile(session=session) == []
        # Both workers' stage events and movements make one unbroken chain per table.
        assert verify_engine(engine).problems == []
    finally:
        engine.dispose()
        with pg_admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
