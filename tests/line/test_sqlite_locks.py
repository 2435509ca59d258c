"""A second engine on the same SQLite file, in the same process, must not drop the first
one's locks. On Linux, closing any descriptor of a file drops every POSIX lock the process
holds on it: ``make_engine`` used to open and close the database file (to make it
owner-only), which silently released another engine's write lock, and another process could
then write in the middle of a transaction that believed it held the database."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from line.db import make_engine
from line.files import keep_private

WRITER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
try:
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO t VALUES (2)")
    db.execute("COMMIT")
    print("wrote")
except sqlite3.OperationalError as exc:
    print(exc)
"""


def other_process_writes(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(path)], capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip()


def test_a_second_engine_leaves_the_first_ones_write_lock_in_place(tmp_path: Path) -> None:
    path = tmp_path / "cardline.db"
    first = make_engine(f"sqlite:///{path}")
    with first.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    with first.begin() as holder:  # BEGIN IMMEDIATE (line.db): the write lock
        holder.execute(sa.text("INSERT INTO t VALUES (1)"))
        assert other_process_writes(path) == "database is locked"  # the lock is held
        second = make_engine(f"sqlite:///{path}")  # another engine in the same process
        with second.connect():
            pass
        assert other_process_writes(path) == "database is locked", "the first lock was dropped"
    second.dispose()
    assert other_process_writes(path) == "wrote"
    first.dispose()
    with sqlite3.connect(path) as db:
        assert [row[0] for row in db.execute("SELECT x FROM t ORDER BY x")] == [1, 2]


def test_keep_private_narrows_an_existing_file_by_name_and_creates_a_missing_one(
    tmp_path: Path,
) -> None:
    existing = tmp_path / "open.db"
    existing.write_bytes(b"data")
    existing.chmod(0o644)
    keep_private(existing)
    assert existing.stat().st_mode & 0o777 == 0o600 and existing.read_bytes() == b"data"
    missing = tmp_path / "new.db"
    keep_private(missing)
    assert missing.stat().st_mode & 0o777 == 0o600 and missing.read_bytes() == b""
