"""Engines and sessions. The engine comes from a factory, never a module global.

The schema's history (Alembic migrations of every package's tables) is the top-level
``schema`` package, above ``line`` and ``inventory``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from line.chain import link_new_rows
from line.errors import CardlineError
from line.files import keep_private

SUPPORTED_DATABASES = {
    "sqlite": "sqlite:///PATH",
    "postgresql": "postgresql+psycopg://USER@HOST:5432/DB",
}
"""The databases cardline runs on, with the form of their URL."""


class DatabaseUrlError(CardlineError):
    """A database URL cardline cannot use (unknown database, driver not installed...)."""


def _supported(url: str) -> sa.URL:
    """``url`` parsed, if cardline can open it; else ``DatabaseUrlError`` saying why."""
    forms = "; ".join(f"{name}: {form}" for name, form in SUPPORTED_DATABASES.items())
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise DatabaseUrlError(
            f"database URL {_shown(url)!r} is not a URL ({forms}; set CARDLINE_DB_URL)"
        ) from exc
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_DATABASES:
        raise DatabaseUrlError(
            f"database URL {shown!r}: {backend} is not supported; cardline runs on {forms} "
            "(set CARDLINE_DB_URL)"
        )
    driver = parsed.get_driver_name()
    try:
        dialect = parsed.get_dialect()
        dialect.import_dbapi()
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        raise DatabaseUrlError(
            f"database URL {shown!r}: the {backend} driver {driver!r} is not installed "
            f"(use {SUPPORTED_DATABASES[backend]})"
        ) from exc
    if getattr(dialect, "is_async", False):
        raise DatabaseUrlError(
            f"database URL {shown!r}: {driver} is an asyncio driver; cardline needs a "
            f"synchronous one ({SUPPORTED_DATABASES[backend]})"
        )
    return parsed


def _shown(url: str) -> str:
    """A URL that could not be parsed, for a message: short, and without what looks like a
    password (``user:secret@``)."""
    return re.sub(r"(//[^/:@]*):[^@/]*@", r"\1:***@", url)[:200]


def _private_sqlite_file(url: sa.URL) -> None:
    """Create the SQLite file 0600 before SQLite does (it would follow the umask); SQLite
    gives its -wal, -shm and -journal files the database file's mode."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    if not path.parent.is_dir():
        raise DatabaseUrlError(
            f"database URL {url.render_as_string(hide_password=True)!r}: no directory "
            f"{str(path.parent)!r} for the SQLite file"
        )
    keep_private(path)  # by name: never an open and close of a file SQLite holds locks on
    for suffix in ("-wal", "-shm", "-journal"):
        sibling = path.with_name(path.name + suffix)
        if sibling.exists():
            keep_private(sibling)


READ_ONLY = "cardline_read_only"
"""A connection's execution option: it only reads (on SQLite its transactions then begin
deferred, not IMMEDIATE, and take no write lock)."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``: SQLite gets foreign keys, WAL and a busy timeout, and its file
    is owner-only. Raises ``DatabaseUrlError`` for a URL of a database cardline does not
    run on or whose driver is not installed."""
    parsed = _supported(url)
    if parsed.get_backend_name() == "sqlite":
        _private_sqlite_file(parsed)
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = sa.create_engine(url, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _: Any) -> None:
            # SQLAlchemy's documented recipe: let SQLAlchemy, not the driver, begin
            # transactions, and begin them IMMEDIATE, so that two writers never both read
            # and then fail to upgrade to a write lock (stock reservations rely on it).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # 64 MiB of page cache (the default is 2 MiB): index inserts of a big intake
            # stay in memory instead of re-reading pages.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            # A reader that asked for it (READ_ONLY) begins deferred: in WAL mode it reads
            # one snapshot and the writers go on meanwhile.
            read_only = connection.get_execution_options().get(READ_ONLY, False)
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


class ValueOutOfRange(CardlineError):
    """A value the database would refuse (PostgreSQL) or keep wider than its column says
    (SQLite): a string longer than its column, an integer beyond the column's range."""

    def __init__(self, message: str, *, table: str, column: str) -> None:
        super().__init__(message, table=table, column=column)
        self.table = table
        self.column = column


_INTEGER_LIMITS: tuple[tuple[type[sa.types.TypeEngine[Any]], int], ...] = (
    (sa.SmallInteger, 2**15 - 1),
    (sa.BigInteger, 2**63 - 1),
    (sa.Integer, 2**31 - 1),
)


def _limit(column_type: Any) -> int | None:
    for kind, limit in _INTEGER_LIMITS:
        if isinstance(column_type, kind):
            return limit
    return None


def _check_values(session: Session, _context: Any, _instances: Any) -> None:
    """Before a flush: every value written fits its column, the same on both databases.
    PostgreSQL refuses a string longer than its VARCHAR and an integer beyond its type, with
    a driver error naming neither field nor value; SQLite keeps them. Here both refuse
    with ``ValueOutOfRange`` naming the field."""
    for instance in (*session.new, *session.dirty):
        state = sa.inspect(instance)
        loaded = state.dict  # only what is loaded: no lazy loads inside a flush
        table = state.mapper.local_table.name
        for attribute in state.mapper.column_attrs:
            value = loaded.get(attribute.key)
            if value is None or isinstance(value, bool):
                continue
            column = attribute.columns[0]
            length = getattr(column.type, "length", None)
            if isinstance(value, str) and length is not None and len(value) > length:
                raise ValueOutOfRange(
                    f"{attribute.key}: at most {length} characters (got {len(value)})",
                    table=table, column=attribute.key,
                )  # fmt: skip
            limit = _limit(column.type)
            if isinstance(value, int) and limit is not None and not -limit - 1 <= value <= limit:
                raise ValueOutOfRange(
                    f"{attribute.key}: {value} is out of range (at most {limit})",
                    table=table, column=attribute.key,
                )  # fmt: skip


sa.event.listen(Session, "before_flush", _check_values)
# After the values are checked: the new rows of the append-only tables join their hash chain.
sa.event.listen(Session, "before_flush", link_new_rows)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
