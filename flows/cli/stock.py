"""``cardline stock``: chip stock and consumables: deliveries, counts, purchase orders,
days of cover and the ledger.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flows.centre import Centre
from flows.cli.approvals import DEFAULT_TIMEOUT, TIMEOUT_OPTION, wait_for_approval
from flows.cli.context import actor, cli_context, echo_json, parse_date
from line.errors import NotFound
from line.types import MAX_DB_INTEGER, utc_now

app = typer.Typer(help="Chip stock and consumables.", no_args_is_help=True)


@app.command("receive")
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

    c = cli_context(ctx)
    engine = c.ready_engine()
    with session_scope(engine) as session:
        _register_consumables(session, c)
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
            actor=actor(ctx),
        )
        uids = f", UIDs {received.first_uid}-{received.last_uid}" if received.first_uid else ""
    typer.echo(f"received {quantity} {item} in lot {lot} from {supplier}{uids}")


@app.command("adjust")
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
    timeout: Annotated[int, TIMEOUT_OPTION] = DEFAULT_TIMEOUT,
) -> None:
    """Correct a lot's count after a stock take, once a second person approves (the
    command waits for them: cardline approve RUN_ID); the ledger keeps the reason."""
    from flows.changes import adjustment

    change = adjustment(lot=lot, item=item, quantity=quantity, reason=reason)
    wait_for_approval(ctx, change, timeout)


@app.command("expect")
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

    with session_scope(cli_context(ctx).ready_engine()) as session:
        _register_consumables(session, cli_context(ctx))
        expect(
            session=session, number=order, item_code=item, supplier=supplier,
            quantity=quantity, expected_on=parse_date(on, "--date"), at=utc_now(),
            today=cli_context(ctx).today(),
        )  # fmt: skip
    typer.echo(f"expecting {quantity} {item} from {supplier} on {on} (order {order})")


@app.command("delay")
def stock_delay(
    ctx: typer.Context,
    order: Annotated[str, typer.Option(help="Purchase order number.")],
    to: Annotated[str, typer.Option("--to", help="New expected date (YYYY-MM-DD).")],
    reason: Annotated[str, typer.Option(help="Why it slips.")],
) -> None:
    """An expected delivery slips."""
    from inventory.orders import delay
    from line.db import session_scope

    with session_scope(cli_context(ctx).ready_engine()) as session:
        delayed = delay(
            session=session, number=order, to=parse_date(to, "--to"), reason=reason,
            today=cli_context(ctx).today(),
        )  # fmt: skip
        typer.echo(f"order {delayed.number}: now expected on {delayed.expected_on}")


@app.command("split")
def stock_split(
    ctx: typer.Context,
    order: Annotated[str, typer.Option(help="Purchase order number.")],
    quantity: Annotated[int, typer.Option(max=MAX_DB_INTEGER, help="How many come separately.")],
    on: Annotated[str, typer.Option("--date", help="When that part is expected.")],
) -> None:
    """Part of an expected delivery comes separately: a new order for that part."""
    from inventory.orders import split
    from line.db import session_scope

    with session_scope(cli_context(ctx).ready_engine()) as session:
        part = split(
            session=session, number=order, quantity=quantity, expected_on=parse_date(on, "--date"),
            at=utc_now(), today=cli_context(ctx).today(),
        )  # fmt: skip
        typer.echo(f"order {order} split: {part.quantity} now on order {part.number}, {on}")


def _register_consumables(session: Any, centre: Centre) -> None:
    """The line spec's consumables are stock items (ribbon, overlay film...)."""
    from inventory.ledger import register_consumables

    register_consumables(session=session, consumables=centre.spec().consumables)


@app.command("status")
def stock_status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Stock per item: on hand, reserved, available, days of cover, shortage state."""

    from inventory.cover import cover
    from line.db import session_scope

    engine = cli_context(ctx).ready_engine()
    with session_scope(engine) as session:
        items = cover(session=session, now=utc_now())
    if as_json:
        echo_json([entry.as_dict() for entry in items])
        return
    typer.echo(f"{'item':<10}{'on hand':>10}{'reserved':>10}{'available':>11}{'days':>8}  state")
    for e in items:
        days = "-" if e.days_of_cover is None else f"{e.days_of_cover:.1f}"
        typer.echo(
            f"{e.item:<10}{e.on_hand:>10}{e.reserved:>10}{e.available:>11}{days:>8}  "
            f"{e.state}: {e.reason}"
        )


@app.command("ledger")
def stock_ledger(
    ctx: typer.Context,
    lot: Annotated[str | None, typer.Option(help="Only this lot.")] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Newest movements to show.")
    ] = 50,
) -> None:
    """The newest movements of the stock ledger (of one lot: exit 1 if there is no such lot)."""
    from inventory.listing import find_lot, newest_movements
    from line.db import session_scope

    engine = cli_context(ctx).ready_engine()
    with session_scope(engine) as session:
        if lot is not None and find_lot(session=session, lot_number=lot) is None:
            raise NotFound(f"no lot {lot} (cardline stock ledger, without --lot, shows all)")
        rows = newest_movements(session=session, limit=limit, lot_number=lot)
    if not rows:
        typer.echo("no stock movements yet (cardline stock receive records a delivery)")
    for movement, stock_lot in rows:
        typer.echo(
            f"{movement.at:%Y-%m-%d %H:%M:%S}  {stock_lot.lot_number:<14}{movement.kind.value:<12}"
            f"{movement.quantity:>+6}  on hand {movement.on_hand_after:>7} reserved "
            f"{movement.reserved_after:>6}  {movement.card_serial or ''} {movement.reason or ''}"
            f"  by {movement.actor}"
        )
