"""A purge of delivered cards' personal data, as ``cardline purge`` and the ``purge`` flow
run it: the leftovers of a purge that died after its commit first, then the database change
(``line.purge``, one transaction), then its files, then (SQLite) the database file rewritten
so that no copy of what was removed stays in its free pages or its write-ahead log.

On PostgreSQL the old row versions stay in the server's files until autovacuum reuses
their space, and in its WAL and backups: those are the database administrator's to expire
(the README says how).
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
from sqlalchemy.engine import Engine

from line.db import session_scope
from line.logsetup import get_logger
from line.purge import FilePlan, Home, PurgeResult, pending_plan, purge
from line.sealed import SPOOL_PDF, Sealer, is_sealed, read_sealed, write_sealed
from line.settings import Settings
from line.spec import LineSpec
from line.today import day_bounds

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class FilesDone:
    """What was done to the files of a plan."""

    removed: int = 0
    blanked: int = 0

    def __add__(self, other: FilesDone) -> FilesDone:
        return FilesDone(self.removed + other.removed, self.blanked + other.blanked)


def cutoff_of(*, spec: LineSpec, now: datetime, delivered_before: date | None) -> datetime:
    """The instant before which deliveries are purged: the start of ``delivered_before`` at
    the centre (the spec's time zone), else ``retention_days`` before ``now``."""
    if delivered_before is not None:
        return day_bounds(delivered_before, ZoneInfo(spec.calendar.timezone))[0]
    return now - timedelta(days=spec.retention_days)


def home_of(settings: Settings) -> Home:
    return Home(root=settings.home_dir, cards_dir=settings.cards_dir, chips_dir=settings.chips_dir)


SealerOf = Callable[[], Sealer]
"""Gives the centre's sealer (the data key, unwrapped through the token) when first needed."""


def blank_pages(pdf: Path, pages: list[int], sealer_of: SealerOf | None = None) -> bool:
    """Rewrite ``pdf`` with ``pages`` (0-based) replaced by blank pages of the same size: the
    other cards keep their page numbers. False if those pages were blank already. A batch
    PDF sealed at rest (``line.sealed``) is opened with the centre's data key and sealed
    again; a plaintext one (a home with no keys) stays plaintext."""
    sealer = sealer_of() if sealer_of is not None and is_sealed(pdf.read_bytes()) else None
    source = pdfium.PdfDocument(read_sealed(pdf, role=SPOOL_PDF, sealer=sealer))
    try:
        count = len(source)
        wanted = sorted({page for page in pages if 0 <= page < count})
        if all(not list(source[page].get_objects()) for page in wanted):
            return False
        out = pdfium.PdfDocument.new()
        for index in range(count):
            if index in wanted:
                width, height = source[index].get_size()
                out.new_page(width, height)
            else:
                out.import_pages(source, [index])
        buffer = io.BytesIO()
        out.save(buffer)
        out.close()
    finally:
        source.close()
    write_sealed(pdf, buffer.getvalue(), role=SPOOL_PDF, sealer=sealer)
    return True


def apply_files(plan: FilePlan, sealer_of: SealerOf | None = None) -> FilesDone:
    """Remove and blank what ``plan`` says; a file already gone is no error (idempotent)."""
    removed = blanked = 0
    for path in plan.remove:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    for pdf, pages in plan.blank.items():
        if pdf.is_file() and blank_pages(pdf, pages, sealer_of):
            blanked += 1
    return FilesDone(removed, blanked)


def compact(engine: Engine) -> bool:
    """SQLite: rebuild the file (``VACUUM``) and empty the write-ahead log, so that the
    values a purge overwrote survive neither in free pages nor in old WAL frames. False
    (and a warning) if another process kept the database busy past the busy timeout: the
    purge itself committed; the next purge that removes something compacts again."""
    if engine.dialect.name != "sqlite":
        return True
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    except sqlite3.OperationalError as exc:
        log.warning(
            "purge.not_compacted",
            error=str(exc)[:200],
            action="old values may stay in the SQLite file's free pages until a VACUUM",
        )
        return False
    finally:
        raw.close()
    return True


def run_purge(
    *,
    engine: Engine,
    settings: Settings,
    spec: LineSpec,
    now: datetime,
    actor: str,
    delivered_before: date | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Purge what the retention allows (see ``line.purge``); the summary, no personal data."""
    home = home_of(settings)

    def sealer_of() -> Sealer:
        from printers.atrest import centre_sealer

        return centre_sealer(settings)

    cutoff = cutoff_of(spec=spec, now=now, delivered_before=delivered_before)
    done = FilesDone()
    if not dry_run:
        with session_scope(engine) as session:
            leftover = pending_plan(session=session, home=home)
        if leftover is not None:
            done = apply_files(leftover, sealer_of)
            home.pending.unlink(missing_ok=True)
            log.info("purge.leftovers", removed=done.removed, blanked=done.blanked)
    with session_scope(engine) as session:
        result = purge(
            session=session, home=home, cutoff=cutoff, actor=actor, at=now, dry_run=dry_run
        )
    if not dry_run and result.purged:
        done = done + apply_files(result.files, sealer_of)
        home.pending.unlink(missing_ok=True)
        compacted = compact(engine)
    else:
        compacted = True
    summary = summarise(result, done)
    summary["compacted"] = compacted
    zone = ZoneInfo(spec.calendar.timezone)
    summary["cutoff_local"] = f"{result.cutoff.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"
    log.info(
        "purge.done",
        dry_run=dry_run,
        cutoff=summary["cutoff"],
        purged=summary["purged"],
        files_removed=done.removed,
        kept=summary["kept"],
    )
    return summary


def summarise(result: PurgeResult, done: FilesDone) -> dict[str, Any]:
    files = result.files
    return {
        "cutoff": result.cutoff.isoformat(),
        "dry_run": result.dry_run,
        "purged": len(result.purged),
        "cards": result.serials,
        "files_removed": sum(p.exists() for p in files.remove) if result.dry_run else done.removed,
        "batches_blanked": len(files.blank) if result.dry_run else done.blanked,
        "batches_kept": files.batches_kept,
        "photos_outside_home": files.photos_outside_home,
        "kept": result.kept,
    }


def describe(summary: dict[str, Any]) -> list[str]:
    """The summary as a manager reads it: what was purged, what stays and why."""
    verb = "would purge" if summary["dry_run"] else "purged"
    files = "would be removed" if summary["dry_run"] else "removed"
    lines = [
        f"purge: {verb} {summary['purged']} applications ({len(summary['cards'])} cards) "
        f"delivered before {summary['cutoff_local']}; {summary['files_removed']} files {files}"
    ]
    kept = summary["kept"]
    lines.append(
        f"kept: {kept['returned']} returned, {kept['held']} held, "
        f"{kept['newer']} delivered on or after the cut-off"
    )
    if summary["batches_kept"]:
        lines.append(
            f"print batches: {summary['batches_kept']} still hold cards not purged yet "
            f"({summary['batches_blanked']} {'would have' if summary['dry_run'] else 'had'} "
            "the purged cards' pages blanked); each goes "
            "with the purge of its last card"
        )
    if not summary.get("compacted", True):
        lines.append(
            "database: busy, not compacted: old values may stay in the SQLite file's free "
            "pages until the next purge that removes something (or a VACUUM)"
        )
    if summary["photos_outside_home"]:
        lines.append(
            f"photos: {summary['photos_outside_home']} lie outside the cardline home (the "
            "intake's source files): left where they are"
        )
    return lines
