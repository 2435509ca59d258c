"""Shared fixtures.

Databases are real: a fresh SQLite file per test, and a fresh schema per test in the
PostgreSQL server this machine runs (127.0.0.1:5432, user postgres, database ``test``,
trust auth; ``make test`` starts it when it is installed but stopped). Set
``CARDLINE_TEST_PG_URL`` to use another server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from line.db import make_engine
from schema import upgrade

# Prefect reads PREFECT_HOME when it first needs it: before any test imports it, point it at
# a directory of this test session's own. Otherwise an in-process flow run (Prefect's
# ephemeral server) would share ~/.prefect/prefect.db with every other run on the machine,
# and wait on whoever holds its lock. A server a test needs, it starts itself.
_PREFECT_HOME = tempfile.mkdtemp(prefix="cardline-tests-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
for _name in ("PREFECT_API_URL", "PREFECT_PROFILES_PATH"):
    os.environ.pop(_name, None)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_PREFECT_HOME, ignore_errors=True)


PG_URL = os.environ.get("CARDLINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TODAY = date(2026, 11, 1)


class StepClock:
    """A clock that moves one step forward every time it is read."""

    def __init__(self, start: datetime, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Each test starts from structlog's defaults, whatever an earlier CLI test configured."""
    import logging

    import structlog

    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()


@pytest.fixture
def today() -> date:
    return TODAY


@pytest.fixture
def clock() -> StepClock:
    return StepClock(datetime(2026, 11, 1, 8, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL} ({exc.orig}); `make test` starts the "
            "local server, or set CARDLINE_TEST_PG_URL",
            pytrace=False,
        )
    yield engine
    engine.dispose()


def _pg_engine(pg_admin: Engine) -> Iterator[Engine]:
    schema = f"cardline_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with pg_admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def empty_sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'cardline.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def empty_pg(pg_admin: Engine) -> Iterator[Engine]:
    yield from _pg_engine(pg_admin)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest) -> Engine:
    """An empty database of each kind, no schema yet."""
    name = "empty_sqlite" if request.param == "sqlite" else "empty_pg"
    engine: Engine = request.getfixturevalue(name)
    return engine


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """A database of each kind with the schema made by the migrations."""
    upgrade(empty_engine)
    return empty_engine


@pytest.fixture
def sqlite_engine(empty_sqlite: Engine) -> Engine:
    upgrade(empty_sqlite)
    return empty_sqlite
