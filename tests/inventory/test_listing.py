"""The stock books' read-only queries: a lot by its number, the newest movements in order."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from inventory.ledger import CHIP, adjust, receive, register_consumables
from inventory.listing import find_lot, newest_movements
from line.db import session_scope
from line.spec import ConsumableSpec
from tests.inventory.helpers import at


def _two_lots(engine: Engine) -> None:
    """Lot A (chips, received then adjusted) and lot B (chips): three movements."""
    with session_scope(engine) as session:
        for minute, (lot, first) in enumerate([("A", "04000001"), ("B", "05000001")]):
            receive(
                session=session, item_code=CHIP, lot_number=lot, supplier="Chip Co",
                quantity=10, first_uid=first, at=at(minute), actor="storekeeper",
            )  # fmt: skip
        found = find_lot(session=session, lot_number="A", item_code=CHIP)
        assert found is not None and found.id is not None
        adjust(
            session=session, lot_id=found.id, quantity=-2, reason="count", at=at(5),
            actor="storekeeper",
        )  # fmt: skip


def test_a_lot_is_found_by_its_number_and_item_or_not_at_all(engine: Engine) -> None:
    _two_lots(engine)
    with session_scope(engine) as session:
        lot = find_lot(session=session, lot_number="B")
        assert lot is not None and (lot.lot_number, lot.item_code) == ("B", CHIP)
        assert find_lot(session=session, lot_number="C") is None
        assert find_lot(session=session, lot_number="A", item_code="ribbon") is None


def test_a_lot_number_of_two_items_is_found_for_the_item_asked(engine: Engine) -> None:
    with session_scope(engine) as session:
        register_consumables(
            session=session,
            consumables={"ribbon": ConsumableSpec(name="Ribbon", unit="roll", cards_per_unit=250)},
        )
        for item in (CHIP, "ribbon"):
            receive(
                session=session, item_code=item, lot_number="X1", supplier="S", quantity=3,
                first_uid="04000001" if item == CHIP else None, at=at(0), actor="storekeeper",
            )  # fmt: skip
        ribbon = find_lot(session=session, lot_number="X1", item_code="ribbon")
        assert ribbon is not None and ribbon.item_code == "ribbon"


def test_the_newest_movements_come_oldest_first_and_of_one_lot_when_asked(
    engine: Engine,
) -> None:
    _two_lots(engine)
    with session_scope(engine) as session:
        every = newest_movements(session=session, limit=50)
        assert [(lot.lot_number, m.quantity) for m, lot in every] == [
            ("A", 10),
            ("B", 10),
            ("A", -2),
        ]
        newest = newest_movements(session=session, limit=2)
        assert [(lot.lot_number, m.quantity) for m, lot in newest] == [("B", 10), ("A", -2)]
        of_a = newest_movements(session=session, limit=50, lot_number="A")
        assert [m.quantity for m, _ in of_a] == [10, -2]
        assert newest_movements(session=session, limit=50, lot_number="none") == []
