"""``cardline demo``: the main job for a new user, end to end on synthetic data.

Later issues extend it through print, encode, QC, dispatch, stock and simulation.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from pathlib import Path

from line.db import make_engine, session_scope, upgrade
from line.intake import import_file
from line.kpi import status_counts
from line.logsetup import get_logger
from line.settings import Settings
from line.synthetic import BAD_KINDS, people, spoil, write_csv, write_photos
from line.types import Clock

log = get_logger("cardline.demo")


def make_demo_file(directory: Path, *, count: int, seed: int, today: date) -> tuple[Path, int]:
    """A CSV of ``count`` good applications plus one bad row of each kind and a repeat."""
    rng = random.Random(seed)
    photos = [f"photos/{name}" for name in write_photos(rng, directory / "photos", min(count, 500))]
    good = list(people(rng, count, today=today, photos=photos))
    rows = [person.row() for person in good]
    bad = [spoil(rng, rng.choice(good), kind, today=today) for kind in BAD_KINDS]
    bad.append(dict(rows[0]))  # the same person twice in one file
    for row in bad:
        rows.insert(rng.randrange(1, len(rows)), row)
    path = directory / f"applications-seed{seed}.csv"
    write_csv(path, rows)
    return path, len(bad)


def run_demo(
    *,
    settings: Settings,
    count: int,
    seed: int,
    today: date,
    clock: Clock,
    echo: Callable[[str], None],
) -> None:
    home = settings.ensure_home()
    engine = make_engine(settings.database_url)
    before, after = upgrade(engine)
    where = engine.url.render_as_string(hide_password=True)
    echo(f"database  {where} (schema {before or 'empty'} -> {after})")

    path, bad = make_demo_file(home / "demo", count=count, seed=seed, today=today)
    echo(f"made      {path} ({count} applications, {bad} deliberately bad or repeated rows)")
    log.info("demo.intake", file=path.name, seed=seed)
    summary = import_file(
        engine=engine, path=path, today=today, clock=clock, rejects_dir=settings.rejects_dir
    )
    echo(
        f"intake    {summary.rows} rows: {summary.accepted} accepted, {summary.rejected} rejected, "
        f"{summary.duplicates} duplicates"
        + ("  (already imported: intake is idempotent)" if summary.accepted == 0 else "")
    )
    with session_scope(engine) as session:
        counts = status_counts(session=session)
    echo(
        "status    applications: "
        + ", ".join(f"{k} {v}" for k, v in counts.applications.items() if v)
    )
    echo(
        "          cards: "
        + (", ".join(f"{k} {v}" for k, v in counts.cards.items() if v) or "none yet")
    )
    echo(f"rejects   {summary.reject_report}")
    echo(f"logs      {settings.log_file}")
    echo("next      cardline status | cardline card show <12-digit ID> | cardline spec show")
