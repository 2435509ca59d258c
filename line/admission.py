"""Which work the line takes next: the approved applications that may start a card now (data
screened, within the ribbon and film left), and the cards an earlier run abandoned mid-line.

The controller (``line.controller``) asks these before it starts or resumes cards; what
they find short is recorded in the run's summary (``line.summary``) and logged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from line.allocation import next_in_line
from line.devices import ChipStock
from line.logsetup import get_logger
from line.models import Application, Card
from line.operations import hold_application
from line.shopfloor import Screen
from line.spec import LineSpec
from line.summary import RunSummary
from line.types import CardState, Clock, Stage

log = get_logger(__name__)

MID_LINE: tuple[CardState, ...] = (CardState.PRINTING, CardState.PRINTED, CardState.ENCODED)
"""Card states a run leaves a card in when it stops between stages."""


def abandoned(before: datetime) -> tuple[Any, ...]:
    """Where-clauses of the cards left mid-line and untouched since ``before``."""
    return (col(Card.state).in_(MID_LINE), col(Card.updated_at) <= before)


def take_abandoned(
    *, session: Session, before: datetime, at: datetime
) -> list[tuple[Card, Application]]:
    """The cards abandoned since ``before``, with their applications, taken over: rows are
    locked, skipping those another worker is taking, and touched at ``at`` so that another
    worker now sees them as fresh, not abandoned."""
    rows = session.exec(
        select(Card, Application)
        .join(Application, col(Application.id) == Card.application_id)
        .where(*abandoned(before))
        .order_by(col(Card.id))
        .with_for_update(skip_locked=True, of=Card)
    ).all()
    for card, _ in rows:
        card.updated_at = at
        session.add(card)
    return list(rows)


def screened(
    *,
    session: Session,
    spec: LineSpec,
    size: int,
    screen: Screen | None,
    actor: str,
    clock: Clock,
    summary: RunSummary,
) -> list[Application]:
    """The next ``size`` applications in line whose data can make a card. One whose photo
    is gone or is not the file recorded at intake is held for a manager before a card body
    (and its chip) is taken for it, and the next in line takes its place."""
    while True:
        waiting = next_in_line(session=session, policy=spec.allocation, limit=size)
        if screen is None:
            return waiting
        bad = [(a, why) for a in waiting if (why := screen(a)) is not None]
        if not bad:
            return waiting
        at = clock()
        for application, reason in bad:
            assert application.id is not None
            hold_application(
                session=session,
                application_id=application.id,
                stage=Stage.PRINT,
                reason_code=reason,
                actor=actor,
                at=at,
            )
            summary.hold(reason)


def within_supplies(
    *,
    session: Session,
    waiting: list[Application],
    stock: ChipStock | None,
    spec: LineSpec,
    printer: str,
    summary: RunSummary,
) -> list[Application]:
    """As many of ``waiting`` (in line order) as the ribbon and film can print: on the
    mounted rolls, then on the rolls in store. The others wait; with none left the printer
    gets no more cards, and the summary says which supply stopped it."""
    if not waiting or stock is None:
        return waiting
    left = stock.supplies_left(session=session)
    can = min([len(waiting), *left.values()])
    summary.gauge("waiting_for_supplies", len(waiting) - can)
    if can == len(waiting):
        return waiting
    short = []
    for item, cards in sorted(left.items()):
        if cards < len(waiting):
            supply = spec.consumables.get(item)
            per_unit = supply.cards_per_unit if supply is not None else 1
            summary.missing(item, -(-(len(waiting) - cards) // per_unit))
            short.append(f"{item} prints {cards} more card(s)")
    summary.gauge(
        "stopped_for",
        f"print.supplies_out: {', '.join(short)}; {summary.waiting_for_supplies} approved "
        f"application(s) wait for {' and '.join(sorted(summary.supplies_missing))}",
    )
    log.warning(
        "line.out_of_supplies",
        reason_code="print.supplies_out",
        machine=printer,
        started=can,
        waiting=summary.waiting_for_supplies,
        cards_left={item: cards for item, cards in sorted(left.items())},
        units_missing=dict(sorted(summary.supplies_missing.items())),
    )
    return waiting[:can]
