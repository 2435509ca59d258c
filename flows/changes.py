"""The changes that wait for a second person, without Prefect: what each one is, the
checks that stop it (run before anyone is asked, and again when it is made) and how it is
made once approved. ``flows.approvals`` runs them in flows; the command line checks a change
here before it starts Prefect (a bad lot is one line, not a second of Prefect's start).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from inventory.books import balance_of
from inventory.errors import StockError
from inventory.ledger import adjust
from inventory.listing import find_lot
from line.approvals import Change, Request
from line.errors import CardlineError, NotFound
from line.machines import check_name, put_back
from line.models import Machine
from line.types import utc_now

DEFAULT_TIMEOUT_SECONDS = 1800
"""How long a change waits for its second person unless told otherwise (30 minutes)."""


def adjustment(*, lot: str, item: str, quantity: int, reason: str) -> Change:
    """A lot's count corrected by ``quantity`` after a stock take."""
    return Change(
        kind="stock.adjust",
        summary=f"{item} lot {lot} {quantity:+d} ({reason.strip()[:120]})",
        fields={"lot": lot, "item": item, "quantity": quantity, "reason": reason},
    )


def machine_back(*, name: str, note: str) -> Change:
    """A machine put back in service (``note``: what was done to it)."""
    return Change(
        kind="machine.in",
        summary=f"machine {name} back in service" + (f" ({note.strip()[:120]})" if note else ""),
        fields={"name": name, "note": note},
    )


def check_change(session: Session, change: Change) -> None:
    """Raise the domain error that would stop ``change`` now (before anyone is asked)."""
    CHECKS[change.kind](session, change)


def make_change(session: Session, asked: Request) -> str:
    """Make the approved change of ``asked`` (checked again: the stock may have moved);
    return what was done, in a line."""
    return APPLY[asked.change.kind](session, asked)


def _check_adjustment(session: Session, change: Change) -> None:
    fields = change.fields
    quantity = int(fields["quantity"])
    if not str(fields["reason"]).strip():
        raise StockError("an adjustment needs a reason", field="reason", reason_code="stock.reason")
    if quantity == 0:
        raise StockError("must not be zero", field="quantity", reason_code="stock.quantity")
    found = find_lot(session=session, lot_number=str(fields["lot"]), item_code=str(fields["item"]))
    if found is None or found.id is None:
        raise StockError(
            f"no {fields['item']} lot {fields['lot']!r}", field="lot", reason_code="stock.lot"
        )
    available = balance_of(session=session, lot_id=found.id).available
    if available + quantity < 0:
        raise StockError(
            f"{quantity:+d} would leave {available + quantity} available",
            field="quantity",
            reason_code="stock.quantity",
        )


def _book_adjustment(session: Session, asked: Request) -> str:
    fields = asked.change.fields
    _check_adjustment(session, asked.change)
    found = find_lot(session=session, lot_number=str(fields["lot"]), item_code=str(fields["item"]))
    assert found is not None and found.id is not None  # checked just above
    after = adjust(
        session=session, lot_id=found.id, quantity=int(fields["quantity"]),
        reason=str(fields["reason"]), at=utc_now(), actor=asked.maker,
    )  # fmt: skip
    return (
        f"lot {fields['lot']}: {int(fields['quantity']):+d}, now {after.on_hand} on hand "
        f"({after.available} available)"
    )


def _check_machine(session: Session, change: Change) -> None:
    name = check_name(str(change.fields["name"]))
    row = session.get(Machine, name)
    if row is None:
        raise NotFound(f"no machine {name!r} (cardline machine list shows the known ones)")
    if row.in_service:
        raise CardlineError(f"machine {name} is in service already: nothing to approve")


def _put_back(session: Session, asked: Request) -> str:
    _check_machine(session, asked.change)
    name = str(asked.change.fields["name"])
    put_back(
        session=session, name=name, actor=asked.maker, at=utc_now(),
        note=str(asked.change.fields["note"]),
    )  # fmt: skip
    return f"{name}: back in service"


CHECKS = {"stock.adjust": _check_adjustment, "machine.in": _check_machine}
APPLY = {"stock.adjust": _book_adjustment, "machine.in": _put_back}


def outcome_line(result: dict[str, Any]) -> str:
    """The decision as one line for the maker (``result``: what the flow returned)."""
    if result["status"] == "approved":
        return f"approved by {result['approver']}: {result['done']}"
    return f"{result['summary']}: not made: {result['why']}"
