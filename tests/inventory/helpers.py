"""Helpers the tests of inventory share: a clock of fixed instants, approved applications,
a chip receipt, and the line run on the real ledger with scripted devices, with its books."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from inventory.check import reconcile
from inventory.ledger import CHIP, LedgerChipStock, balance_of, receive, stock
from line.card import CardData
from line.controller import Devices, LineController
from line.db import session_scope
from line.devices import ChipRecord, EncodesOneByOne
from line.errors import DeviceError
from line.models import Card
from line.spec import LineSpec, default_spec
from tests.conftest import TODAY, StepClock
from tests.factories import add_application
from tests.line.helpers import ScriptedPrinter, ScriptedQc

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def applications(engine: Engine, count: int, first_seed: int = 1) -> list[int]:
    with session_scope(engine) as session:
        return [
            add_application(session, seed=first_seed + n, today=TODAY).id or 0 for n in range(count)
        ]


def receive_chips(engine: Engine, lot: str, quantity: int, first_uid: str, minute: int = 0) -> None:
    with session_scope(engine) as session:
        receive(
            session=session,
            item_code=CHIP,
            lot_number=lot,
            supplier="Chip Co",
            quantity=quantity,
            first_uid=first_uid,
            at=at(minute),
            actor="storekeeper",
        )


@dataclass
class LedgerEncoder(EncodesOneByOne):
    """Writes the chip the ledger issued to the card body (its recorded UID); the cards in
    ``defective`` have a chip that fails with a memory failure."""

    engine: Engine
    defective: set[str] = field(default_factory=set)
    name: str = "encode-01"

    def encode(self, card: CardData) -> ChipRecord:
        with session_scope(self.engine) as session:
            uid = session.exec(select(Card.chip_uid).where(Card.serial == card.card_serial)).one()
        assert uid is not None, "the ledger gave every card body its chip"
        if card.card_serial in self.defective:
            raise DeviceError(
                "memory failure",
                device=self.name,
                reason_code="encode.memory_failure",
                card_serial=card.card_serial,
                chip_uid=uid,
            )
        return ChipRecord(card.card_serial, uid)


def line(
    engine: Engine,
    clock: StepClock,
    *,
    spec: LineSpec | None = None,
    printer: ScriptedPrinter | None = None,
    defective: set[str] | None = None,
) -> LineController:
    return LineController(
        engine=engine,
        spec=spec or default_spec(),
        devices=Devices(
            printer or ScriptedPrinter(), LedgerEncoder(engine, defective or set()), ScriptedQc()
        ),
        clock=clock,
        actor="test-run",
        stock=LedgerChipStock(actor="line"),
        resume_after=timedelta(0),
    )


def books(engine: Engine, lot: str = "L1") -> tuple[int, int, int]:
    """The lot's chips consumed by good cards, spoiled, available."""
    with session_scope(engine) as session:
        (found,) = [s for s in stock(session=session, item_code=CHIP) if s.lot.lot_number == lot]
        balance = balance_of(session=session, lot_id=found.lot.id or 0)
        return balance.consumed, balance.spoiled, balance.available


def problems(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return reconcile(session=session)
