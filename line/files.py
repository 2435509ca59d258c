"""Files that hold personal data or keys: owner-only, whatever the process's umask.

Directories are 0700 and files 0600. Every path that writes such a file goes through
these helpers, which set the mode themselves (``os.open`` with the mode, then ``fchmod``):
under ``umask 000`` a plain ``open`` or ``mkdir`` would make them readable by everyone.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import IO, Any

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_OTHERS = 0o077


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Make ``path`` a directory only its owner can enter, with any missing parents (made
    0700 too); return it. ``tighten``: an existing ``path`` is narrowed to 0700 as well
    (cardline's own directories); without it an existing directory (one the user named, such
    as an export's destination) keeps its mode."""
    path = Path(path)
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            if not folder.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(folder)) from None
            continue  # made by someone else meanwhile: theirs, leave its mode
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is masked by the umask
    if tighten and path not in missing:
        _narrow(path, PRIVATE_DIR)
    return path


def _narrow(path: Path, mode: int) -> None:
    """Take group and other access away from ``path`` when it has some and is ours."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    if status.st_mode & _OTHERS and status.st_uid == os.geteuid():
        os.chmod(path, mode)


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists as a file only its owner can read or write, without
    changing its content: for a library that opens the file by name itself (SQLite, a PDF
    writer, a log handler), so that it finds the file with the right mode already."""
    path = Path(path)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        if os.fstat(descriptor).st_mode & _OTHERS:
            os.fchmod(descriptor, PRIVATE_FILE)
    finally:
        os.close(descriptor)
    return path


def keep_private(path: Path) -> Path:
    """Like :func:`private_file`, but never opens a file that exists already: it is
    narrowed by name (``chmod``). On Linux, closing *any* descriptor of a file drops every
    POSIX lock this process holds on it, so opening and closing a SQLite database another
    engine of the process has open would drop that engine's locks (SQLite's own warning)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return private_file(path)
    if mode & _OTHERS:
        os.chmod(path, PRIVATE_FILE)
    return path


_FLAGS = {
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
}


def open_private(
    path: Path, mode: str = "w", *, encoding: str | None = None, newline: str | None = None
) -> IO[Any]:
    """``open(path, mode)`` for writing (``w``, ``a``, ``x``, with ``b`` for bytes), the file
    created 0600 (an existing one is narrowed to 0600)."""
    kind = mode.replace("b", "")
    if kind not in _FLAGS:
        raise ValueError(f"open_private writes only (w, a, x), not {mode!r}")
    descriptor = os.open(path, _FLAGS[kind] | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE)
        if "b" in mode:
            return os.fdopen(descriptor, mode)
        return os.fdopen(descriptor, mode, encoding=encoding or "utf-8", newline=newline)
    except BaseException:
        os.close(descriptor)
        raise


def write_private(
    path: Path, data: bytes | str, *, encoding: str = "utf-8", durable: bool = True
) -> Path:
    """Write ``data`` to ``path`` atomically (a 0600 temporary file in the same directory,
    flushed, renamed over ``path``): a reader sees the old file or the new one, whole.
    ``durable``: synced to disk first (off for files a crash may lose, for speed)."""
    path = Path(path)
    content = data.encode(encoding) if isinstance(data, str) else data
    temporary = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    with open_private(temporary, "xb") as handle:
        try:
            handle.write(content)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    os.replace(temporary, path)
    return path


def is_private(path: Path) -> bool:
    """Neither group nor others have any access to ``path``."""
    return not Path(path).stat().st_mode & _OTHERS
