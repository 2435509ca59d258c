"""Ribbon and overlay film: a mounted roll is stock in use, a roll's capacity is enforced (the
line starts no card it has no panels for), and check holds the rolls against the cards,
on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from structlog.testing import capture_logs

from inventory.check import reconcile
from inventory.cover import ItemCover, cover
from inventory.ledger import (
    LedgerChipStock,
    consume_chip,
    receive,
    register_consumables,
    reserve_chips,
    supplies,
    use_consumables,
)
from inventory.models import ChipReservation
from line.db import session_scope
from line.spec import ConsumableSpec, LineSpec, default_spec
from tests.conftest import StepClock
from tests.inventory.helpers import applications, at, books, line, problems, receive_chips


def with_supplies(ribbon: int, overlay: int) -> LineSpec:
    """The reference spec with rolls of ``ribbon`` and ``overlay`` cards."""
    return default_spec().model_copy(
        update={
            "consumables": {
                "ribbon": ConsumableSpec(name="YMCKO ribbon", unit="roll", cards_per_unit=ribbon),
                "overlay": ConsumableSpec(name="overlay film", unit="roll", cards_per_unit=overlay),
            }
        }
    )


def deliver_rolls(engine: Engine, item: str, rolls: int, lot: str, minute: int = 0) -> None:
    with session_scope(engine) as session:
        receive(
            session=session, item_code=item, lot_number=lot, supplier="Supplies Co",
            quantity=rolls, at=at(minute), actor="storekeeper",
        )  # fmt: skip


def register(engine: Engine, spec: LineSpec) -> None:
    with session_scope(engine) as session:
        register_consumables(session=session, consumables=spec.consumables)


def take_bodies(session: Session, apps: list[int], first: int) -> None:
    """Card bodies taken for ``apps`` (serials from ``first``), and the rolls they need."""
    reserve_chips(session=session, application_ids=apps, at=at(1), actor="line")
    for n, app in enumerate(apps, start=first):
        consume_chip(
            session=session, application_id=app, card_serial=f"C{n}-1", at=at(2), actor="line"
        )
    use_consumables(session=session, at=at(2), actor="line")


def ribbon_cover(engine: Engine, backlog: int = 0) -> ItemCover:
    with session_scope(engine) as session:
        (found,) = [
            c for c in cover(session=session, now=at(60), backlog=backlog) if c.item == "ribbon"
        ]
        return found


def test_a_mounted_roll_is_stock_in_use_and_out_only_when_nothing_is_left(engine: Engine) -> None:
    from flows.stock_flows import EVENTS

    register(engine, with_supplies(ribbon=5, overlay=100))
    receive_chips(engine, "L1", 20, "04A0000000000001")
    deliver_rolls(engine, "ribbon", 1, "R-1")
    apps = applications(engine, 7)
    with session_scope(engine) as session:
        take_bodies(session, apps[:3], 1)
    mounted = ribbon_cover(engine)
    # The only roll is in the printer with 2 cards left on it: in use, not out (low: at 3
    # cards a week, 2 cards are less than the 21 days of the reorder point).
    assert (mounted.available, mounted.in_use, mounted.cards_left) == (0, 1, 2)
    assert mounted.state == "low" and EVENTS[mounted.state] != "cardline.stock.out"
    assert mounted.reason.startswith("1 roll in use (2 cards left on it), 0 in store: 2 cards left")
    # Two approved applications can still be printed, five cannot.
    assert ribbon_cover(engine, backlog=2).state != "short"
    assert ribbon_cover(engine, backlog=5).state == "short"
    with session_scope(engine) as session:
        take_bodies(session, apps[3:5], 4)
    used_up = ribbon_cover(engine)
    assert (used_up.state, used_up.in_use, used_up.cards_left) == ("out", 0, 0)
    assert used_up.reason.startswith(
        "nothing left to print with (1 roll(s) used up, none in store)"
    )
    # Overlay film was never delivered: the books know of none.
    with session_scope(engine) as session:
        (film,) = [c for c in cover(session=session, now=at(60), backlog=0) if c.item == "overlay"]
    assert (film.state, film.cards_left) == ("out", None)


def test_the_line_starts_only_the_cards_its_rolls_can_print_then_resumes_with_a_new_roll(
    engine: Engine, clock: StepClock
) -> None:
    spec = with_supplies(ribbon=3, overlay=10)
    register(engine, spec)
    receive_chips(engine, "L1", 10, "04A0000000000001")
    deliver_rolls(engine, "ribbon", 1, "R-1")
    deliver_rolls(engine, "overlay", 1, "O-1")
    applications(engine, 5)
    with capture_logs() as logs:
        summary = line(engine, clock, spec=spec).run(batch_size=2)
    assert (summary.started, summary.passed) == (3, 3)
    assert (summary.waiting_for_supplies, summary.supplies_missing) == (2, {"ribbon": 1})
    assert summary.as_dict()["waiting_for_supplies"] == 2
    assert summary.as_dict()["stopped_for"] == (
        "print.supplies_out: ribbon prints 0 more card(s); 2 approved application(s) wait for "
        "ribbon"
    )
    stopped = [e for e in logs if e["event"] == "line.out_of_supplies"]
    assert stopped and stopped[-1]["reason_code"] == "print.supplies_out"
    assert stopped[-1]["log_level"] == "warning" and stopped[-1]["cards_left"]["ribbon"] == 0
    with session_scope(engine) as session:
        use = supplies(session=session)
        assert (use["ribbon"].mounted, use["ribbon"].cards_left) == (1, 0)
        assert (use["overlay"].mounted, use["overlay"].cards_left) == (1, 7)
        # No chip was reserved for the cards that could not start.
        assert (
            session.exec(select(ChipReservation).where(ChipReservation.state == "reserved")).all()
            == []
        )
    assert books(engine) == (3, 0, 7)
    assert problems(engine) == []
    deliver_rolls(engine, "ribbon", 1, "R-2", minute=30)
    again = line(engine, clock, spec=spec).run(batch_size=2)
    assert (again.started, again.passed, again.waiting_for_supplies) == (2, 2, 0)
    with session_scope(engine) as session:
        use = supplies(session=session)
        assert (use["ribbon"].mounted, use["ribbon"].cards_left) == (2, 1)
    assert problems(engine) == []


def test_a_supply_that_ran_out_stops_the_line_before_any_chip_is_taken(
    engine: Engine, clock: StepClock
) -> None:
    spec = with_supplies(ribbon=2, overlay=10)
    register(engine, spec)
    receive_chips(engine, "L1", 10, "04A0000000000001")
    deliver_rolls(engine, "ribbon", 1, "R-1")
    applications(engine, 2)
    assert line(engine, clock, spec=spec).run().started == 2
    applications(engine, 3, first_seed=20)
    summary = line(engine, clock, spec=spec).run()
    assert (summary.started, summary.waiting_for_supplies) == (0, 3)
    assert summary.supplies_missing == {"ribbon": 2}
    assert books(engine) == (2, 0, 8) and problems(engine) == []


def test_check_names_cards_printed_past_their_rolls(engine: Engine) -> None:
    register(engine, with_supplies(ribbon=2, overlay=100))
    receive_chips(engine, "L1", 10, "04A0000000000001")
    deliver_rolls(engine, "ribbon", 1, "R-1")
    apps = applications(engine, 4)
    with session_scope(engine) as session:
        # As the line did before: cards started with no panels left for them.
        take_bodies(session, apps, 1)
        assert reconcile(session=session) == [
            "ribbon: 4 cards taken since its first delivery need 2 roll(s) of 2, but 1 were "
            "mounted: 2 cards printed past the rolls"
        ]


def test_a_consumable_is_tracked_from_its_first_delivery(engine: Engine) -> None:
    register(engine, with_supplies(ribbon=5, overlay=100))
    receive_chips(engine, "L1", 20, "04A0000000000001")
    apps = applications(engine, 8)
    with session_scope(engine) as session:
        take_bodies(session, apps[:6], 1)  # printed before ribbon was booked at all
    deliver_rolls(engine, "ribbon", 2, "R-1", minute=10)
    with session_scope(engine) as session:
        assert supplies(session=session)["ribbon"].cards_left == 10
        assert LedgerChipStock(actor="line").supplies_left(session=session)["ribbon"] == 10
        take_bodies(session, apps[6:], 7)
        ribbon = supplies(session=session)["ribbon"]
        assert (ribbon.cards_taken, ribbon.mounted, ribbon.in_store) == (2, 1, 1)
        assert reconcile(session=session) == []
