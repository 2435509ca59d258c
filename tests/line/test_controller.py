"""The controller's bookkeeping with scripted devices (unit test of one piece).

The same controller with the real virtual devices is tested in tests/printers/test_line.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from line.card import CardData
from line.controller import Devices, LineController
from line.db import session_scope
from line.devices import (
    ChipRecord,
    EncodesOneByOne,
    PrinterStopped,
    PrintJob,
)
from line.errors import DeviceError
from line.events import qc_verdicts
from line.kpi import status_counts
from line.models import Application, Card, StageEvent
from line.spec import default_spec
from tests.conftest import TODAY, StepClock
from tests.factories import add_application
from tests.line.helpers import ScriptedPrinter, ScriptedQc


@dataclass
class ScriptedEncoder(EncodesOneByOne):
    defective: set[str] = field(default_factory=set)
    name: str = "encode-01"
    issued: int = 0

    def encode(self, card: CardData) -> ChipRecord:
        self.issued += 1
        uid = f"04{self.issued:012X}"
        if card.card_serial in self.defective:
            raise DeviceError(
                "memory failure",
                device=self.name,
                reason_code="encode.memory_failure",
                card_serial=card.card_serial,
                chip_uid=uid,
            )
        return ChipRecord(card.card_serial, uid)


def serial(application_id: int, attempt: int = 1) -> str:
    return f"C{application_id:010d}-{attempt}"


def controller(engine: Engine, clock: StepClock, devices: Devices) -> LineController:
    # resume_after 0: these tests play the same worker running again after it stopped
    return LineController(
        engine=engine,
        spec=default_spec(),
        devices=devices,
        clock=clock,
        actor="test-run",
        resume_after=timedelta(0),
    )


def add(engine: Engine, count: int) -> None:
    with session_scope(engine) as session:
        for seed in range(count):
            add_application(session, seed=100 + seed, today=TODAY)


def test_good_cards_go_through_and_failures_are_reworked(
    sqlite_engine: Engine, clock: StepClock
) -> None:
    add(sqlite_engine, 5)
    devices = Devices(
        printer=ScriptedPrinter(jam={serial(2)}),
        encoder=ScriptedEncoder(defective={serial(3)}),
        qc=ScriptedQc(reject={serial(4)}),
    )
    summary = controller(sqlite_engine, clock, devices).run(batch_size=10)
    # First pass: 1 and 5 pass; 2 jammed, 3 defective, 4 rejected -> reworked on new cards.
    assert summary.started == 8 and summary.passed == 5 and summary.held == 0
    assert summary.spoiled == {"print.jam": 1, "encode.memory_failure": 1, "qc.sod.signature": 1}
    with session_scope(sqlite_engine) as session:
        counts = status_counts(session=session)
        assert counts.applications["qc_passed"] == 5
        assert counts.cards["qc_passed"] == 5 and counts.cards["spoiled"] == 3
        cards = {c.serial: c for c in session.exec(select(Card))}
        assert cards[serial(3)].chip_uid is not None, "a defective chip is recorded as used"
        assert cards[serial(3)].spoil_reason == "encode.memory_failure"
        verdicts = qc_verdicts(session=session, card_ids=[c.id for c in cards.values() if c.id])
        assert verdicts[cards[serial(4)].id or 0] == "qc.sod.signature"
        assert verdicts[cards[serial(4, 2)].id or 0] == "passed"
        assert cards[serial(1)].print_pdf == "/spool/batch.pdf" and cards[serial(1)].front_page == 0
        events = session.exec(
            select(StageEvent).where(StageEvent.application_id == 3).order_by(StageEvent.id)
        ).all()
        assert [(e.stage.value, e.outcome.value, e.reason_code) for e in events] == [
            ("print", "ok", "print.started"),
            ("print", "ok", None),
            ("chip-encode", "fail", "encode.memory_failure"),
            ("print", "ok", "print.started"),
            ("print", "ok", None),
            ("chip-encode", "ok", None),
            ("qc", "ok", None),
        ]
        assert all(e.actor == "test-run" for e in events)


def test_a_card_that_always_fails_is_held_after_the_rework_limit(
    sqlite_engine: Engine, clock: StepClock
) -> None:
    add(sqlite_engine, 1)
    always = {serial(1, attempt) for attempt in range(1, 10)}
    devices = Devices(ScriptedPrinter(), ScriptedEncoder(), ScriptedQc(reject=always))
    summary = controller(sqlite_engine, clock, devices).run()
    assert (summary.started, summary.passed, summary.held) == (3, 0, 1)  # rework limit 2
    with session_scope(sqlite_engine) as session:
        application = session.get(Application, 1)
        assert application is not None and application.state.value == "held"


def test_an_offline_printer_is_retried_then_left_for_the_next_run(
    sqlite_engine: Engine, clock: StepClock
) -> None:
    add(sqlite_engine, 2)
    printer = ScriptedPrinter(offline=10)
    devices = Devices(printer, ScriptedEncoder(), ScriptedQc())
    first = controller(sqlite_engine, clock, devices).run()
    assert first.device_faults == {"print.offline": 4} and first.printed == 0
    with session_scope(sqlite_engine) as session:
        assert status_counts(session=session).cards["printing"] == 2
    printer.offline = 0
    second = controller(sqlite_engine, clock, devices).run()
    assert (second.started, second.printed, second.passed) == (0, 2, 2)  # resumed, no new cards


def test_a_limit_stops_after_that_many_cards(sqlite_engine: Engine, clock: StepClock) -> None:
    add(sqlite_engine, 7)
    devices = Devices(ScriptedPrinter(), ScriptedEncoder(), ScriptedQc())
    summary = controller(sqlite_engine, clock, devices).run(batch_size=3, limit=5)
    assert (summary.batches, summary.started, summary.passed) == (2, 5, 5)


def test_cards_left_mid_line_are_taken_over_only_once_abandoned(
    sqlite_engine: Engine, clock: StepClock
) -> None:
    add(sqlite_engine, 2)
    printer = ScriptedPrinter(offline=10)
    devices = Devices(printer, ScriptedEncoder(), ScriptedQc())
    controller(sqlite_engine, clock, devices).run()  # the printer stays offline: cards at print
    printer.offline = 0
    patient = LineController(
        engine=sqlite_engine,
        spec=default_spec(),
        devices=devices,
        clock=clock,
        actor="other-worker",
    )
    # Another worker may be busy with them: a young card is left alone...
    assert (patient.run().printed, patient.run().passed) == (0, 0)
    # ...until it has lain untouched for the resume delay (5 minutes by default).
    clock.now += timedelta(minutes=6)
    later = LineController(
        engine=sqlite_engine,
        spec=default_spec(),
        devices=devices,
        clock=clock,
        actor="other-worker",
    ).run()
    assert (later.started, later.printed, later.passed) == (0, 2, 2)


@dataclass
class StoppingPrinter(ScriptedPrinter):
    """Prints the first card of its first batch, then stops (ribbon out) with that part done."""

    stopped: bool = False

    def print_cards(self, cards: Sequence[CardData]) -> PrintJob:
        if self.stopped:
            return super().print_cards(cards)
        self.stopped = True
        fault = PrinterStopped("ribbon out", device=self.name, reason_code="print.ribbon_out")
        fault.job = super().print_cards(cards[:1])
        raise fault


def test_a_printer_that_stops_mid_batch_has_its_part_recorded_and_the_rest_printed_again(
    sqlite_engine: Engine, clock: StepClock
) -> None:
    add(sqlite_engine, 3)
    printer = StoppingPrinter()
    devices = Devices(printer, ScriptedEncoder(), ScriptedQc())
    summary = controller(sqlite_engine, clock, devices).run(batch_size=3)
    assert summary.device_faults == {"print.ribbon_out": 1}
    assert (summary.started, summary.printed, summary.passed) == (3, 3, 3)
    with session_scope(sqlite_engine) as session:
        events = session.exec(select(StageEvent).where(StageEvent.reason_code.is_(None))).all()
        prints = [e for e in events if e.stage.value == "print"]
        assert len(prints) == 3, "each card printed once: the stopped job's card not again"


@dataclass
class PreparingEncoder(ScriptedEncoder):
    prepared: list[list[str]] = field(default_factory=list)

    def prepare(self, cards: Sequence[CardData]) -> None:
        self.prepared.append([c.card_serial for c in cards])


def test_the_encoder_prepares_each_batch_as_it_enters_the_line(
    sqlite_engine: Engine, clock: StepClock
) -> None:
    add(sqlite_engine, 3)
    encoder = PreparingEncoder()
    devices = Devices(ScriptedPrinter(), encoder, ScriptedQc())
    controller(sqlite_engine, clock, devices).run(batch_size=2)
    assert encoder.prepared == [[serial(1), serial(2)], [serial(3)]]
    assert ScriptedEncoder().prepare([]) is None, "an encoder of one card at a time: no-op"
