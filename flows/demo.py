"""``cardline demo``: the main job for a new user, end to end on synthetic data.

Synthetic applications (with some bad rows) are imported, then every approved application
goes through print (PDFs in the spool), chip-encode (signed LDS on a virtual chip) and QC
(read back and verified), with rework of what fails; chips run short, the shortage monitor
raises the alarm, a delivery arrives and the line resumes; cards are dispatched and the
daily report is made. Each step is a Prefect flow, as a centre runs it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from flows.archive import CardArchive
from inventory.ledger import receive, register_consumables
from inventory.models import StockLot
from line.db import make_engine, session_scope
from line.devices import PrintedFace
from line.dispatch import deliver
from line.events import QC_PASSED
from line.files import private_dir
from line.kpi import status_counts
from line.logsetup import get_logger
from line.models import Application, Card, DispatchBatch, StageEvent
from line.operators import os_user
from line.settings import Settings
from line.spec import LineSpec, spec_in_use
from line.synthetic import BAD_KINDS, people, spoil, write_csv, write_photos
from line.types import ApplicationState, Clock, EventKind, Outcome, Stage
from printers.atrest import centre_sealer
from printers.ceremony import TEST_CUSTODIANS, init_ceremony
from printers.keys import KeyPaths
from schema import upgrade

log = get_logger("cardline.demo")

Echo = Callable[[str], None]


def make_demo_file(directory: Path, *, count: int, seed: int, today: date) -> tuple[Path, int]:
    """A CSV of ``count`` good applications plus one bad row of each kind and a repeat, in
    ``directory`` (owner-only: synthetic, but shaped like personal data)."""
    private_dir(directory)
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
    prefect_at: str,
) -> None:
    """The whole line as Prefect flows: intake, production (until chips run out), the
    shortage monitor, a chip delivery (stock-receipt), production again, dispatch, and the
    daily report. ``prefect_at`` says where the flow runs can be seen."""
    from flows.daily import daily_report, dispatch_flow
    from flows.production import production
    from flows.stock_flows import stock_receipt

    home = settings.ensure_home()
    engine = make_engine(settings.database_url)
    before, after = upgrade(engine)
    where = engine.url.render_as_string(hide_password=True)
    echo(f"database  {where} (schema {before or 'empty'} -> {after})")
    summary = _intake(home, count=count, seed=seed, today=today, echo=echo, at=prefect_at)
    _keys(settings, engine, clock, echo)
    spec = spec_in_use(settings.line_spec)
    first_delivery = not _has_chip_stock(engine) and settings.chip_stock == "ledger"
    if first_delivery:
        # Chips ran short in 2021: the first delivery covers three quarters of the backlog.
        _deliver(stock_receipt, "VN-DEMO-A", 3 * count // 4, "04C10000000001", echo)
        _supplies(engine, spec, count, clock, echo)
    run = production(batch_size=50)
    _echo_run(run, echo)
    if run["waiting_for_chips"]:
        _shortage(engine, spec, run, echo)
    if first_delivery:
        _deliver(stock_receipt, "VN-DEMO-B", count // 2, "04C10000100001", echo)
        _echo_run(production(batch_size=50), echo, resumed=True)
    batches = dispatch_flow(max_cards=500)
    if batches:
        echo(
            f"dispatch  flow 'dispatch': {sum(b['cards'] for b in batches)} cards in "
            f"{len(batches)} batches to police stations; manifests in "
            f"{Path(batches[0]['manifest']).parent}"
        )
    report = daily_report(target=count, days=7, campaign="demo")
    echo(f"report    flow 'daily-report': {report['report']}")
    _results(settings, engine, echo)
    if batches and first_delivery:  # the first run only: a delivered applicant may apply again
        _purge(engine, spec, [b["code"] for b in batches], clock, echo, settings.centre)
    _reconcile(settings, engine, spec, clock, echo)
    echo(f"rejects   {summary['reject_report']}")
    echo(f"logs      {settings.log_file}")
    echo(
        "look      the Prefect UI: flow runs intake, production, shortage-monitor, "
        "stock-receipt, dispatch, daily-report, purge, with their artifacts "
        "(<centre>-cards-per-state, <centre>-<station>-production-run, <centre>-stock, "
        "<centre>-dispatch, <centre>-applications-per-state, <centre>-demo-daily-summary, "
        "<centre>-demo-progress, <centre>-reconcile, <centre>-purge)"
    )
    echo("next      cardline status | cardline card show <12-digit ID> | cardline machine list")


def _reconcile(
    settings: Settings, engine: Engine, spec: LineSpec, clock: Clock, echo: Echo
) -> None:
    """The day ends as a centre's does: every process and chip lot reconciled (what
    ``cardline reconcile --pdf`` shows), on the terminal and on a sheet to sign."""

    from flows.reconcile import gather, terminal_lines
    from flows.reconcile_pdf import render_reconciliation

    zone = ZoneInfo(spec.calendar.timezone)
    day = clock().astimezone(zone).date()
    with session_scope(engine) as session:
        report = gather(
            session=session, centre=settings.centre, zone=zone, first=day, last=day, at=clock()
        )
    pdf = render_reconciliation(
        out=settings.home_dir / "reports" / f"reconcile-{day:%Y-%m-%d}.pdf", report=report
    )
    for line in terminal_lines(report):
        echo(f"reconcile {line}")
    echo(f"reconcile sheet to sign: {pdf}")


def _intake(
    home: Path, *, count: int, seed: int, today: date, echo: Echo, at: str
) -> dict[str, Any]:
    """The demo's file made and imported by the intake flow."""
    from flows.intake_flow import intake

    path, bad = make_demo_file(home / "demo", count=count, seed=seed, today=today)
    echo(f"made      {path} ({count} applications, {bad} deliberately bad or repeated rows)")
    log.info("demo.intake", file=path.name, seed=seed)
    echo(f"prefect   flows run in {at}")
    summary: dict[str, Any] = intake(path=str(path))
    echo(
        f"intake    flow 'intake': {summary['rows']} rows: {summary['accepted']} accepted, "
        f"{summary['rejected']} rejected, {summary['duplicates']} duplicates"
        + ("  (already imported: intake is idempotent)" if summary["accepted"] == 0 else "")
    )
    return summary


def _keys(settings: Settings, engine: Engine, clock: Clock, echo: Echo) -> None:
    """TEST keys, the first time: a key ceremony with two generated TEST shares (a CSCA
    offline, a Document Signer in the token, the data key of personal data at rest)."""
    keys = KeyPaths.from_settings(settings)
    if keys.ds_cert.exists():
        return
    with session_scope(engine) as session:
        init_ceremony(
            session=session,
            paths=keys,
            custodians=TEST_CUSTODIANS,
            shares=None,
            now=clock(),
            actor=f"{os_user()}@{settings.centre}",
        )
    echo(
        f"keys      TEST CSCA and Document Signer made in {settings.keys_path} "
        f"(DS key in token '{keys.token.label}', CSCA key offline in {keys.csca_key.parent}, "
        "encrypted under two generated TEST custodian shares kept beside it)"
    )


def _supplies(engine: Engine, spec: LineSpec, count: int, clock: Clock, echo: Echo) -> None:
    """Ribbon and film for every card twice, delivered by the storekeeper."""
    with session_scope(engine) as session:
        register_consumables(session=session, consumables=spec.consumables)
        for code, supply in spec.consumables.items():
            rolls = -(-2 * count // supply.cards_per_unit)
            receive(
                session=session, item_code=code, lot_number=f"{code.upper()}-DEMO",
                supplier="Printer supplies (demo)", quantity=rolls, at=clock(),
                actor="demo-storekeeper",
            )  # fmt: skip
            echo(f"stock     {rolls} {supply.unit}(s) of {supply.name} delivered")


def _shortage(engine: Engine, spec: LineSpec, run: dict[str, Any], echo: Echo) -> None:
    """Who waits for chips, who got them first, and what the shortage monitor says."""
    from flows.stock_flows import shortage_monitor

    groups = ", ".join(spec.allocation.priority_groups) or "-"
    echo(
        f"shortage  {run['waiting_for_chips']} approved applications wait for a chip; "
        f"allocation policy '{spec.allocation.policy}' (first: {groups})"
    )
    with session_scope(engine) as session:
        served = _served_by_group(session)
    echo("          got a card so far: " + "; ".join(served))
    chip = next(item for item in shortage_monitor() if item["item"] == "chip")
    echo(
        f"monitor   flow 'shortage-monitor': chip {chip['state']}: {chip['reason']} "
        f"(event cardline.stock.{'out' if chip['state'] != 'low' else 'low'})"
    )


def _results(settings: Settings, engine: Engine, echo: Echo) -> None:
    """What the line made: the print batches (sealed), one card exported, the counts."""
    with session_scope(engine) as session:
        counts = status_counts(session=session)
        example = session.exec(
            select(Card, Application)
            .join(Application, col(Application.id) == Card.application_id)
            .join(StageEvent, col(StageEvent.card_id) == Card.id)  # the QC verdict's event
            .where(
                StageEvent.stage == Stage.QC,
                StageEvent.kind == EventKind.OUTCOME,
                StageEvent.outcome == Outcome.OK,
            )
            .order_by(col(Card.id).desc())
        ).first()
    pdfs = sorted(settings.spool_dir.glob("*.pdf"))
    if pdfs:
        echo(
            f"printed   {len(pdfs)} print batches in {settings.spool_dir}, e.g. {pdfs[-1].name} "
            "(encrypted at rest; the export below is the plaintext)"
        )
    if example is not None:
        _export(settings, *example, echo)
    echo(
        "status    applications: "
        + ", ".join(f"{k} {v}" for k, v in counts.applications.items() if v)
    )
    echo(
        "          cards: "
        + (", ".join(f"{k} {v}" for k, v in counts.cards.items() if v) or "none yet")
    )


def _export(settings: Settings, card: Card, application: Application, echo: Echo) -> None:
    face = PrintedFace(
        card.serial, Path(card.print_pdf or ""), card.front_page or 0, card.back_page or 0
    )
    out = settings.home_dir / "demo" / f"export-{card.serial}"
    archive = CardArchive(settings.cards_dir, sealer=centre_sealer(settings))
    files = archive.export(card.serial, face, out)
    echo(
        f"card      {card.serial}: chip {card.chip_uid}, QC {QC_PASSED}; "
        f"exported {len(files)} files to {out}"
    )
    echo(f"          ({', '.join(path.name for path in files)})")
    echo(
        f"          its chip opens with BAC from the MRZ printed on the card: "
        f"cardline chip serve --card {card.serial}"
    )
    echo(f"          cardline card show {application.id}")


def _purge(
    engine: Engine, spec: LineSpec, codes: list[str], clock: Clock, echo: Echo, centre: str
) -> None:
    """Retention: two stations confirm their batches as delivered, and the purge flow
    removes those citizens' personal data with an explicit cut-off of tomorrow (demo time:
    a centre's purge waits ``retention_days`` after delivery, and a delivery is never
    recorded before its dispatch). The card just exported is not among them."""
    from flows.purge_flow import purge_flow

    zone = ZoneInfo(spec.calendar.timezone)
    tomorrow = clock().astimezone(zone).date() + timedelta(days=1)
    with session_scope(engine) as session:
        newest = session.exec(  # the batch of the card _results exported
            select(Card.dispatch_batch_id)
            .where(col(Card.dispatch_batch_id).is_not(None))
            .order_by(col(Card.id).desc())
        ).first()
        chosen = [
            code
            for code in codes
            if session.exec(select(DispatchBatch.id).where(DispatchBatch.code == code)).one()
            != newest
        ][:2]
        for code in chosen:
            deliver(session=session, code=code, actor=f"{os_user()}@{centre}", at=clock())
    summary = purge_flow(delivered_before=tomorrow.isoformat())
    kept = summary["kept"]
    echo(
        f"purge     flow 'purge': {len(chosen)} batches confirmed delivered, purged with the "
        f"cut-off {tomorrow} (demo time; a centre's purge takes cards delivered more than "
        f"retention_days={spec.retention_days} days ago): {summary['purged']} citizens' "
        f"personal data removed, {summary['files_removed']} files removed, "
        f"{summary['batches_blanked']} print batches' pages blanked; kept {kept['newer']} "
        f"delivered later, {kept['returned']} returned, {kept['held']} held"
    )
    if summary["cards"]:
        echo(f"          cardline card show {summary['cards'][0][1:11].lstrip('0')}")


def _has_chip_stock(engine: Engine) -> bool:
    with session_scope(engine) as session:
        return (
            session.exec(select(StockLot).where(StockLot.item_code == "chip")).first() is not None
        )


def _deliver(receipt: Any, lot: str, quantity: int, first_uid: str, echo: Echo) -> None:
    receipt(lot=lot, supplier="Imported chips (demo)", quantity=quantity, first_uid=first_uid)
    echo(
        f"stock     flow 'stock-receipt': {quantity} chips delivered (lot {lot}, "
        f"UIDs from {first_uid})"
    )


def _echo_run(run: dict[str, Any], echo: Echo, *, resumed: bool = False) -> None:
    spoiled = ", ".join(f"{reason} {n}" for reason, n in sorted(run["spoiled"].items())) or "none"
    echo(
        f"line      flow 'production': {'resumed: ' if resumed else ''}{run['started']} card "
        f"bodies through print, chip-encode and QC: {run['passed']} passed, spoiled {spoiled} "
        "(reworked on new cards)"
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
