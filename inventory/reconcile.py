"""Per-lot reconciliation of chips at the end of a centre's day: where every chip a lot
received went, from the stock ledger and the cards' stage events.

Per chip lot, at ``until`` (the end of the day reconciled):

- **received**: chips booked into the lot (receipts) before ``until``; **adjusted**: the sum
  of stock-take corrections (signed);
- **good**: chips of the lot's cards that passed QC and have not been spoiled since
  (waiting for dispatch, dispatched, delivered);
- **in process**: chips of the lot's cards still on the line (printing, printed, encoded);
- **spoiled**: chips of the lot's cards that failed a stage or came back;
- **on hand**: chips still in the store (available + reserved), as the ledger carries it.

Good, in process and spoiled come from the cards' positions (``line.reconcile.positions_at``:
stage events alone), on hand from the ledger. The invariant::

    received + adjusted = on hand + good + in process + spoiled

and the ledger's own split must agree with the cards: its chips consumed by good cards =
good + in process, its chips spoiled = spoiled. A break names the lot, the figures and the
cards whose ledger booking disagrees with their events (spoiled by their events but not in
the ledger, or the reverse).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from inventory.books import CHIP, Balance
from inventory.models import MovementKind, StockLot, StockMovement
from line.models import Card
from line.reconcile import NAMED, SPOILED, Position, positions_at
from line.types import Stage

ON_THE_LINE = frozenset({Stage.PRINT, Stage.ENCODE, Stage.QC})
"""Positions of a card whose chip is in process."""


@dataclass(frozen=True, slots=True)
class LotDay:
    """One chip lot at the end of a day: the figures of its invariant, and what breaks it."""

    lot: str
    received: int
    adjusted: int
    good: int
    in_process: int
    spoiled: int
    on_hand: int
    reserved: int
    ledger_consumed: int
    ledger_spoiled: int
    misbooked: tuple[str, ...] = ()

    @property
    def accounted(self) -> int:
        return self.on_hand + self.good + self.in_process + self.spoiled

    @property
    def reconciles(self) -> bool:
        return (
            self.received + self.adjusted == self.accounted
            and self.ledger_consumed == self.good + self.in_process
            and self.ledger_spoiled == self.spoiled
            and not self.misbooked
        )

    def break_line(self) -> str:
        """The break as one line (empty if the lot reconciles)."""
        if self.reconciles:
            return ""
        text = (
            f"lot {self.lot} does not reconcile: received {self.received}{self.adjusted:+d} "
            f"but on hand {self.on_hand} + good {self.good} + in process {self.in_process} "
            f"+ spoiled {self.spoiled} = {self.accounted}; the ledger books "
            f"{self.ledger_consumed} consumed and {self.ledger_spoiled} spoiled"
        )
        if self.misbooked:
            more = len(self.misbooked) - NAMED
            text += "; " + "; ".join(self.misbooked[:NAMED])
            text += f" and {more} more" if more > 0 else ""
        return text


def _ledger(session: Session, until: datetime) -> dict[int, tuple[Balance, int, int, set[str]]]:
    """Per lot id: its balance after its last movement before ``until``, chips received,
    the adjustments' sum, and the serials whose chip it books as spoiled."""
    books: dict[int, tuple[Balance, int, int, set[str]]] = {}
    for movement in session.exec(
        select(StockMovement)
        .where(StockMovement.item_code == CHIP, col(StockMovement.at) < until)
        .order_by(col(StockMovement.id))
    ):
        _, received, adjusted, spoiled = books.get(movement.lot_id, (Balance(), 0, 0, set()))
        if movement.kind is MovementKind.RECEIPT:
            received += movement.quantity
        elif movement.kind is MovementKind.ADJUSTMENT:
            adjusted += movement.quantity
        elif movement.kind is MovementKind.SPOILAGE and movement.card_serial:
            spoiled.add(movement.card_serial)
        balance = Balance(
            movement.on_hand_after,
            movement.reserved_after,
            movement.consumed_after,
            movement.spoiled_after,
        )
        books[movement.lot_id] = (balance, received, adjusted, spoiled)
    return books


def reconcile_lots(*, session: Session, until: datetime) -> list[LotDay]:
    """Every chip lot received before ``until``, oldest first, at ``until``."""
    positions = positions_at(session=session, until=until)
    books = _ledger(session, until)
    cards: dict[str, list[tuple[str, Position]]] = {}
    for card_id, serial, lot in session.exec(
        select(Card.id, Card.serial, Card.chip_lot).where(col(Card.chip_lot).is_not(None))
    ):
        if card_id in positions and lot is not None:
            cards.setdefault(lot, []).append((serial, positions[card_id]))
    lots = session.exec(
        select(StockLot)
        .where(StockLot.item_code == CHIP, col(StockLot.received_at) < until)
        .order_by(col(StockLot.received_at), col(StockLot.id))
    ).all()
    return [_lot(lot, books.get(lot.id or 0), cards.get(lot.lot_number, [])) for lot in lots]


def _lot(
    lot: StockLot,
    booked: tuple[Balance, int, int, set[str]] | None,
    cards: list[tuple[str, Position]],
) -> LotDay:
    balance, received, adjusted, spoiled_serials = booked or (Balance(), 0, 0, set())
    on_line = sum(1 for _, at in cards if at in ON_THE_LINE)
    spoiled = sum(1 for _, at in cards if at == SPOILED)
    misbooked = [
        f"card {serial} is spoiled by its events but the ledger does not book its chip spoiled"
        for serial, at in sorted(cards)
        if at == SPOILED and serial not in spoiled_serials
    ]
    misbooked += [
        f"card {serial} is not spoiled by its events but the ledger books its chip spoiled"
        for serial, at in sorted(cards)
        if at != SPOILED and serial in spoiled_serials
    ]
    return LotDay(
        lot=lot.lot_number,
        received=received,
        adjusted=adjusted,
        good=len(cards) - on_line - spoiled,
        in_process=on_line,
        spoiled=spoiled,
        on_hand=balance.on_hand,
        reserved=balance.reserved,
        ledger_consumed=balance.consumed,
        ledger_spoiled=balance.spoiled,
        misbooked=tuple(misbooked),
    )
