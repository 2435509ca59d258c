"""Reconciliation: does the ledger add up, and does every card account for its chip?

Per lot: every balance carried by the movements equals the balance recomputed from the
movements alone, and received (+ adjustments) = available + reserved + consumed good +
spoiled. Per card: its chip UID is used once (the schema enforces it too), lies in the UID
range of the lot the card records, and every card with a chip records its lot.

Card states against the ledger, per chip lot: the chips the ledger books as consumed by
good cards are the lot's cards that are not spoiled (those finished, and those still on
the line), the chips it books as spoiled are the lot's spoiled cards, and the chips it
books as reserved are the open reservations. Each card that breaks this is named: one
the ledger books no body for, a spoiled card whose chip is not booked as spoiled, a good
card whose chip is.

Consumables (ribbon, overlay film), from their first delivery on: the rolls booked as
mounted are the rolls the cards taken since need; more cards than the mounted rolls
print is a line that printed past its roll.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from inventory.books import CHIP, Balance
from inventory.models import ChipReservation, MovementKind, StockLot, StockMovement
from inventory.supplies import supplies
from line.models import Card
from line.types import CardState

ON_THE_LINE = (CardState.PRINTING, CardState.PRINTED, CardState.ENCODED)
NAMED = 10
"""Cards named per kind of mismatch; the rest are counted."""


def reconcile(*, session: Session) -> list[str]:
    """Every mismatch found, one line each (empty: everything adds up)."""
    lots = {lot.id: lot for lot in session.exec(select(StockLot).order_by(col(StockLot.id)))}
    problems, running, adjustments = _replay(session)
    problems.extend(_lot_totals(lots, running, adjustments))
    problems.extend(_card_chips(session, lots))
    chip_lots_by_id = {lot_id: lot for lot_id, lot in lots.items() if lot.item_code == CHIP}
    problems.extend(_reservations(session, chip_lots_by_id, running))
    problems.extend(_cards_against_lots(session, chip_lots_by_id, running))
    problems.extend(_consumables(session))
    return problems


def _replay(session: Session) -> tuple[list[str], dict[int, Balance], dict[int, int]]:
    """Replay every movement in order: the balance each carries must be the one the
    movements before it make. Returns the problems, each lot's replayed balance and its
    adjustments' sum (a stock take's correction is part of what the lot received)."""
    problems: list[str] = []
    running: dict[int, Balance] = {}
    adjustments: dict[int, int] = {}
    for movement in session.exec(select(StockMovement).order_by(col(StockMovement.id))):
        before = running.get(movement.lot_id, Balance())
        try:
            after = before.after(movement.kind, movement.quantity)
        except ValueError:
            problems.append(
                f"movement {movement.id}: {movement.kind} of lot {movement.lot_id} goes below zero"
            )
            continue
        carried = Balance(
            movement.on_hand_after,
            movement.reserved_after,
            movement.consumed_after,
            movement.spoiled_after,
        )
        if carried != after:
            problems.append(
                f"movement {movement.id}: carries {carried}, the movements before it make {after}"
            )
        running[movement.lot_id] = after
        if movement.kind.value == "adjustment":
            adjustments[movement.lot_id] = adjustments.get(movement.lot_id, 0) + movement.quantity
    return problems, running, adjustments


def _lot_totals(
    lots: dict[int | None, StockLot], running: dict[int, Balance], adjustments: dict[int, int]
) -> list[str]:
    """Per lot: received (+ adjustments) = available + reserved + consumed + spoiled."""
    problems = []
    for lot_id, stock_lot in lots.items():
        assert lot_id is not None
        balance = running.get(lot_id, Balance())
        total = balance.available + balance.reserved + balance.consumed + balance.spoiled
        expected = stock_lot.quantity + adjustments.get(lot_id, 0)
        if total != expected:
            problems.append(
                f"lot {stock_lot.lot_number}: received {stock_lot.quantity}"
                f"{adjustments.get(lot_id, 0):+d} "
                f"but available {balance.available} + reserved {balance.reserved} "
                f"+ consumed {balance.consumed} + spoiled {balance.spoiled} = {total}"
            )
    return problems


def _card_chips(session: Session, lots: dict[int | None, StockLot]) -> list[str]:
    """Per card with a chip: its UID used once, its lot known, the UID in the lot's range
    (cards of no known lot are named up to ten, then counted)."""
    problems = []
    chip_lots = {each.lot_number: each for each in lots.values() if each.item_code == "chip"}
    seen: dict[str, str] = {}
    unknown = 0
    for card in session.exec(
        select(Card).where(col(Card.chip_uid).is_not(None)).order_by(col(Card.id))
    ):
        assert card.chip_uid is not None
        if card.chip_uid in seen:
            problems.append(f"chip {card.chip_uid} used by {seen[card.chip_uid]} and {card.serial}")
        seen[card.chip_uid] = card.serial
        chip_lot = chip_lots.get(card.chip_lot or "")
        if chip_lot is None:
            unknown += 1
            if unknown <= 10:
                problems.append(
                    f"card {card.serial}: its chip {card.chip_uid} comes from no known lot"
                )
            continue
        assert chip_lot.first_uid is not None and chip_lot.last_uid is not None
        low, high = int(chip_lot.first_uid, 16), int(chip_lot.last_uid, 16)
        if not low <= int(card.chip_uid, 16) <= high:
            problems.append(
                f"card {card.serial}: chip {card.chip_uid} is outside lot "
                f"{chip_lot.lot_number}'s UIDs"
            )
    if unknown > 10:
        problems.append(f"... and {unknown - 10} more cards whose chip comes from no known lot")
    return problems


def _reservations(
    session: Session, chip_lots: dict[int | None, StockLot], running: dict[int, Balance]
) -> list[str]:
    """Per chip lot: the chips the ledger books as reserved are its open reservations."""
    open_reservations = {
        lot_id: int(count)
        for lot_id, count in session.exec(
            select(ChipReservation.lot_id, sa.func.count())
            .where(ChipReservation.state == "reserved")
            .group_by(col(ChipReservation.lot_id))
        )
    }
    problems = []
    for lot_id, lot in chip_lots.items():
        booked = running.get(lot_id or 0, Balance()).reserved
        if booked != open_reservations.get(lot_id or 0, 0):
            problems.append(
                f"lot {lot.lot_number}: the ledger books {booked} chips reserved, but "
                f"{open_reservations.get(lot_id or 0, 0)} reservations are open"
            )
    return problems


def _cards_against_lots(
    session: Session, chip_lots: dict[int | None, StockLot], running: dict[int, Balance]
) -> list[str]:
    """Per chip lot that has given out card bodies and has cards recording it: the chips the
    ledger books as consumed by good cards are the lot's good cards (finished and on the
    line), those it books as spoiled its spoiled cards; then every card that breaks it."""
    tallies: dict[str, dict[str, int]] = {}
    for lot_number, state, count in session.exec(
        select(Card.chip_lot, Card.state, sa.func.count())
        .where(col(Card.chip_lot).is_not(None))
        .group_by(col(Card.chip_lot), col(Card.state))
    ):
        assert lot_number is not None
        kind = (
            "spoiled" if state is CardState.SPOILED else "line" if state in ON_THE_LINE else "done"
        )
        tally = tallies.setdefault(lot_number, {"done": 0, "line": 0, "spoiled": 0})
        tally[kind] += int(count)
    given_out = set(
        session.exec(
            select(StockMovement.lot_id)
            .where(StockMovement.kind == MovementKind.CONSUMPTION)
            .distinct()
        )
    )
    problems: list[str] = []
    checked: dict[int, str] = {}
    for lot_id, lot in chip_lots.items():
        found = tallies.get(lot.lot_number)
        if lot_id is None or found is None or lot_id not in given_out:
            continue  # one side only knows the lot: nothing to hold against the other
        tally = found
        checked[lot_id] = lot.lot_number
        balance = running.get(lot_id, Balance())
        good = tally["done"] + tally["line"]
        if balance.consumed != good:
            problems.append(
                f"lot {lot.lot_number}: the ledger books {balance.consumed} chips consumed by "
                f"good cards, but {good} good cards come from it ({tally['done']} finished, "
                f"{tally['line']} on the line)"
            )
        if balance.spoiled != tally["spoiled"]:
            problems.append(
                f"lot {lot.lot_number}: the ledger books {balance.spoiled} chips spoiled, but "
                f"{tally['spoiled']} spoiled cards come from it"
            )
    if checked:
        problems.extend(_cards_against_movements(session, checked))
    return problems


def _named(problems: list[str], found: list[str], what: str) -> None:
    problems.extend(found[:NAMED])
    if len(found) > NAMED:
        problems.append(f"... and {len(found) - NAMED} more {what}")


def _booked(kind: MovementKind) -> sa.ScalarSelect[int]:
    """How many ``kind`` movements of the card's own chip lot name the card (correlated
    with the ``Card`` row of the outer query)."""
    return (
        select(sa.func.count())
        .select_from(StockMovement)
        .join(StockLot, col(StockLot.id) == StockMovement.lot_id)
        .where(
            StockMovement.card_serial == Card.serial,
            StockMovement.kind == kind,
            StockLot.lot_number == Card.chip_lot,
            StockLot.item_code == CHIP,
        )
        .scalar_subquery()
    )


def _cards_against_movements(session: Session, lots: dict[int, str]) -> list[str]:
    """Each card of ``lots`` (id -> lot number): one body taken for it from its lot, its
    chip booked as spoiled if and only if it is spoiled; and no body taken for no card."""
    untaken, unspoiled, wrongly = _misbooked_cards(session, list(lots.values()))
    problems: list[str] = []
    _named(problems, untaken, "cards whose body the ledger does not book once")
    _named(problems, unspoiled, "spoiled cards whose chip is not booked as spoiled")
    _named(problems, wrongly, "good cards whose chip is booked as spoiled")
    _named(problems, _orphan_bodies(session, list(lots)), "card bodies taken for no card")
    return problems


def _misbooked_cards(
    session: Session, lot_numbers: list[str]
) -> tuple[list[str], list[str], list[str]]:
    """The cards of those lots whose books are off, in one query: those the ledger takes
    no body (or more than one) for, spoiled ones whose chip is not booked as spoiled, and
    good ones whose chip is."""
    taken, spoilage = _booked(MovementKind.CONSUMPTION), _booked(MovementKind.SPOILAGE)
    state = col(Card.state)
    rows = (
        session.connection()
        .execute(
            sa.select(
                col(Card.serial), state, col(Card.chip_lot), col(Card.spoil_reason), taken, spoilage
            )
            .where(
                col(Card.chip_lot).in_(lot_numbers),
                sa.or_(
                    taken != 1,
                    sa.and_(state == CardState.SPOILED, spoilage != 1),
                    sa.and_(state != CardState.SPOILED, spoilage != 0),
                ),
            )
            .order_by(col(Card.id))
        )
        .all()
    )
    untaken, unspoiled, wrongly = [], [], []
    for serial, raw_state, lot, reason, bodies, spoils in rows:
        now = CardState(raw_state)
        if bodies != 1:
            untaken.append(
                f"card {serial} ({now.value}) has its chip from lot {lot}, but the ledger "
                f"books {bodies} card bodies of that lot taken for it"
            )
        if now is CardState.SPOILED and spoils != 1:
            unspoiled.append(
                f"card {serial} is spoiled ({reason or 'no reason'}), but the ledger books "
                f"{spoils} spoilage of its chip"
            )
        elif now is not CardState.SPOILED and spoils:
            wrongly.append(
                f"card {serial} is {now.value}, but the ledger books its chip as spoiled"
            )
    return untaken, unspoiled, wrongly


def _orphan_bodies(session: Session, lot_ids: list[int]) -> list[str]:
    """Card bodies the ledger books as taken from those lots for a card none of the lot's
    cards is."""
    return [
        f"lot {lot_number}: the ledger books a card body taken for {serial or 'no card'}, "
        "which no card of that lot records"
        for lot_number, serial in session.exec(
            select(StockLot.lot_number, StockMovement.card_serial)
            .join(StockLot, col(StockLot.id) == StockMovement.lot_id)
            .where(
                col(StockMovement.lot_id).in_(lot_ids),
                StockMovement.kind == MovementKind.CONSUMPTION,
                ~sa.exists().where(
                    col(Card.serial) == col(StockMovement.card_serial),
                    col(Card.chip_lot) == col(StockLot.lot_number),
                ),
            )
            .order_by(col(StockMovement.id))
        )
    ]


def _consumables(session: Session) -> list[str]:
    """Each consumable from its first delivery: rolls mounted = rolls the cards need."""
    problems = []
    for code, use in supplies(session=session).items():
        if use.mounted < use.needed:
            problems.append(
                f"{code}: {use.cards_taken} cards taken since its first delivery need "
                f"{use.needed} {use.unit}(s) of {use.cards_per_unit}, but {use.mounted} were "
                f"mounted: {-use.left_on_mounted} cards printed past the rolls"
            )
        elif use.mounted > use.needed:
            problems.append(
                f"{code}: {use.mounted} {use.unit}(s) booked as mounted, but the "
                f"{use.cards_taken} cards taken since its first delivery need {use.needed}"
            )
    return problems
