"""``cardline card``: one application and its cards; a manager's decisions on it.

The key of an application is its citizen's 12-digit ID or its application number; the
ID is masked wherever it is logged or echoed back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flows.centre import Centre
from flows.cli.context import actor, cli_context, echo_json
from line.errors import NotFound
from line.reasons import RETURN_REASONS
from line.types import utc_now

if TYPE_CHECKING:
    from sqlmodel import Session

    from line.kpi import History

app = typer.Typer(help="One application and its cards.", no_args_is_help=True)


def _history_of(
    c: Centre, key: str, view: Callable[[Session, History], None] | None = None
) -> tuple[list[Any], History]:
    """The applications a key (12-digit ID or application number) names, newest first, and
    the history of the newest; NotFound if none. ``view``, given, runs in the same
    transaction as the read (a view of personal data is recorded with it, or not at all)."""
    from line.db import session_scope
    from line.idnumber import mask_id
    from line.kpi import find_applications, history

    with session_scope(c.ready_engine()) as session:
        found = find_applications(session=session, key=key)
        if not found:
            shown = mask_id(key) if len(key) >= 9 else key  # an ID number, or not personal
            raise NotFound(f"no application for {shown!r}")
        assert found[0].id is not None
        record = history(session=session, application_id=found[0].id)
        if view is not None:
            view(session, record)
        return found, record


def _recording(ctx: typer.Context, kind: str) -> Callable[[Session, History], None]:
    """A view that records, in the reading session, that the caller saw or exported an
    application (audit row ``kind``, subject its latest card's serial, the ID masked)."""
    from line.audit import record
    from line.idnumber import mask_id

    def recorded(session: Session, shown: History) -> None:
        serial = shown.cards[-1].serial if shown.cards else None
        record(
            session=session, kind=kind, actor=actor(ctx), at=utc_now(),
            subject=serial or f"application {shown.application.id}",
            detail={
                "application_id": shown.application.id,
                "card_serial": serial,
                "id_number": mask_id(shown.application.id_number),
            },
        )  # fmt: skip

    return recorded


def _masked(shown: History) -> History:
    """``shown`` with the citizen's ID numbers masked (a copy: the record is not changed)."""
    from line.idnumber import mask_id

    a = shown.application
    old = mask_id(a.old_id_number) if a.old_id_number else a.old_id_number
    masked = a.model_copy(update={"id_number": mask_id(a.id_number), "old_id_number": old})
    return replace(shown, application=masked)


@app.command("show")
def card_show(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(metavar="ID", help="12-digit personal ID or application number.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Show the citizen's full ID number (a supervisor's; recorded)."
        ),
    ] = False,
) -> None:
    """One application's history: its data, its cards, every stage event (the ID number
    masked unless --full, whose view is recorded in the audit record)."""
    from line.logsetup import get_logger

    view = _recording(ctx, "card.show_full") if full else None
    found, shown = _history_of(cli_context(ctx), key, view)
    # The log keeps who looked at which application; the processor masks the number.
    get_logger("cardline.card").info(
        "card.show", application_id=shown.application.id, key=key, full=full
    )
    from flows.render import history_json, history_text

    if not full:
        shown = _masked(shown)
    if as_json:
        echo_json(history_json(shown, other_applications=[a.id for a in found[1:]]))
    else:
        typer.echo(history_text(shown, other_applications=[a.id for a in found[1:]]))


@app.command("export")
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

    c = cli_context(ctx)
    written: list[Path] = []

    def export(session: Session, shown: History) -> None:
        # recorded and written in one transaction: a failed export leaves no audit row
        if not shown.cards:
            raise NotFound(f"application {shown.application.id} has no card yet")
        if (purged := shown.application.purged_at) is not None:
            raise NotFound(
                f"application {shown.application.id}: personal data purged on "
                f"{purged:%Y-%m-%d} (retention); its faces and chip read-back are gone"
            )
        _recording(ctx, "card.export")(session, shown)
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
        from printers.atrest import centre_sealer

        archive = CardArchive(c.settings.cards_dir, sealer=centre_sealer(c.settings))
        written.extend(archive.export(latest.serial, face, out))  # plaintext by design: README

    _, shown = _history_of(c, key, export)
    latest = shown.cards[-1]
    get_logger("cardline.card").info(
        "card.export", application_id=shown.application.id, card_serial=latest.serial
    )
    typer.echo(f"card {latest.serial} ({latest.state.value}): {len(written)} files in {out}")
    for path in written:
        typer.echo(f"  {path.name}")


@app.command("return")
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

    c = cli_context(ctx)
    who = actor(ctx)
    with session_scope(c.ready_engine()) as session:
        action = return_card(
            session=session, serial=serial, reason=reason, actor=who,
            at=utc_now(), rework_limit=c.spec().rework_limit,
            stock=LedgerChipStock(actor=who),
        )  # fmt: skip
    then = "a new card will be made" if action.value == "rework" else "held for a manager"
    typer.echo(f"card {serial} returned ({reason}): {then}")


@app.command("release")
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

    c = cli_context(ctx)
    found, _ = _history_of(c, key)
    application_id = found[0].id
    with session_scope(c.ready_engine()) as session:
        who = actor(ctx)
        if accept_photo:
            accept(session=session, application_id=application_id, actor=who, at=utc_now())
        release_held(
            session=session, application_id=application_id, actor=who,
            reason_code=reason, at=utc_now(),
        )  # fmt: skip
    typer.echo(f"application {application_id} released ({reason}): back to print")


@app.command("cancel")
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

    c = cli_context(ctx)
    found, _ = _history_of(c, key)
    with session_scope(c.ready_engine()) as session:
        cancel_application(
            session=session, application_id=found[0].id, actor=actor(ctx),
            reason_code=reason, at=utc_now(),
        )  # fmt: skip
    typer.echo(f"application {found[0].id} cancelled ({reason})")
