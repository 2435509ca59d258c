"""Stock flows: the shortage monitor (on a schedule) and the stock receipt.

The monitor reads the shortage state of every item and emits a Prefect event per item
that is ``low`` (``cardline.stock.low``) or ``out``/``short`` (``cardline.stock.out``), so
that an automation can act (``automations/stock-out.yaml`` is an example: it runs the
daily report when chips run out). It also leaves a table artifact of the stock.

Ribbon and overlay film are counted in the cards they can still print
(``inventory.cover``): the roll mounted in the printer is stock in use, so a line printing
on its last roll is ``low`` at worst, and ``cardline.stock.out`` means nothing is left to
print with (or none was ever delivered).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from flows.artifacts import artifact_key, stock_reasons, stock_rows
from flows.centre import flow_entry, open_centre
from flows.names import run_name
from inventory.cover import ItemCover, cover
from inventory.ledger import receive, register_consumables
from line.db import session_scope
from line.settings import Settings
from line.spec import spec_in_use
from line.types import utc_now

EVENTS = {"low": "cardline.stock.low", "out": "cardline.stock.out", "short": "cardline.stock.out"}


def _engine() -> tuple[Settings, Any]:
    """The settings and the ready engine of the centre this flow run opens (its logging
    configured, see ``flows.centre``)."""
    centre = open_centre()
    return centre.settings, centre.ready_engine()


@task(name="read-stock", cache_policy=NO_CACHE)
def read_stock(engine: Any) -> list[ItemCover]:
    with session_scope(engine) as session:
        return cover(session=session, now=utc_now())


@flow(name="shortage-monitor", flow_run_name=run_name("shortage-monitor"))
@flow_entry
def shortage_monitor() -> list[dict[str, Any]]:
    """Update the shortage state of every item; emit an event for each one in trouble."""
    settings, engine = _engine()
    items = read_stock(engine)
    for item in items:
        name = EVENTS.get(item.state)
        if name is None:
            continue
        emit_event(
            event=name,
            resource={
                "prefect.resource.id": f"cardline.stock.{settings.centre}.{item.item}",
                "cardline.item": item.item,
                "cardline.centre": settings.centre,
            },
            payload=item.as_dict(),
        )
    create_table_artifact(
        key=artifact_key(settings.centre, "stock"),
        table=stock_rows(items),
        description=stock_reasons(settings.centre, items),
    )
    return [item.as_dict() for item in items]


@flow(name="stock-receipt", flow_run_name=run_name("stock-receipt"))
@flow_entry
def stock_receipt(
    lot: str,
    supplier: str,
    quantity: int,
    item: str = "chip",
    first_uid: str | None = None,
    order: str | None = None,
) -> dict[str, Any]:
    """Record a delivery (the same checks as ``cardline stock receive``), then re-check stock."""
    settings, engine = _engine()
    spec = spec_in_use(settings.line_spec)
    with session_scope(engine) as session:
        register_consumables(
            session=session,
            consumables=spec.consumables,
        )
        received = receive(
            session=session, item_code=item, lot_number=lot, supplier=supplier,
            quantity=quantity, first_uid=first_uid, order=order, at=utc_now(),
            actor=f"prefect:stock-receipt@{settings.centre}",
        )  # fmt: skip
        result = {"lot": received.lot_number, "item": item, "quantity": received.quantity}
    shortage_monitor()
    return result
