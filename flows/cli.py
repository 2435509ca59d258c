"""The ``cardline`` command line: the edge where settings, clock, database and logging are wired.

Domain functions raise domain errors; here they become one clear line on stderr and a
non-zero exit code. Prefect is not imported on this path (it costs a second per start).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer

from line.errors import CardlineError, NotFound
from line.reasons import RETURN_REASONS
from line.settings import Settings
from line.types import MAX_DB_INTEGER, ApplicationState, utc_now

app = typer.Typer(
    name="cardline",
    help="Run and plan the production line of chip ID cards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
card_app = typer.Typer(help="One application and its cards.", no_args_is_help=True)
spec_app = typer.Typer(
    help="The line spec (stations, times, yields, calendar).", no_args_is_help=True
)
keys_app = typer.Typer(
    help="The CSCA and Document Signer that sign the chips.", no_args_is_help=True
)
chip_app = typer.Typer(help="Virtual chips.", no_args_is_help=True)
stock_app = typer.Typer(help="Chip stock and consumables.", no_args_is_help=True)
machine_app = typer.Typer(help="The line's machines: in and out of service.", no_args_is_help=True)
app.add_typer(machine_app, name="machine")
app.add_typer(stock_app, name="stock")
app.add_typer(db_app, name="db")
app.add_typer(card_app, name="card")
app.add_typer(spec_app, name="spec")
app.add_typer(keys_app, name="keys")
app.add_typer(chip_app, name="chip")


@dataclass
class Context:
    settings: Settings

    def engine(self) -> sa.Engine:
        from line.db import make_engine

        return make_engine(self.settings.database_url)

    def ready_engine(self) -> sa.Engine:
        """An engine whose schema is at the head revision (or a clear error)."""
        from schema import require_current_schema

        engine = self.engine()
        require_current_schema(engine)
        return engine


def _ctx(ctx: typer.Context) -> Context:
    obj = ctx.find_root().obj
    assert isinstance(obj, Context)
    return obj


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=None, default=str))


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@app.callback()
def _main(
    ctx: typer.Context,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log debug lines on the console.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Log only warnings on the console.")
    ] = False,
) -> None:
    from line.logsetup import configure_logging

    settings = Settings()
    settings.ensure_home()
    level = "DEBUG" if verbose else "WARNING" if quiet else settings.log_level.upper()
    if level not in LOG_LEVELS:
        raise CardlineError(
            f"CARDLINE_LOG_LEVEL: {settings.log_level!r} is not a log level "
            f"({', '.join(LOG_LEVELS)})"
        )
    if ctx.invoked_subcommand == "demo" and not verbose:
        level = "WARNING"  # the demo prints its own story; the full log is in the file
    configure_logging(log_file=settings.log_file, console_level=level)
    ctx.obj = Context(settings=settings)


# --- db -------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the schema, or bring it up to date (Alembic migrations)."""
    from schema import upgrade

    c = _ctx(ctx)
    engine = c.engine()
    before, after = upgrade(engine)
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        typer.echo(f"database {where} is up to date (revision {after})")
    else:
        typer.echo(f"database {where}: {before or 'empty'} -> {after}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the schema revision of the database and the one this cardline needs."""
    from schema import current_revision, head_revision

    engine = _ctx(ctx).engine()
    typer.echo(f"current: {current_revision(engine) or '(none)'}  head: {head_revision()}")


# --- intake ---------------------------------------------------------------------------------


@app.command()
def intake(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or JSON Lines file of approved applications.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the name).")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Where to write the reject report (CSV).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, max=50_000, help="Rows per transaction.")
    ] = 10_000,
) -> None:
    """Import approved applications; bad rows go to a reject report, the rest go in."""
    from line.intake import IntakeFile, import_file

    if fmt not in (None, "csv", "jsonl"):
        raise typer.BadParameter("must be csv or jsonl", param_hint="--format")
    if rejects is not None:
        _writable_path(rejects, "--rejects")
    c = _ctx(ctx)
    # Refuse an unreadable file before touching the database.
    IntakeFile(file, fmt).close()  # type: ignore[arg-type]
    engine = c.ready_engine()
    summary = import_file(
        engine=engine,
        path=file,
        today=_today(c.settings),
        clock=utc_now,
        rejects_dir=c.settings.rejects_dir,
        reject_report=rejects,
        fmt=fmt,  # type: ignore[arg-type]
        batch_size=batch_size,
    )
    if as_json:
        _echo_json(summary.as_dict())
        return
    typer.echo(
        f"{Path(summary.source).name}: {summary.rows} rows: {summary.accepted} accepted, "
        f"{summary.rejected} rejected, {summary.duplicates} duplicates"
    )
    typer.echo(f"reject report: {summary.reject_report}")


# --- status ---------------------------------------------------------------------------------


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Applications and cards per state."""
    from inventory.cover import cover
    from line.db import session_scope
    from line.kpi import status_counts
    from line.machines import machines

    engine = _ctx(ctx).ready_engine()
    with session_scope(engine) as session:
        counts = status_counts(session=session)
        stock = cover(
            session=session, now=utc_now(), backlog=counts.applications[ApplicationState.APPROVED]
        )
        out = [m for m in machines(session=session) if not m.in_service]
    if as_json:
        _echo_json(
            {
                **counts.as_dict(),
                "stock": [entry.as_dict() for entry in stock],
                "machines_out_of_service": [
                    {"name": m.name, "stage": m.stage, "reason": m.reason} for m in out
                ],
            }
        )
        return
    apps = list(counts.applications.items())
    cards = list(counts.cards.items())
    typer.echo(f"{'applications':<24}{'cards':<24}")
    for index in range(max(len(apps), len(cards))):
        left = f"  {apps[index][0]:<13}{apps[index][1]:>8}" if index < len(apps) else ""
        right = f"  {cards[index][0]:<13}{cards[index][1]:>8}" if index < len(cards) else ""
        typer.echo(f"{left:<24}{right}")
    typer.echo(
        f"  {'total':<13}{counts.total_applications:>8}    {'total':<13}{counts.total_cards:>8}"
    )
    for entry in stock:
        days = "-" if entry.days_of_cover is None else f"{entry.days_of_cover:.1f}"
        typer.echo(
            f"stock {entry.item}: {entry.available} available, {entry.reserved} reserved, "
            f"days of cover {days}: {entry.state} ({entry.reason})"
        )
    for m in out:
        typer.echo(
            f"machine {m.name} ({m.stage}) OUT OF SERVICE since {m.changed_at:%Y-%m-%d %H:%M} "
            f"UTC: {m.reason or '-'} (cardline machine in {m.name})"
        )


# --- card -----------------------------------------------------------------------------------


def _history_of(c: Context, key: str) -> tuple[list[Any], Any]:
    """The applications a key (12-digit ID or application number) names, newest first, and
    the history of the newest; NotFound if none."""
    from line.db import session_scope
    from line.idnumber import mask_id
    from line.kpi import find_applications, history

    with session_scope(c.ready_engine()) as session:
        found = find_applications(session=session, key=key)
        if not found:
            shown = mask_id(key) if len(key) >= 9 else key  # an ID number, or not personal
            raise NotFound(f"no application for {shown!r}")
        assert found[0].id is not None
        return found, history(session=session, application_id=found[0].id)


@card_app.command("show")
def card_show(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(metavar="ID", help="12-digit personal ID or application number.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """One application's history: its data, its cards, every stage event."""
    from line.logsetup import get_logger

    found, shown = _history_of(_ctx(ctx), key)
    # The log keeps who looked at which application; the processor masks the number.
    get_logger("cardline.card").info("card.show", application_id=shown.application.id, key=key)
    from flows.render import history_json, history_text

    if as_json:
        _echo_json(history_json(shown, other_applications=[a.id for a in found[1:]]))
    else:
        typer.echo(history_text(shown, other_applications=[a.id for a in found[1:]]))


@card_app.command("export")
def card_export(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(metavar="ID", help="12-digit personal ID or application number.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the files to.")],
) -> None:
    """Write what was made for the application's latest card: faces, MRZ, chip files."""
    from flows.archive import CardArchive
    from line.devices import PrintedFace
    from line.logsetup import get_logger

    c = _ctx(ctx)
    _, shown = _history_of(c, key)
    if not shown.cards:
        raise NotFound(f"application {shown.application.id} has no card yet")
    latest = shown.cards[-1]
    face = None
    if (
        latest.print_pdf is not None
        and latest.front_page is not None
        and latest.back_page is not None
    ):
        face = PrintedFace(
            latest.serial, Path(latest.print_pdf), latest.front_page, latest.back_page
        )
    written = CardArchive(c.settings.cards_dir).export(latest.serial, face, out)
    get_logger("cardline.card").info(
        "card.export", application_id=shown.application.id, card_serial=latest.serial
    )
    typer.echo(f"card {latest.serial} ({latest.state.value}): {len(written)} files in {out}")
    for path in written:
        typer.echo(f"  {path.name}")


# --- run ------------------------------------------------------------------------------------


@app.command("run")
def run_line(
    ctx: typer.Context,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Cards per print batch.")
    ] = 100,
    limit: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_DB_INTEGER, help="Stop after starting this many cards."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    resume_after: Annotated[
        int,
        typer.Option(
            min=0,
            max=366 * 86400,
            help="Seconds a card must lie untouched mid-line before this run takes it over "
            "(another worker may be busy with younger ones).",
        ),
    ] = 300,
    without_prefect: Annotated[
        bool,
        typer.Option(
            "--without-prefect",
            help="Drive the line directly, with no flow run (when Prefect itself is down).",
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            max=7 * 86400,
            metavar="SECONDS",
            help="While another run drives this station's machines, wait this long for them "
            "(0: say which run holds them and exit 1).",
        ),
    ] = 0,
) -> None:
    """Take approved applications through print, chip-encode and QC (rework included).

    Runs the Prefect production flow: against PREFECT_API_URL when it is set, else in
    Prefect's ephemeral mode (no server to start). The run holds a lease on its machines
    (print, encode and QC of CARDLINE_STATION) in the database until it ends.
    """
    _not_nan(wait, "--wait")
    c = _ctx(ctx)
    c.ready_engine()  # a missing schema is one clear line, before Prefect starts
    spec = _load_spec(c.settings)
    if without_prefect:
        summary = _run_directly(c, batch_size, limit, resume_after, wait)
        where = None
    else:
        if not wait:  # a busy or stopped station is one line, before Prefect starts
            _station_free(c)
        from flows.prefect_env import prepare_prefect

        where = prepare_prefect(c.settings, quiet=as_json or _quiet(ctx))
        from flows.production import production

        summary = production(
            batch_size=batch_size,
            limit=limit,
            resume_after_seconds=resume_after,
            machine_wait_seconds=wait,
        )
    if as_json:
        _echo_json(summary)
        return
    spoiled = ", ".join(f"{k} {v}" for k, v in sorted(summary["spoiled"].items())) or "none"
    faults = ", ".join(f"{k} {v}" for k, v in sorted(summary["device_faults"].items())) or "none"
    typer.echo(
        f"run: {summary['started']} cards started in {summary['batches']} batches; "
        f"{summary['printed']} printed, {summary['encoded']} encoded, "
        f"{summary['passed']} passed QC, {summary['held']} held for a manager"
    )
    typer.echo(f"     spoiled: {spoiled}; device faults: {faults}")
    if summary.get("held_for"):
        held = ", ".join(f"{k} {v}" for k, v in sorted(summary["held_for"].items()))
        typer.echo(
            f"     held for a manager: {held} (cardline card show ID says why; "
            "cardline card release / card cancel decide)"
        )
    for item, missing in sorted(summary["supplies_missing"].items()):
        typer.echo(
            f"     {item}: {missing} unit(s) needed but not in stock (cardline stock status)"
        )
    if summary.get("waiting_for_supplies"):
        items = " and ".join(sorted(summary["supplies_missing"])) or "supplies"
        typer.echo(
            f"     stopped short of {items} (print.supplies_out): "
            f"{summary['waiting_for_supplies']} approved applications wait"
        )
    if summary["waiting_for_chips"]:
        typer.echo(
            f"     stopped short of chips: {summary['waiting_for_chips']} approved applications "
            f"wait for one (policy {spec.allocation.policy}; see cardline stock status)"
        )
    if where:
        typer.echo(f"     flow run 'production' recorded in {where}")


def _not_nan(value: float, option: str) -> None:
    """Typer's range checks compare, and NaN compares false with everything: refuse it."""
    if value != value:
        raise typer.BadParameter("is not a number", param_hint=option)


def _station_free(c: Context) -> None:
    """Raise ``MachineOutOfService`` or ``MachinesBusy`` if this worker's machines cannot be
    driven now (the flow would find it too, after Prefect's start and with its tracebacks)."""
    from flows.wiring import machine_names
    from line.db import session_scope
    from line.leases import MachinesBusy, leases, worker_identity
    from line.machines import require_in_service

    names = machine_names(c.settings)
    actor = worker_identity("cardline-run", c.settings.centre)
    with session_scope(c.ready_engine()) as session:
        now = utc_now()
        require_in_service(session=session, machines=names, actor=actor, at=now)
        statuses = leases(session=session, at=now)
    held = [status for name, status in statuses.items() if name in names and status.held]
    if held:
        raise MachinesBusy(held)


def _quiet(ctx: typer.Context) -> bool:
    return bool(ctx.find_root().params.get("quiet"))


def _run_directly(
    c: Context, batch_size: int, limit: int | None, resume_after: int, wait: float = 0
) -> Any:
    from flows.wiring import build_line
    from line.controller import LineController
    from line.db import session_scope
    from line.leases import hold, worker_identity
    from line.machines import require_in_service

    engine = c.ready_engine()
    spec = _load_spec(c.settings)
    line = build_line(settings=c.settings, spec=spec, engine=engine, clock=utc_now)
    actor = worker_identity("cardline-run", c.settings.centre)
    machines = line.devices.machines
    try:
        # The machines' lease first (another run may hold them: wait, or say who does),
        # then the manager's word: one may have been taken out while this run waited.
        with hold(
            engine=engine, machines=machines, holder=actor, clock=utc_now,
            wait=timedelta(seconds=wait),
        ) as held:  # fmt: skip
            with session_scope(engine) as session:
                require_in_service(session=session, machines=machines, actor=actor, at=utc_now())
            controller = LineController(
                engine=engine,
                spec=spec,
                devices=line.devices,
                clock=utc_now,
                actor=actor,
                archive=line.archive,
                stock=line.stock,
                resume_after=timedelta(seconds=resume_after),
                screen=line.screen,
            )
            summary = controller.run(batch_size=batch_size, limit=limit, before_batch=held.check)
            return summary.as_dict()
    finally:
        line.close()


# --- machines -------------------------------------------------------------------------------


@machine_app.command("list")
def machine_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the machines as JSON.")] = False,
) -> None:
    """The machines runs have driven, which are out of service (and why), and which run
    drives each one now (its lease)."""
    from dataclasses import asdict

    from line.db import session_scope
    from line.leases import leases
    from line.machines import machines

    now = utc_now()
    with session_scope(_ctx(ctx).ready_engine()) as session:
        found = machines(session=session)
        held = {name: s for name, s in leases(session=session, at=now).items() if s.held}
    if as_json:
        _echo_json(
            [
                asdict(m)
                | {
                    "lease": {
                        "holder": held[m.name].holder,
                        "since": held[m.name].acquired_at,
                        "renewed_at": held[m.name].renewed_at,
                        "expires_at": held[m.name].expires_at,
                    }
                    if m.name in held
                    else None
                }
                for m in found
            ]
        )
        return
    if not found:
        typer.echo("no machines yet (a run registers the machines it drives)")
    for m in found:
        state = "in service" if m.in_service else "OUT OF SERVICE"
        typer.echo(
            f"{m.name:<14} {m.stage:<12} {state:<15} since {m.changed_at:%Y-%m-%d %H:%M} UTC "
            f"by {m.changed_by}" + (f": {m.reason}" if m.reason else "")
        )
        if (lease := held.get(m.name)) is not None:
            typer.echo(
                f"{'':<14} driven now by {lease.holder} since {lease.acquired_at:%Y-%m-%d %H:%M:%S}"
                f" UTC (lease until {lease.expires_at:%H:%M:%S} UTC unless renewed)"
            )


@machine_app.command("out")
def machine_out(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Machine name, e.g. print-01.")],
    reason: Annotated[str, typer.Option(help="Why it is taken out.")],
    stage: Annotated[
        str,
        typer.Option(
            help="Its stage, for a new machine whose name does not say it (print-02, "
            "encode-02 and qc-02 do)."
        ),
    ] = "",
) -> None:
    """Take a machine out of service: no run drives it until it is put back. A machine no
    run has named yet is registered, at the stage its name says (or --stage)."""
    from line.db import session_scope
    from line.machines import check_name, stage_of, take_out
    from line.models import Machine
    from line.types import Stage

    check_name(name)
    if not reason.strip():
        raise typer.BadParameter("say why the machine is taken out", param_hint="--reason")
    stages = ", ".join(s.value for s in Stage)
    if stage and stage not in {s.value for s in Stage}:
        raise typer.BadParameter(f"must be one of {stages}", param_hint="--stage")
    c = _ctx(ctx)
    with session_scope(c.ready_engine()) as session:
        known = session.get(Machine, name)
        where = Stage(stage) if stage else Stage(known.stage) if known else stage_of(name)
        if where is None:
            raise CardlineError(
                f"machine {name!r} is new and its name does not say its stage: give --stage "
                f"(one of {stages})"
            )
        take_out(
            session=session, name=name, stage=where, reason=reason,
            actor=f"cli@{c.settings.centre}", at=utc_now(),
        )  # fmt: skip
    typer.echo(f"{name}: out of service ({reason})")


@machine_app.command("in")
def machine_in(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Machine name, e.g. print-01.")],
    note: Annotated[str, typer.Option(help="What was done to it.")] = "",
) -> None:
    """Put a repaired machine back in service."""
    from line.db import session_scope
    from line.machines import check_name, put_back

    check_name(name)
    c = _ctx(ctx)
    with session_scope(c.ready_engine()) as session:
        put_back(
            session=session, name=name, actor=f"cli@{c.settings.centre}", at=utc_now(),
            note=note,
        )  # fmt: skip
    typer.echo(f"{name}: back in service")


# --- dispatch and delivery -----------------------------------------------------------------


@app.command("dispatch")
def dispatch_cards(
    ctx: typer.Context,
    max_cards: Annotated[
        int, typer.Option(min=1, max=MAX_DB_INTEGER, help="Cards per batch at most.")
    ] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print the batches as JSON.")] = False,
) -> None:
    """Group passed cards by police station into batches, each with a manifest PDF."""
    from flows.dispatching import dispatch_batch, ready_batches

    c = _ctx(ctx)
    engine = c.ready_engine()
    spec = _load_spec(c.settings)
    made = [
        dispatch_batch(
            engine=engine,
            settings=c.settings,
            destination=destination,
            serials=serials,
            rework_limit=spec.rework_limit,
            actor=f"cli@{c.settings.centre}",
        )  # fmt: skip
        for destination, serials in ready_batches(engine=engine, max_cards=max_cards)
    ]
    if as_json:
        _echo_json(made)
        return
    if not made:
        typer.echo("dispatch: no passed cards wait for dispatch")
    for batch in made:
        typer.echo(
            f"{batch['code']}: {batch['cards']} cards for {batch['destination']}, "
            f"manifest {batch['manifest']}"
        )


@app.command("deliver")
def deliver_batch(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Dispatch batch code (from its manifest's QR).")],
) -> None:
    """The police station confirms it received a batch: its cards are delivered."""
    from line.db import session_scope
    from line.dispatch import deliver

    c = _ctx(ctx)
    with session_scope(c.ready_engine()) as session:
        batch = deliver(session=session, code=code, actor=f"station:{code[1:9]}", at=utc_now())
        typer.echo(f"{batch.code}: delivered ({batch.cards} cards) to {batch.destination}")


@card_app.command("return")
def card_return(
    ctx: typer.Context,
    serial: Annotated[str, typer.Argument(help="Serial of the returned card.")],
    reason: Annotated[
        str,
        typer.Option(help="Why it came back: one of " + ", ".join(RETURN_REASONS) + "."),
    ],
) -> None:
    """A dispatched or delivered card came back: it is spoiled with its reason (its chip
    booked as spoiled in the stock ledger) and remade."""
    from inventory.ledger import LedgerChipStock
    from line.db import session_scope
    from line.dispatch import return_card

    c = _ctx(ctx)
    actor = f"cli@{c.settings.centre}"
    with session_scope(c.ready_engine()) as session:
        action = return_card(
            session=session, serial=serial, reason=reason, actor=actor,
            at=utc_now(), rework_limit=_load_spec(c.settings).rework_limit,
            stock=LedgerChipStock(actor=actor),
        )  # fmt: skip
    then = "a new card will be made" if action.value == "rework" else "held for a manager"
    typer.echo(f"card {serial} returned ({reason}): {then}")


@card_app.command("release")
def card_release(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(metavar="ID", help="12-digit personal ID or application number.")
    ],
    reason: Annotated[str, typer.Option(help="Why, e.g. manager.retry.")] = "manager.retry",
    accept_photo: Annotated[
        bool,
        typer.Option(
            "--accept-photo",
            help="The photo file as it is now is the right one: record its SHA-256 "
            "(for an application held with print.photo_changed).",
        ),
    ] = False,
) -> None:
    """A held application goes back to print (a manager's decision, recorded)."""
    from line.db import session_scope
    from line.operations import accept_photo as accept
    from line.operations import release_held

    c = _ctx(ctx)
    found, _ = _history_of(c, key)
    application_id = found[0].id
    with session_scope(c.ready_engine()) as session:
        actor = f"cli@{c.settings.centre}"
        if accept_photo:
            accept(session=session, application_id=application_id, actor=actor, at=utc_now())
        release_held(
            session=session, application_id=application_id, actor=actor,
            reason_code=reason, at=utc_now(),
        )  # fmt: skip
    typer.echo(f"application {application_id} released ({reason}): back to print")


@card_app.command("cancel")
def card_cancel(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(metavar="ID", help="12-digit personal ID or application number.")
    ],
    reason: Annotated[str, typer.Option(help="Why, e.g. manager.cancel.")] = "manager.cancel",
) -> None:
    """An approved or held application will get no card (a manager's decision, recorded)."""
    from line.db import session_scope
    from line.operations import cancel_application

    c = _ctx(ctx)
    found, _ = _history_of(c, key)
    with session_scope(c.ready_engine()) as session:
        cancel_application(
            session=session, application_id=found[0].id, actor=f"cli@{c.settings.centre}",
            reason_code=reason, at=utc_now(),
        )  # fmt: skip
    typer.echo(f"application {found[0].id} cancelled ({reason})")


# --- keys -----------------------------------------------------------------------------------


@keys_app.command("init")
def keys_init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Replace existing test keys.")] = False,
) -> None:
    """Create a TEST country signing CA (its key in the offline CA file) and a Document
    Signer whose key is made inside the PKCS#11 token (the embedded SoftHSM2 one by default)."""
    from printers.keys import KeyPaths, init_keys, keys_info

    c = _ctx(ctx)
    paths = init_keys(KeyPaths.from_settings(c.settings), now=utc_now(), overwrite=force)
    info = keys_info(paths)
    typer.echo(f"TEST keys (not for production) in {paths.directory}:")
    typer.echo(f"  CSCA        {paths.csca_cert.name}; its key offline in {paths.csca_key}")
    typer.echo(f"  DS          {paths.ds_cert.name}; its key in the token: {info['ds_key']}")


@keys_app.command("rotate")
def keys_rotate(ctx: typer.Context) -> None:
    """Issue a new Document Signer under the CSCA (reads the offline CA key): the line signs
    with it from its next run; cards signed before still verify against the CSCA."""
    from printers.keys import KeyPaths, keys_info, rotate_ds

    c = _ctx(ctx)
    paths = KeyPaths.from_settings(c.settings)
    ds = rotate_ds(paths, now=utc_now())
    info = keys_info(paths)
    typer.echo(
        f"new Document Signer {ds.serial_number:x}, signs until {info['ds_key_usage'][1]}; "
        f"key {info['ds_key']}"
    )


@keys_app.command("show")
def keys_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The CSCA and Document Signer certificates, the DS key's pkcs11: URI, its usage period
    and how many signatures it made."""
    from printers.keys import KeyFileMissing, KeyPaths, keys_info

    c = _ctx(ctx)
    try:
        info = keys_info(KeyPaths.from_settings(c.settings))
    except KeyFileMissing as exc:
        raise NotFound(f"no certificate at {exc.path}: run `cardline keys init`") from None
    if as_json:
        _echo_json(info)
        return
    for label in ("csca", "ds"):
        typer.echo(f"{label.upper():<5}{info[f'{label}_cert']}")
        typer.echo(f"     {info[f'{label}_subject']}, valid until {info[f'{label}_not_after']}")
        typer.echo(f"     key signs until {info[f'{label}_key_usage'][1]}")
    typer.echo(f"     key {info['ds_key']}; {info['ds_signatures']} signatures")
    for retired in info["ds_retired"]:
        typer.echo(
            f"     retired DS {retired['serial']}: signed until {retired['key_usage_ended']}, "
            f"{retired['signatures']} signatures"
        )


# --- chip -----------------------------------------------------------------------------------


@chip_app.command("serve")
def chip_serve(
    ctx: typer.Context,
    card: Annotated[
        str | None,
        typer.Option(
            "--card",
            metavar="SERIAL",
            help="Serve this finished card's chip, as personalised (virtual chips only), "
            "for any PC/SC reader program to read with BAC from the card's MRZ.",
        ),
    ] = None,
    port: Annotated[
        int,
        typer.Option(min=1, max=65535, help="vpcd port (35963: reader 'Virtual PCD 00 00')."),
    ] = 35963,
    host: Annotated[str, typer.Option(help="Where pcscd's vpcd listens.")] = "127.0.0.1",
    lot: Annotated[str, typer.Option(help="Lot number of the chips served.")] = "VCHIP-0001",
    first_uid: Annotated[
        str, typer.Option(help="UID of the lot's first chip (hex, 4 to 10 bytes).")
    ] = "04000000000001",
    count: Annotated[
        int, typer.Option(min=1, max=MAX_DB_INTEGER, help="Chips in the lot.")
    ] = 1_000_000,
    defect_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of defective chips.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the defects.")] = 0,
    wait_seconds: Annotated[
        float,
        typer.Option(min=0, max=3600, help="How long to wait for vpcd to answer before giving up."),
    ] = 10.0,
) -> None:
    """Serve virtual chips to pcscd's virtual reader (vsmartcard vpcd) until stopped.

    With --card SERIAL: that card's chip as the line personalised it (its image under
    $CARDLINE_HOME/chips), locked, readable only with BAC from the MRZ printed on the
    card, with Chip and Active Authentication. Without: blank chips of a lot, each a card
    body in the reader; once personalised, locked and powered down, the next goes in.
    Needs pcscd running with the vsmartcard-vpcd driver: if nothing answers at HOST:PORT
    within --wait-seconds, one line says so (exit 1).
    """
    from printers.chip import vpcd

    uid = _chip_uid(first_uid, count)
    _not_nan(defect_rate, "--defect-rate")
    _not_nan(wait_seconds, "--wait-seconds")
    if card is not None:
        from printers.chip.vimage import ChipImages

        chip = ChipImages(_ctx(ctx).settings.chips_dir).load(card)
        _wait_for_vpcd(host, port, wait_seconds)
        reader = f"Virtual PCD 00 {(port - 35963):02d}" if 35963 <= port < 35963 + 100 else ""
        typer.echo(
            f"serving card {card} (chip {chip.uid.hex().upper()}, a VIRTUAL chip) to vpcd "
            f"{host}:{port}{f' (reader {reader!r})' if reader else ''}; read it with BAC "
            "from the MRZ printed on the card; Ctrl-C stops"
        )
        vpcd.serve_until_signalled(vpcd.ChipSlot(chip), host, port)
        return
    _wait_for_vpcd(host, port, wait_seconds)
    code = vpcd.main(
        [
            f"--host={host}", "--port", str(port), f"--lot={lot}", "--first-uid", uid,
            "--count", str(count), "--defect-rate", str(defect_rate), "--seed", str(seed),
        ]
    )  # fmt: skip
    if code:
        raise typer.Exit(code)


def _chip_uid(text: str, count: int) -> str:
    """``text`` as a lot's first UID (hex, 4 to 10 bytes) with room for ``count`` chips."""
    import re

    if not re.fullmatch(r"(?:[0-9A-Fa-f]{2}){4,10}", text):
        raise typer.BadParameter(
            f"{text[:40]!r} is not a chip UID (hex, 4 to 10 bytes)", param_hint="--first-uid"
        )
    if int(text, 16) + count > 1 << (4 * len(text)):
        raise typer.BadParameter(
            f"{count} chips from {text} do not fit in {len(text) // 2} bytes",
            param_hint="--first-uid",
        )
    return text


def _wait_for_vpcd(host: str, port: int, seconds: float) -> None:
    """Return once something accepts a connection at ``host:port`` (vpcd, normally); after
    ``seconds`` without, a ``CardlineError`` saying what to start."""
    import socket
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(1.0, max(seconds, 0.1))):
                return
        except (OSError, UnicodeError, ValueError) as exc:  # refused, unknown host, bad name
            why = getattr(exc, "strerror", None) or str(exc)
        if time.monotonic() >= deadline:
            raise CardlineError(
                f"nothing answers at {host[:80]}:{port} (vpcd) after {seconds:g} s ({why}): "
                "start pcscd with vsmartcard's vpcd driver (pcscd --foreground), then "
                "cardline chip serve again"
            )
        time.sleep(0.2)


# --- stock ----------------------------------------------------------------------------------


@stock_app.command("receive")
def stock_receive(
    ctx: typer.Context,
    lot: Annotated[str, typer.Option(help="Lot number on the delivery.")],
    supplier: Annotated[str, typer.Option(help="Who delivered it.")],
    quantity: Annotated[
        int, typer.Option(max=MAX_DB_INTEGER, help="How many units (chips: card bodies).")
    ],
    first_uid: Annotated[
        str | None, typer.Option("--first-uid", help="Chips: hex UID of the lot's first chip.")
    ] = None,
    item: Annotated[str, typer.Option(help="Stock item (chip, ...).")] = "chip",
    defect_rate: Annotated[
        float | None, typer.Option("--defect-rate", help="Chips: the lot's measured defect rate.")
    ] = None,
    order: Annotated[
        str | None, typer.Option(help="The purchase order this delivery fulfils.")
    ] = None,
) -> None:
    """Record a delivery into stock; refused with the field named if anything is off."""
    from inventory.ledger import receive
    from line.db import session_scope

    c = _ctx(ctx)
    engine = c.ready_engine()
    with session_scope(engine) as session:
        _register_consumables(session, c.settings)
        received = receive(
            session=session,
            item_code=item,
            lot_number=lot,
            supplier=supplier,
            quantity=quantity,
            first_uid=first_uid,
            defect_rate=defect_rate,
            order=order,
            at=utc_now(),
            actor=f"cli@{c.settings.centre}",
        )
        uids = f", UIDs {received.first_uid}-{received.last_uid}" if received.first_uid else ""
    typer.echo(f"received {quantity} {item} in lot {lot} from {supplier}{uids}")


@stock_app.command("adjust")
def stock_adjust(
    ctx: typer.Context,
    lot: Annotated[str, typer.Option(help="Lot number.")],
    quantity: Annotated[
        int,
        typer.Option(
            min=-MAX_DB_INTEGER,
            max=MAX_DB_INTEGER,
            help="Units to add (+) or remove (-) after a count.",
        ),
    ],
    reason: Annotated[str, typer.Option(help="Why the count differs.")],
    item: Annotated[str, typer.Option(help="Stock item (chip, ...).")] = "chip",
) -> None:
    """Correct a lot's count after a stock take; the ledger keeps the reason."""
    from sqlmodel import select

    from inventory.ledger import StockError, adjust
    from inventory.models import StockLot
    from line.db import session_scope

    c = _ctx(ctx)
    with session_scope(c.ready_engine()) as session:
        found = session.exec(
            select(StockLot).where(StockLot.item_code == item, StockLot.lot_number == lot)
        ).first()
        if found is None or found.id is None:
            raise StockError(f"no {item} lot {lot!r}", field="lot", reason_code="stock.lot")
        after = adjust(
            session=session, lot_id=found.id, quantity=quantity, reason=reason, at=utc_now(),
            actor=f"cli@{c.settings.centre}",
        )  # fmt: skip
    typer.echo(
        f"lot {lot}: {quantity:+d}, now {after.on_hand} on hand ({after.available} available)"
    )


@stock_app.command("expect")
def stock_expect(
    ctx: typer.Context,
    order: Annotated[str, typer.Option(help="Purchase order number.")],
    supplier: Annotated[str, typer.Option(help="Who will deliver.")],
    quantity: Annotated[int, typer.Option(max=MAX_DB_INTEGER, help="How many units are expected.")],
    on: Annotated[str, typer.Option("--date", help="Expected delivery date (YYYY-MM-DD).")],
    item: Annotated[str, typer.Option(help="Stock item (chip, ...).")] = "chip",
) -> None:
    """Record an expected delivery (a purchase order)."""
    from inventory.orders import expect
    from line.db import session_scope

    with session_scope(_ctx(ctx).ready_engine()) as session:
        _register_consumables(session, _ctx(ctx).settings)
        expect(
            session=session, number=order, item_code=item, supplier=supplier,
            quantity=quantity, expected_on=_date(on, "--date"), at=utc_now(),
            today=_today(_ctx(ctx).settings),
        )  # fmt: skip
    typer.echo(f"expecting {quantity} {item} from {supplier} on {on} (order {order})")


@stock_app.command("delay")
def stock_delay(
    ctx: typer.Context,
    order: Annotated[str, typer.Option(help="Purchase order number.")],
    to: Annotated[str, typer.Option("--to", help="New expected date (YYYY-MM-DD).")],
    reason: Annotated[str, typer.Option(help="Why it slips.")],
) -> None:
    """An expected delivery slips."""
    from inventory.orders import delay
    from line.db import session_scope

    with session_scope(_ctx(ctx).ready_engine()) as session:
        delayed = delay(
            session=session, number=order, to=_date(to, "--to"), reason=reason,
            today=_today(_ctx(ctx).settings),
        )  # fmt: skip
        typer.echo(f"order {delayed.number}: now expected on {delayed.expected_on}")


@stock_app.command("split")
def stock_split(
    ctx: typer.Context,
    order: Annotated[str, typer.Option(help="Purchase order number.")],
    quantity: Annotated[int, typer.Option(max=MAX_DB_INTEGER, help="How many come separately.")],
    on: Annotated[str, typer.Option("--date", help="When that part is expected.")],
) -> None:
    """Part of an expected delivery comes separately: a new order for that part."""
    from inventory.orders import split
    from line.db import session_scope

    with session_scope(_ctx(ctx).ready_engine()) as session:
        part = split(
            session=session, number=order, quantity=quantity, expected_on=_date(on, "--date"),
            at=utc_now(), today=_today(_ctx(ctx).settings),
        )  # fmt: skip
        typer.echo(f"order {order} split: {part.quantity} now on order {part.number}, {on}")


def _register_consumables(session: Any, settings: Settings) -> None:
    """The line spec's consumables are stock items (ribbon, overlay film...)."""
    from inventory.ledger import register_consumables

    spec = _load_spec(settings)
    register_consumables(
        session=session,
        consumables=spec.consumables,
    )


def _date(text: str, option: str) -> date:
    from line.digits import parse_iso_date  # YYYY-MM-DD in ASCII digits, nothing looser

    try:
        return parse_iso_date(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


@stock_app.command("status")
def stock_status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Stock per item: on hand, reserved, available, days of cover, shortage state."""

    from inventory.cover import cover
    from line.db import session_scope

    engine = _ctx(ctx).ready_engine()
    with session_scope(engine) as session:
        items = cover(session=session, now=utc_now())
    if as_json:
        _echo_json([entry.as_dict() for entry in items])
        return
    typer.echo(f"{'item':<10}{'on hand':>10}{'reserved':>10}{'available':>11}{'days':>8}  state")
    for e in items:
        days = "-" if e.days_of_cover is None else f"{e.days_of_cover:.1f}"
        typer.echo(
            f"{e.item:<10}{e.on_hand:>10}{e.reserved:>10}{e.available:>11}{days:>8}  "
            f"{e.state}: {e.reason}"
        )


@stock_app.command("ledger")
def stock_ledger(
    ctx: typer.Context,
    lot: Annotated[str | None, typer.Option(help="Only this lot.")] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Newest movements to show.")
    ] = 50,
) -> None:
    """The newest movements of the stock ledger (of one lot: exit 1 if there is no such lot)."""
    from sqlmodel import col, select

    from inventory.models import StockLot, StockMovement
    from line.db import session_scope

    engine = _ctx(ctx).ready_engine()
    with session_scope(engine) as session:
        query = select(StockMovement, StockLot).join(
            StockLot, col(StockLot.id) == StockMovement.lot_id
        )
        if lot is not None:
            if session.exec(select(StockLot.id).where(StockLot.lot_number == lot)).first() is None:
                raise NotFound(f"no lot {lot} (cardline stock ledger, without --lot, shows all)")
            query = query.where(StockLot.lot_number == lot)
        rows = session.exec(query.order_by(col(StockMovement.id).desc()).limit(limit)).all()
    if not rows:
        typer.echo("no stock movements yet (cardline stock receive records a delivery)")
    for movement, stock_lot in reversed(rows):
        typer.echo(
            f"{movement.at:%Y-%m-%d %H:%M:%S}  {stock_lot.lot_number:<14}{movement.kind.value:<12}"
            f"{movement.quantity:>+6}  on hand {movement.on_hand_after:>7} reserved "
            f"{movement.reserved_after:>6}  {movement.card_serial or ''} {movement.reason or ''}"
            f"  by {movement.actor}"
        )


@app.command("check")
def check(ctx: typer.Context) -> None:
    """Reconcile stock and cards; exit non-zero naming every mismatch."""
    from inventory.check import reconcile
    from line.db import session_scope

    engine = _ctx(ctx).ready_engine()
    with session_scope(engine) as session:
        problems = reconcile(session=session)
    if problems:
        for problem in problems:
            typer.echo(f"mismatch: {problem}", err=True)
        raise typer.Exit(1)
    typer.echo("check: stock ledger and cards reconcile")


# --- spec -----------------------------------------------------------------------------------


@spec_app.command("show")
def spec_show(ctx: typer.Context) -> None:
    """Show the line spec in use and each stage's capacity."""
    from flows.render import spec_text

    typer.echo(spec_text(_load_spec(_ctx(ctx).settings)))


@spec_app.command("check")
def spec_check(file: Annotated[Path, typer.Argument(help="YAML line spec to validate.")]) -> None:
    """Validate a line spec file; exit non-zero naming the first bad field."""
    from line.spec import load_spec

    spec = load_spec(file)
    typer.echo(f"{file}: valid line spec {spec.name!r} (bottleneck: {spec.bottleneck.value})")


def _today(settings: Settings) -> date:
    """Today's date at the centre (the spec's calendar time zone), not the server's."""
    from zoneinfo import ZoneInfo

    return utc_now().astimezone(ZoneInfo(_load_spec(settings).calendar.timezone)).date()


def _load_spec(settings: Settings) -> Any:
    from line.spec import spec_in_use

    return spec_in_use(settings.line_spec)


# --- demo -----------------------------------------------------------------------------------


@app.command()
def demo(
    ctx: typer.Context,
    count: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Good applications to make.")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic data.")] = 2021,
) -> None:
    """Make synthetic applications (with some bad rows) and run the whole line as flows."""
    from flows.prefect_env import prepare_prefect

    c = _ctx(ctx)
    prefect_at = prepare_prefect(c.settings, quiet=True)
    from flows.demo import run_demo

    run_demo(
        prefect_at=prefect_at,
        settings=c.settings,
        count=count,
        seed=seed,
        today=_today(c.settings),
        clock=utc_now,
        echo=typer.echo,
    )


# --- simulate -------------------------------------------------------------------------------

SIMULATE_MODES = ("auto", "cards", "fast")


@app.command()
def simulate(
    ctx: typer.Context,
    scenarios: Annotated[
        list[str] | None,
        typer.Argument(
            help="Scenarios to compare: built-in names (plan-2021, history-2021, "
            "slip-march-21d, ...) or paths to scenario YAML files.",
            show_default=False,
        ),
    ] = None,
    replications: Annotated[
        int, typer.Option("--replications", "-n", min=1, max=10_000, help="Per scenario.")
    ] = 10,
    seed: Annotated[
        int,
        typer.Option(min=0, help="Seed of the common random numbers (same for every scenario)."),
    ] = 1,
    mode: Annotated[
        str,
        typer.Option(help="cards (SimPy, card by card), fast (time steps), or auto (by the size)."),
    ] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as JSON (cardline.forecast/1).")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the forecast as a PDF here.")
    ] = None,
    dask_address: Annotated[
        str | None,
        typer.Option(
            "--dask-address",
            help="Run the replications as the what-if Prefect flow on this Dask scheduler "
            "(tcp://host:8786).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Replications at once (default: one per core; with Dask: the chunks)."
        ),
    ] = None,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate",
            help="Fit processing times, defect rates and breakdowns to the recorded stage "
            "events and write them into a line spec (--spec-out), instead of forecasting.",
        ),
    ] = False,
    spec_out: Annotated[
        Path | None,
        typer.Option(
            help="With --calibrate: the spec to write (default: <home>/calibrated-line.yaml)."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="With --calibrate: first day of the record (YYYY-MM-DD).")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="With --calibrate: last day of the record (YYYY-MM-DD, included)."),
    ] = None,
    backtest: Annotated[
        bool,
        typer.Option(
            "--backtest",
            help="With --calibrate: replay the period (--since..--until; default the last 7 "
            "days) with the fitted spec and compare its throughput with what the line did.",
        ),
    ] = False,
    paired: Annotated[
        bool,
        typer.Option(
            "--paired",
            help="Also the difference of each scenario from the first, replication by "
            "replication (paired-t intervals: target date, cards, stall days).",
        ),
    ] = False,
    precision: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help="Add replications until the target date's 95 % interval is at most this "
            "many days either side (or --max-replications).",
        ),
    ] = None,
    max_replications: Annotated[
        int | None,
        typer.Option(min=2, max=10_000, help="With --precision: the most replications (200)."),
    ] = None,
    warmup: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Days before stage statistics and the time in system count (steady state).",
        ),
    ] = 0.0,
) -> None:
    """Forecast scenarios side by side: cards per day, cumulative cards, the date the target
    is reached (95 % interval), utilisation and wait per stage, WIP, chip stalls and chips.

    Replications use common random numbers: with the same seed, every scenario sees the same
    draws where it shares structure with the others, so their differences are the changes'.
    """
    if mode not in SIMULATE_MODES:
        raise typer.BadParameter(f"must be one of {', '.join(SIMULATE_MODES)}", param_hint="--mode")
    if out is not None:
        _writable_path(out, "--out")  # before the work, and no directories made
    if spec_out is not None:
        _writable_path(spec_out, "--spec-out")
    if calibrate:
        _calibrate(_ctx(ctx), spec_out, since, until, backtest, replications, seed, as_json)
        return
    if backtest or since or until or spec_out:
        raise typer.BadParameter("--backtest, --since, --until and --spec-out go with --calibrate")
    if not scenarios:
        raise typer.BadParameter(
            "give at least one scenario (or --calibrate)", param_hint="SCENARIO"
        )
    from sim import ScenarioError, load_scenario
    from sim.comparison import paired_text, precision_text
    from sim.report import forecast_text

    loaded = []
    for name in scenarios:
        try:
            loaded.append(load_scenario(name))  # a ScenarioError names the file and field
        except ValueError as exc:  # e.g. YAML's own date parsing: 2021-13-40
            raise ScenarioError(str(exc), field="(file)", source=name) from exc
    names = [s.name for s in loaded]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise typer.BadParameter(
            f"two scenarios are named {twice[0]!r}: give each its own name", param_hint="SCENARIO"
        )
    if paired and len(loaded) < 2:
        raise typer.BadParameter("--paired needs two scenarios or more", param_hint="--paired")
    if max_replications is not None and precision is None:
        raise typer.BadParameter("goes with --precision", param_hint="--max-replications")
    if warmup >= min(s.days for s in loaded):
        raise typer.BadParameter(
            f"must be shorter than the run ({min(s.days for s in loaded)} days)",
            param_hint="--warmup",
        )
    if dask_address is None:
        from typing import cast

        from sim import Mode
        from sim.comparison import forecast_scenarios, local_runner

        runner = local_runner(
            seed=seed, mode=cast(Mode, mode), workers=workers, warmup_days=warmup
        )
        figures = forecast_scenarios(
            loaded,
            runner,
            replications=replications,
            requested_mode=mode,
            warmup_days=warmup,
            paired_with_first=paired,
            precision=precision,
            max_replications=max_replications or 200,
        )
    else:
        from flows.prefect_env import prepare_prefect

        prepare_prefect(_ctx(ctx).settings, quiet=True)
        from flows.whatif import what_if

        figures = what_if(
            scenarios=list(scenarios),
            replications=replications,
            seed=seed,
            mode=mode,
            dask_address=dask_address,
            workers=workers,
            warmup_days=warmup,
            paired=paired,
            precision=precision,
            max_replications=max_replications or 200,
        )
    if out is not None:
        import logging

        from printers.face.fonts import register_fonts
        from sim.report import render_forecast

        logging.getLogger("fontTools").setLevel(logging.WARNING)  # its subsetting chatter
        fonts = register_fonts()
        render_forecast(figures, out, font=fonts.sans, bold=fonts.bold)
    if as_json:
        _echo_json(figures)
        return
    typer.echo(forecast_text(figures))
    for extra in (paired_text(figures), precision_text(figures)):
        if extra:
            typer.echo(extra)
    if out is not None:
        typer.echo(f"report: {out}")


def _writable_path(path: Path, option: str) -> None:
    """Refuse ``path`` for a file to write unless its directory exists (nothing is made
    along a mistyped path) and it is not a directory itself."""
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory; give a file name", param_hint=option)
    if not path.parent.is_dir():
        raise typer.BadParameter(f"no directory {path.parent} for {path.name}", param_hint=option)


def _day_start(text: str | None, option: str, zone: str, *, after: bool = False) -> Any:
    """``YYYY-MM-DD`` at the centre as an aware datetime (its midnight; ``after``: the next)."""
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    if text is None:
        return None
    day = _date(text, option)
    if after:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))


def _calibrate(
    c: Context,
    spec_out: Path | None,
    since: str | None,
    until: str | None,
    backtest: bool,
    replications: int,
    seed: int,
    as_json: bool,
) -> None:
    from line.spec import load_spec
    from sim.backtest import backtest_command
    from sim.calibrate import calibrate_command

    engine = c.ready_engine()
    base = _load_spec(c.settings)
    zone = base.calendar.timezone
    start = _day_start(since, "--since", zone)
    end = _day_start(until, "--until", zone, after=True)
    if start is not None and end is not None and end <= start:
        raise typer.BadParameter("--until is before --since", param_hint="--until")
    out = spec_out or c.settings.home_dir / "calibrated-line.yaml"
    text = calibrate_command(engine, base, start, end, out)
    result: dict[str, Any] = {"spec": str(out)}
    if backtest:
        end = end or utc_now()
        start = start or end - timedelta(days=7)
        result["backtest"] = backtest_command(
            engine, load_spec(out), start, end, replications=replications, seed=seed
        )
    if as_json:
        _echo_json(result)
        return
    typer.echo(text)
    if backtest:
        total = result["backtest"]["total"]
        simulated = total["simulated"]
        typer.echo(
            f"backtest {start:%Y-%m-%d}..{end:%Y-%m-%d}: recorded {total['recorded']} good "
            f"cards, simulated {simulated['mean']:.0f} (95 % {simulated['low']:.0f}-"
            f"{simulated['high']:.0f}); error {100 * total['relative_error']:+.1f} %: "
            + ("agrees" if total["agrees"] else "DOES NOT AGREE: check the spec before planning")
        )


# --- plan ---------------------------------------------------------------------------------


@app.command("plan")
def plan_cmd(
    ctx: typer.Context,
    scenario: Annotated[
        str,
        typer.Argument(help="The scenario: a built-in name (history-2021, ...) or a YAML path."),
    ],
    vary: Annotated[
        list[str],
        typer.Option(
            "--vary",
            help="PATH=LOW..HIGH[:STEP], a field of the scenario and its range, e.g. "
            "line.stages.chip-encode.machines=56..76:4 or "
            "chips.deliveries.june.date=2021-05-01..2021-06-10:5. Repeat for more fields.",
            show_default=False,
        ),
    ],
    probability: Annotated[
        float,
        typer.Option(help="Reach the target in time with at least this probability."),
    ] = 0.9,
    max_replications: Annotated[
        int, typer.Option(min=1, max=10_000, help="The most replications of one setting.")
    ] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the common random numbers.")] = 1,
    mode: Annotated[str, typer.Option(help="cards, fast, or auto (by the size).")] = "auto",
    search: Annotated[
        str,
        typer.Option(
            help="frontier (fields the target is monotone in), grid (every setting), or auto."
        ),
    ] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON (cardline.plan/1).")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the plan as a PDF.")] = None,
    dask_address: Annotated[
        str | None,
        typer.Option(
            "--dask-address", help="Run as the plan Prefect flow on this Dask scheduler."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Replications at once (default: one per core).")
    ] = None,
) -> None:
    """Goal seek: the cheapest setting of the --vary fields that reaches the scenario's target
    by its date with at least --probability (costs from the scenario's costs: block)."""
    if mode not in SIMULATE_MODES:
        raise typer.BadParameter(f"must be one of {', '.join(SIMULATE_MODES)}", param_hint="--mode")
    if out is not None:
        _writable_path(out, "--out")
    from sim import ScenarioError, load_scenario
    from sim.plan_report import plan_text

    try:
        loaded = load_scenario(scenario)
    except ValueError as exc:
        raise ScenarioError(str(exc), field="(file)", source=scenario) from exc
    if dask_address is None:
        from typing import cast

        from sim import Mode
        from sim.plan import Search, plan

        document = plan(
            loaded,
            vary,
            probability=probability,
            seed=seed,
            mode=cast(Mode, mode),
            max_replications=max_replications,
            search=cast(Search, search),
            workers=workers,
        )
    else:
        from flows.prefect_env import prepare_prefect

        prepare_prefect(_ctx(ctx).settings, quiet=True)
        from flows.plan_flow import plan_flow

        document = plan_flow(
            scenario=scenario,
            vary=list(vary),
            probability=probability,
            seed=seed,
            mode=mode,
            max_replications=max_replications,
            search=search,
            dask_address=dask_address,
        )
    if out is not None:
        import logging

        from printers.face.fonts import register_fonts
        from sim.plan_report import render_plan

        logging.getLogger("fontTools").setLevel(logging.WARNING)
        fonts = register_fonts()
        render_plan(document, out, font=fonts.sans, bold=fonts.bold)
    if as_json:
        _echo_json(document)
        return
    typer.echo(plan_text(document))
    if out is not None:
        typer.echo(f"report: {out}")


# --- entry point ----------------------------------------------------------------------------


MAX_ERROR_LINE = 1000
"""Characters of an error line at most: whatever went wrong, the user gets one line."""


def _error(message: object, code: int = 1) -> int:
    """Print ``cardline: error: <message>`` as one line (however long or multi-line the
    message) on stderr; return ``code``."""
    text = " ".join(str(message).split()) or "(no message)"
    if len(text) > MAX_ERROR_LINE:
        text = text[: MAX_ERROR_LINE - 1] + "\u2026"
    typer.echo(f"cardline: error: {text}", err=True)
    return code


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


def _not_utf8(argv: list[str]) -> int | None:
    """The position of the first argument that is not text (bytes that are not UTF-8 come
    in as lone surrogates, which no database, file or terminal write accepts)."""
    for index, arg in enumerate(argv, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return index
    return None


def _usage_error(exc: typer.TyperException) -> int:
    """A usage error (bad option, missing argument...) on one line, with where help is."""
    from typer._click.exceptions import NoArgsIsHelpError  # typer's own click

    ctx = getattr(exc, "ctx", None)
    hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
    if isinstance(exc, NoArgsIsHelpError):  # a bare group: its help on stdout, one line here
        text = exc.format_message()  # typer's rich help prints itself and returns ""
        if text:
            typer.echo(text)
        return _error(f"give a command{hint}", 2)
    return _error(f"{exc.format_message()}{hint}", int(getattr(exc, "exit_code", 2)))


def _settings_error(exc: Any) -> int:
    """A ``CARDLINE_*`` variable pydantic refused, named as the user set it."""
    first = exc.errors()[0]
    name = "CARDLINE_" + "_".join(str(part) for part in first["loc"]).upper()
    got = first.get("input")
    return _error(f"{name}: {first['msg']}" + (f" (got {got!r})" if got is not None else ""))


def _log_unexpected(exc: BaseException) -> str:
    """Write ``exc`` with its traceback to the log file only (the masking processor runs on
    it, as on every record); return where, for the one line the user sees."""
    import logging

    record = logging.LogRecord(
        "cardline.cli", logging.ERROR, __file__, 0, "cli.unexpected_error", None,
        (type(exc), exc, exc.__traceback__),
    )  # fmt: skip
    written = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
            written.append(handler.baseFilename)
    return f"traceback in {written[0]}" if written else "no log file was open"


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; errors become one line on stderr.

    1: the command could not do its work (a domain error, the database, a file); 2: the
    command line itself is wrong; 130: interrupted. Whatever escapes (a bug) is one line as
    well, with its traceback in the log file only.
    """
    import pydantic

    args = sys.argv[1:] if argv is None else list(argv)
    bad = _not_utf8(args)
    if bad is not None:
        return _error(f"argument {bad} is not UTF-8 text", 2)
    try:
        result = app(args=args, prog_name="cardline", standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("cardline: aborted", err=True)
        return 130
    except typer.TyperException as exc:  # usage errors: typer's own click raises these
        return _usage_error(exc)
    except CardlineError as exc:
        return _error(exc)
    except pydantic.ValidationError as exc:  # Settings(): a CARDLINE_* variable
        return _settings_error(exc)
    except sa.exc.OperationalError as exc:
        return _error(f"database: {_first_line(exc.orig)}")
    except sa.exc.ArgumentError as exc:
        return _error(f"CARDLINE_DB_URL: {exc}")
    except sa.exc.DBAPIError as exc:  # a value the database refused (too long, too large...)
        return _error(f"the database refused it: {_first_line(exc.orig)}")
    except sa.exc.SQLAlchemyError as exc:
        return _error(f"database: {_first_line(exc)}")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _error(f"{where}{exc.strerror or exc}")
    except UnicodeError as exc:
        return _error(
            f"text this terminal or file cannot hold ({type(exc).__name__}: "
            f"{getattr(exc, 'reason', exc)}); "
            "use a UTF-8 locale, e.g. LANG=C.UTF-8"
        )
    except Exception as exc:  # a bug: one line here, the traceback in the log
        return _error(
            f"unexpected {type(exc).__name__}: {_first_line(exc)[:300]} ({_log_unexpected(exc)})"
        )
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())
