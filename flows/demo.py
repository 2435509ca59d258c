"""``cardline demo``: the main job for a new user, end to end on synthetic data.

Synthetic applications (with some bad rows) are imported, then every approved application
goes through print (PDFs in the spool), chip-encode (signed LDS on a virtual chip) and QC
(read back and verified), with rework of what fails. Later issues extend it through
dispatch, stock and simulation.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from flows.wiring import build_line
from inventory.cover import cover
from inventory.ledger import receive, register_consumables
from inventory.models import StockLot
from line.controller import LineController, RunSummary
from line.db import make_engine, session_scope, upgrade
from line.devices import PrintedFace
from line.intake import import_file
from line.kpi import status_counts
from line.logsetup import get_logger
from line.models import Application, Card
from line.settings import Settings
from line.spec import spec_in_use
from line.synthetic import BAD_KINDS, people, spoil, write_csv, write_photos
from line.types import ApplicationState, Clock
from printers.keys import KeyPaths, init_test_keys

log = get_logger("cardline.demo")

Echo = Callable[[str], None]


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
    keys = KeyPaths.in_directory(settings.keys_path)
    if not keys.ds_key.exists():
        init_test_keys(settings.keys_path, now=clock())
        echo(f"keys      TEST CSCA and Document Signer made in {settings.keys_path}")
    spec = spec_in_use(settings.line_spec)
    first_delivery = not _has_chip_stock(engine) and settings.chip_stock == "ledger"
    if first_delivery:
        # Chips ran short in 2021: the first delivery covers three quarters of the backlog.
        _deliver(engine, clock, "VN-DEMO-A", 3 * count // 4, "04C10000000001", echo)
        with session_scope(engine) as session:
            register_consumables(
                session=session,
                consumables=spec.consumables,
            )
            for code, supply in spec.consumables.items():
                rolls = -(-2 * count // supply.cards_per_unit)  # enough for every card twice
                receive(
                    session=session, item_code=code, lot_number=f"{code.upper()}-DEMO",
                    supplier="Printer supplies (demo)", quantity=rolls, at=clock(),
                    actor="demo-storekeeper",
                )  # fmt: skip
                echo(f"stock     {rolls} {supply.unit}(s) of {supply.name} delivered")
    line = build_line(settings=settings, spec=spec, engine=engine, clock=clock)
    try:
        controller = LineController(
            engine=engine,
            spec=spec,
            devices=line.devices,
            clock=clock,
            actor=f"cardline-demo@{settings.centre}",
            archive=line.archive,
            stock=line.stock,
        )
        run = controller.run(batch_size=50)
        _echo_run(run, echo)
        if run.waiting_for_chips:
            groups = ", ".join(spec.allocation.priority_groups) or "-"
            echo(
                f"shortage  {run.waiting_for_chips} approved applications wait for a chip; "
                f"allocation policy '{spec.allocation.policy}' (first: {groups})"
            )
            with session_scope(engine) as session:
                served = _served_by_group(session)
            echo("          got a card so far: " + "; ".join(served))
            with session_scope(engine) as session:
                chip = next(c for c in cover(session=session, now=clock()) if c.item == "chip")
            echo(f"stock     chip: {chip.state}: {chip.reason}")
        if first_delivery:
            _deliver(engine, clock, "VN-DEMO-B", count // 2, "04C10000100001", echo)
            run = controller.run(batch_size=50)
            _echo_run(run, echo, resumed=True)
    finally:
        line.close()
    with session_scope(engine) as session:
        counts = status_counts(session=session)
        example = session.exec(
            select(Card, Application)
            .join(Application, col(Application.id) == Card.application_id)
            .where(Card.qc_result == "passed")
            .order_by(col(Card.id).desc())
        ).first()
    pdfs = sorted(settings.spool_dir.glob("*.pdf"))
    if pdfs:
        echo(
            f"printed   {len(pdfs)} print-ready PDFs in {settings.spool_dir}, e.g. {pdfs[-1].name}"
        )
    if example is not None:
        card, application = example
        face = PrintedFace(
            card.serial, Path(card.print_pdf or ""), card.front_page or 0, card.back_page or 0
        )
        out = home / "demo" / f"export-{card.serial}"
        files = line.archive.export(card.serial, face, out)
        echo(
            f"card      {card.serial}: chip {card.chip_uid}, QC {card.qc_result}; "
            f"exported {len(files)} files to {out}"
        )
        echo("          (front.pdf, back.pdf, mrz.txt, EF.COM, DG1, DG2, DG13, SOD)")
        echo(f"          cardline card show {application.id}")
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


def _has_chip_stock(engine: Engine) -> bool:
    with session_scope(engine) as session:
        return (
            session.exec(select(StockLot).where(StockLot.item_code == "chip")).first() is not None
        )


def _deliver(
    engine: Engine, clock: Clock, lot: str, quantity: int, first_uid: str, echo: Echo
) -> None:
    with session_scope(engine) as session:
        receive(
            session=session, item_code="chip", lot_number=lot, supplier="Imported chips (demo)",
            quantity=quantity, first_uid=first_uid, at=clock(), actor="demo-storekeeper",
        )  # fmt: skip
    echo(f"stock     {quantity} chips delivered (lot {lot}, UIDs from {first_uid})")


def _echo_run(run: RunSummary, echo: Echo, *, resumed: bool = False) -> None:
    spoiled = ", ".join(f"{reason} {n}" for reason, n in sorted(run.spoiled.items())) or "none"
    echo(
        f"line      {'resumed: ' if resumed else ''}{run.started} card bodies through print, "
        f"chip-encode and QC: {run.passed} passed, spoiled {spoiled} (reworked on new cards)"
    )


def _served_by_group(session: Session) -> list[str]:
    rows = session.exec(
        select(Application.priority_group, Application.state, sa.func.count()).group_by(
            Application.priority_group, Application.state
        )
    ).all()
    served: dict[str, list[int]] = {}
    for group, state, number in rows:
        entry = served.setdefault(group or "others", [0, 0])
        entry[1] += number
        if state is not ApplicationState.APPROVED:
            entry[0] += number
    return [f"{group} {done}/{total}" for group, (done, total) in sorted(served.items())]
