"""The tamper-evident record: a hash chain through each append-only table.

``stage_event``, ``stock_movement`` and ``audit_event`` are append-only (the database
refuses UPDATE and DELETE), but whoever holds the database itself can lift a trigger. So
each row also carries ``row_hash = SHA-256(prev_hash, canonical content)``, where
``prev_hash`` is the ``row_hash`` of the row before it in the same table (:data:`GENESIS`
for the first): a row changed, deleted or slipped in afterwards no longer links, and
:func:`verify` names the first row where the chain breaks.

The content is every column but ``id`` and the two hash columns, as JSON with sorted keys
(:func:`canonical`): enums by value, datetimes in UTC ISO form. The id is not in it: the
database assigns it at INSERT, after the hash is made. The chain's order is therefore the
id order, and :func:`link_new_rows` keeps the two the same: it runs before every flush
(registered on the session class in ``line.db``), locks every table's :class:`ChainHead`
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's writers are serialised by its
``BEGIN IMMEDIATE``) before any chained INSERT of the transaction, and links the new rows
in the order they were added, which is the order the ORM inserts them and so their ids.
A second writer waits on the heads until the first commits, then takes ids after its.

The heads are locked together, in one order, so two writers never wait on each other's
heads. The price: writers of chained rows take turns from their first chained flush to
their commit (measured per row by ``bench/chain.py``).

What this does not stop: someone with the database and this module recomputing every hash
after their change, heads included. Keep a copy of the heads ``cardline check`` prints (a
daily report, another system) to catch that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm.attributes import instance_state
from sqlmodel import Session, SQLModel

from line.errors import CardlineError
from line.models import ChainHead

CHAINED_TABLES = ("stage_event", "stock_movement", "audit_event")
"""The append-only tables a chain runs through."""

GENESIS = "0" * 64
"""The ``prev_hash`` of each table's first row."""

NOT_CONTENT = frozenset({"id", "prev_hash", "row_hash"})
"""Columns outside the hashed content: the id (given by the database after the hash is
made) and the chain's own two."""

_HEAD = ChainHead.__table__  # type: ignore[attr-defined]
_BATCH = 2000


# --- the hash of a row ------------------------------------------------------------------------


def _plain(value: Any, column: str) -> Any:
    """``value`` as a JSON value that reads back the same from either database."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:  # most columns: fast
        return value
    if isinstance(value, Enum):
        return _plain(value.value, column)
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{column}: cannot put a {type(value).__name__} in the hash chain")


def canonical(table: str, values: Mapping[str, Any]) -> bytes:
    """The content of one row of ``table``: its columns but those of :data:`NOT_CONTENT`,
    as compact UTF-8 JSON with sorted keys (a naive datetime is UTC: SQLite's)."""
    row = {name: _plain(value, name) for name, value in values.items() if name not in NOT_CONTENT}
    text = json.dumps(
        {"table": table, "row": row}, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return text.encode("utf-8")


def row_hash(prev_hash: str, table: str, values: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the previous row's hash and this row's canonical content."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(table, values))
    return digest.hexdigest()


# --- linking rows as they are written ------------------------------------------------------


_HEADS = "SELECT table_name, last_hash, row_count FROM chain_head ORDER BY table_name"
_LOCK_HEADS = {
    # Prepared once (statements built per flush cost more than the rest of the chain);
    # SQLite has no FOR UPDATE: its writers are serialised by BEGIN IMMEDIATE.
    "sqlite": sa.text(_HEADS),
    "postgresql": sa.text(_HEADS + " FOR UPDATE"),
}
_MOVE_HEAD = sa.text(
    "UPDATE chain_head SET last_hash = :last, row_count = :rows WHERE table_name = :name"
)


def _locked_heads(connection: sa.Connection) -> dict[str, tuple[str, int]]:
    """Every chain's head, locked for the rest of the transaction (made if missing)."""
    query = _LOCK_HEADS.get(connection.dialect.name, _LOCK_HEADS["postgresql"])
    heads = {name: (last, count) for name, last, count in connection.execute(query)}
    missing = [name for name in CHAINED_TABLES if name not in heads]
    if missing:  # a schema made without the migrations' heads: start those chains
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        rows = [{"table_name": name, "last_hash": GENESIS, "row_count": 0} for name in missing]
        connection.execute(dialect.insert(_HEAD).values(rows).on_conflict_do_nothing())
        heads = {name: (last, count) for name, last, count in connection.execute(query)}
    return heads


def _table_of(obj: object) -> str | None:
    name = getattr(type(obj), "__tablename__", None)
    return name if isinstance(name, str) else None


def _content(obj: object) -> dict[str, Any]:
    state = instance_state(obj)
    return {attr.columns[0].name: getattr(obj, attr.key) for attr in state.mapper.column_attrs}


def _insert_order(obj: object) -> int:
    return instance_state(obj).insert_order or 0


def link_new_rows(session: Session, _context: Any = None, _instances: Any = None) -> None:
    """Before a flush: give each new row of a chained table its ``prev_hash`` and
    ``row_hash``, in the order the rows were added, and move the heads on."""
    chained = sorted((o for o in session.new if _table_of(o) in CHAINED_TABLES), key=_insert_order)
    if not chained:
        return
    connection = session.connection()
    heads = _locked_heads(connection)
    moved: set[str] = set()
    for obj in chained:
        table = _table_of(obj) or ""
        if obj.id is not None:
            raise CardlineError(
                f"{table}: a new row's id is the database's to give (the chain runs in id order)"
            )
        prev, count = heads[table]
        digest = row_hash(prev, table, _content(obj))
        obj.prev_hash, obj.row_hash = prev, digest
        heads[table] = (digest, count + 1)
        moved.add(table)
    for table in sorted(moved):
        last, count = heads[table]
        connection.execute(_MOVE_HEAD, {"last": last, "rows": count, "name": table})


def chain_existing_rows(connection: sa.Connection, table: str) -> int:
    """Link the rows ``table`` already holds, in id order, and set its head; returns how
    many. For migrations, with the table's append-only triggers lifted."""
    reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
    prev, params = GENESIS, []
    for row in connection.execute(sa.select(reflected).order_by(reflected.c.id)):
        values = dict(row._mapping)
        digest = row_hash(prev, table, values)
        params.append({"row": values["id"], "prev": prev, "hash": digest})
        prev = digest
    if params:
        connection.execute(
            reflected.update()
            .where(reflected.c.id == sa.bindparam("row"))
            .values(prev_hash=sa.bindparam("prev"), row_hash=sa.bindparam("hash")),
            params,
        )
    connection.execute(_HEAD.delete().where(_HEAD.c.table_name == table))
    connection.execute(
        _HEAD.insert().values(table_name=table, last_hash=prev, row_count=len(params))
    )
    return len(params)


# --- verifying ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """The first row where one table's chain breaks, and how."""

    table: str
    row_id: int | None
    what: str

    def __str__(self) -> str:
        where = self.table if self.row_id is None else f"{self.table} row {self.row_id}"
        return f"{where}: {self.what}"


@dataclass(frozen=True, slots=True)
class Verification:
    """What :func:`verify` found: the problems (none: every chain holds) and, per table
    whose chain holds, its rows and the hash of its last (worth writing down elsewhere)."""

    problems: list[Problem] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    last_hashes: dict[str, str] = field(default_factory=dict)


def _table(session: Session, name: str) -> sa.Table:
    """The table as the models declare it (reflected, if its package's models are not
    imported: ``line`` imports nothing of ``inventory``)."""
    table = SQLModel.metadata.tables.get(name)
    return (
        table
        if table is not None
        else sa.Table(name, sa.MetaData(), autoload_with=session.connection())
    )


def _readable(column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    """Enums read as their stored text: a value an attacker wrote that is no member must
    still be hashed (and found out), not fail the read."""
    if isinstance(column.type, sa.Enum):
        return sa.type_coerce(column, sa.String()).label(column.name)
    return column


@dataclass
class _Walk:
    table: str
    head: tuple[str, int] | None
    prev: str = GENESIS
    rows: int = 0
    last_id: int | None = None
    after_head: int | None = None  # the first row after the head's last row

    def step(self, values: dict[str, Any]) -> Problem | None:
        row_id, prev_hash, digest = values["id"], values["prev_hash"], values["row_hash"]
        if digest is None or prev_hash is None:
            return Problem(self.table, row_id, "has no hash: it was not written by cardline")
        if prev_hash != self.prev:
            before = "the chain's start" if self.last_id is None else f"row {self.last_id}"
            return Problem(
                self.table, row_id,
                f"does not link to {before}: a row between them was deleted, or this one "
                "was inserted or its prev_hash changed",
            )  # fmt: skip
        if row_hash(prev_hash, self.table, values) != digest:
            return Problem(
                self.table, row_id,
                "its content does not match its hash: a column was changed after it was "
                "written, or the hash forged",
            )  # fmt: skip
        if self.head is not None and self.after_head is None and self.rows == self.head[1]:
            self.after_head = row_id
        self.prev, self.rows, self.last_id = digest, self.rows + 1, row_id
        return None

    def against_head(self) -> Problem | None:
        """The walked chain's end against the head the writers left."""
        if self.head is None:
            if self.rows == 0:
                return None
            return Problem(self.table, None, "has rows but no chain head: written behind cardline")
        last_hash, count = self.head
        if (last_hash, count) == (self.prev, self.rows):
            return None
        if self.rows < count:
            return Problem(
                self.table, self.last_id,
                f"{count - self.rows} row(s) after it are missing: the chain's head records "
                f"{count} rows, the table holds {self.rows}",
            )  # fmt: skip
        if self.rows > count and self.after_head is not None:
            return Problem(
                self.table, self.after_head,
                "comes after the chain's recorded head: added behind cardline's back",
            )  # fmt: skip
        return Problem(
            self.table, self.last_id,
            f"the chain ends here, not at its recorded head ({count} rows, {last_hash[:12]}…)",
        )  # fmt: skip


def _verify_table(session: Session, name: str, head: tuple[str, int] | None) -> _Walk | Problem:
    table = _table(session, name)
    query = (
        sa.select(*(_readable(column) for column in table.columns))
        .order_by(table.c.id)
        .execution_options(yield_per=_BATCH)
    )
    walk = _Walk(name, head)
    result = session.execute(query)
    try:
        for row in result:
            problem = walk.step(dict(row._mapping))
            if problem is not None:
                return problem
    except (LookupError, ValueError, TypeError) as exc:
        return Problem(name, None, f"the row after row {walk.last_id} cannot be read: {exc}")
    finally:
        result.close()
    return walk.against_head() or walk


def verify(*, session: Session, tables: Iterable[str] = CHAINED_TABLES) -> Verification:
    """Walk each table's chain in id order; per table, the first broken row (if any).

    Run it in one snapshot (:func:`verify_engine` opens one): rows committed while it
    walks would otherwise not match the heads it read."""
    heads = {
        name: (last, count)
        for name, last, count in session.execute(
            sa.select(_HEAD.c.table_name, _HEAD.c.last_hash, _HEAD.c.row_count)
        )
    }
    found = Verification()
    for name in tables:
        outcome = _verify_table(session, name, heads.get(name))
        if isinstance(outcome, Problem):
            found.problems.append(outcome)
        else:
            found.rows[name] = outcome.rows
            found.last_hashes[name] = outcome.prev
    return found


def verify_engine(engine: Engine) -> Verification:
    """:func:`verify` in a read-only transaction of its own that sees one snapshot of the
    database (PostgreSQL: REPEATABLE READ; SQLite: a deferred transaction, which in WAL
    mode leaves the writers free while it walks)."""
    from line.db import READ_ONLY  # line.db imports this module for its listener

    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with (
        engine.connect().execution_options(**options) as connection,
        Session(bind=connection) as session,
    ):
        return verify(session=session)
