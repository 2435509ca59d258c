"""A line run over three of the centre's days, for the reconciliation tests: the controller
with scripted devices on the real ledger, spoils at print, chip-encode and QC (reworked on
new card bodies), a day's dispatch, the next day's delivery and a card returned, and cards
left mid-line at the end of each day.

Days are the centre's (Asia/Ho_Chi_Minh, UTC+7); every step of a day happens between
13:00 and 14:00 local time, so that no step crosses a midnight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from inventory.ledger import LedgerChipStock
from line.controller import Devices, LineController
from line.db import session_scope
from line.dispatch import deliver, dispatch, ready_for_dispatch, return_card
from line.models import Card, StageEvent, card_serial
from line.spec import default_spec
from line.types import ApplicationState, CardState, EventKind, Outcome, Stage
from tests.conftest import TODAY, StepClock
from tests.factories import add_application
from tests.inventory.helpers import LedgerEncoder, applications, receive_chips
from tests.line.helpers import ScriptedPrinter, ScriptedQc

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
DAY1 = date(2026, 11, 2)
DAYS = (DAY1, DAY1 + timedelta(days=1), DAY1 + timedelta(days=2))


def moment(day: date, minute: int) -> datetime:
    """``minute`` minutes after 13:00 on the centre's ``day``, in UTC."""
    local = datetime(day.year, day.month, day.day, 13, tzinfo=ZONE) + timedelta(minutes=minute)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Run:
    """What the run did, for the tests to hold the reconciliation against."""

    returned: str  # the serial of the delivered card that came back
    refused: str  # the serial of a dispatched card that came back before delivery
    stuck: list[str]  # cards the stopped printer left in print on the last day


def _controller(
    engine: Engine, start: datetime, printer: ScriptedPrinter, defective: set[str], reject: set[str]
) -> LineController:
    return LineController(
        engine=engine,
        spec=default_spec(),
        devices=Devices(printer, LedgerEncoder(engine, defective), ScriptedQc(reject=reject)),
        clock=StepClock(start),
        actor="test-run",
        stock=LedgerChipStock(actor="line"),
        resume_after=timedelta(0),
        device_retries=0,
    )


def line_run(engine: Engine) -> Run:
    """Day 1: 6 applications made, one spoiled at each of print, chip-encode and QC (each
    remade). Day 2: the 6 good cards dispatched; 3 more applications made. Day 3: the first
    batch delivered, one of its cards returned; day 2's cards dispatched (not yet
    delivered), one of them refused by its station; 2 more applications (and the two
    returned cards' replacements) started on a printer that stops (left in print)."""
    receive_chips(engine, "L1", 30, "04A0000000000001")
    ids = applications(engine, 6)
    first = {card_serial(i, 1) for i in ids}
    jam, bad, reject = (card_serial(ids[n], 1) for n in (1, 2, 3))
    summary = _controller(
        engine, moment(DAYS[0], 0), ScriptedPrinter(jam={jam}), {bad}, {reject}
    ).run(batch_size=10)
    assert summary.passed == 6, summary
    _dispatch(engine, moment(DAYS[1], 0), "B1")
    more = applications(engine, 3, first_seed=50)
    assert _controller(engine, moment(DAYS[1], 10), ScriptedPrinter(), set(), set()).run().passed
    batches = _dispatch(engine, moment(DAYS[2], 0), "B2", deliver_first="B1")
    assert batches
    returned = sorted(first - {jam, bad, reject})[0]
    refused = card_serial(more[0], 1)
    with session_scope(engine) as session:
        for serial, reason in ((returned, "delivery.damaged"), (refused, "delivery.refused")):
            return_card(
                session=session, serial=serial, reason=reason, actor="station",
                at=moment(DAYS[2], 5), rework_limit=2, stock=LedgerChipStock(actor="cli"),
            )  # fmt: skip
    stuck_ids = applications(engine, 2, first_seed=80)
    stopped = ScriptedPrinter(offline=1_000)
    _controller(engine, moment(DAYS[2], 10), stopped, set(), set()).run(limit=4)
    return Run(returned, refused, [card_serial(i, 1) for i in stuck_ids])


def _dispatch(
    engine: Engine, at: datetime, prefix: str, deliver_first: str | None = None
) -> list[str]:
    """Deliver the batches whose code starts with ``deliver_first``, then dispatch every
    passed card, one batch per station."""
    codes = []
    with session_scope(engine) as session:
        if deliver_first is not None:
            from sqlmodel import col, select

            from line.models import DispatchBatch

            for code in session.exec(
                select(DispatchBatch.code).where(col(DispatchBatch.code).startswith(deliver_first))
            ).all():
                deliver(session=session, code=code, actor="station", at=at)
        for n, (destination, cards) in enumerate(ready_for_dispatch(session=session).items()):
            batch = dispatch(
                session=session, destination=destination, cards=cards, code=f"{prefix}-{n}",
                actor="d", at=at + timedelta(minutes=1), rework_limit=2,
            )  # fmt: skip
            codes.append(batch.code)
    return codes


# --- records written by hand (no stage operation: they may be broken) ---------------------


def add_card(session: Session, seed: int, lot: str | None = None) -> Card:
    """An approved application and a card for it, written straight into the database."""
    application = add_application(session, seed=seed, today=TODAY)
    assert application.id is not None
    card = Card(
        serial=card_serial(application.id, 1), application_id=application.id, attempt=1,
        state=CardState.QC_PASSED, chip_lot=lot, created_at=moment(DAYS[0], 0),
        updated_at=moment(DAYS[0], 0),
    )  # fmt: skip
    session.add(card)
    session.flush()
    return card


def add_events(session: Session, card: Card, steps: list[tuple[Stage, EventKind, Outcome]]) -> None:
    """Write ``card``'s events straight into the record, one minute apart on day 1."""
    for minute, (stage, kind, outcome) in enumerate(steps):
        at = moment(DAYS[0], minute)
        session.add(
            StageEvent(
                application_id=card.application_id, card_id=card.id, stage=stage, kind=kind,
                actor="test", outcome=outcome,
                reason_code="print.started" if kind is EventKind.START else
                None if outcome is Outcome.OK else "print.jam",
                application_state=ApplicationState.PRINTING, card_state=card.state,
                started_at=at, ended_at=at,
            )
        )  # fmt: skip


OK = (EventKind.OUTCOME, Outcome.OK)
THROUGH_QC = [
    (Stage.PRINT, EventKind.START, Outcome.OK),
    (Stage.PRINT, *OK),
    (Stage.ENCODE, *OK),
    (Stage.QC, *OK),
]


def broken_day(engine: Engine) -> str:
    """Day 1 of two cards through QC, written by hand, one of them without its chip-encode
    outcome: that card's serial."""
    with session_scope(engine) as session:
        whole, broken = add_card(session, 1), add_card(session, 2)
        add_events(session, whole, THROUGH_QC)
        add_events(session, broken, [THROUGH_QC[0], THROUGH_QC[1], THROUGH_QC[3]])
        return broken.serial
