"""A card starts: a new card body for an approved application (``start_prints``), and its
chip taken from stock (``take_chips``): the stage operations before any outcome.

Each checks the transitions against ``line.states`` and appends the start event
(``line.types.EventKind.START``, reason ``print.started``). Re-exported from
``line.operations`` with the outcomes; functions take a keyword-only ``session`` and
commit nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from line import reasons
from line.devices import ChipStock
from line.errors import LiveCardExists, NotFound
from line.events import append_event
from line.logsetup import get_logger
from line.models import Application, Card, card_serial
from line.states import check_application_transition, check_card_transition
from line.types import ApplicationState, CardState, EventKind, Outcome, Stage

log = get_logger(__name__)


def start_print(
    *,
    session: Session,
    application_id: int,
    actor: str,
    machine: str | None,
    at: datetime,
) -> Card:
    """Take a new card body for an approved application: application and card go to printing."""
    return start_prints(
        session=session, application_ids=[application_id], actor=actor, machine=machine, at=at
    )[0]


def start_prints(
    *,
    session: Session,
    application_ids: Sequence[int],
    actor: str,
    machine: str | None,
    at: datetime,
) -> list[Card]:
    """``start_print`` for a batch of applications, with one read of each kind and one flush.
    All or nothing: if any application may not start, nothing is changed."""
    if len(set(application_ids)) != len(application_ids):
        raise ValueError("an application can start only one card at a time")
    applications = {
        application.id: application
        for application in session.exec(
            select(Application).where(col(Application.id).in_(application_ids)).with_for_update()
        )
    }
    cards_made = _check_startable(session, application_ids, applications)
    cards = []
    for application_id in application_ids:
        attempt = cards_made[application_id] + 1
        card = Card(
            serial=card_serial(application_id, attempt),
            application_id=application_id,
            attempt=attempt,
            state=CardState.PRINTING,
            created_at=at,
            updated_at=at,
        )
        application = applications[application_id]
        application.state = ApplicationState.PRINTING
        application.updated_at = at
        session.add(card)
        session.add(application)
        cards.append(card)
    session.flush()  # the cards get their ids
    for card in cards:
        append_event(
            session,
            applications[card.application_id],
            card,
            stage=Stage.PRINT,
            kind=EventKind.START,
            outcome=Outcome.OK,
            actor=actor,
            machine=machine,
            reason_code=reasons.STARTED,
            started_at=at,
        )
        log.debug(
            "card.started",
            application_id=card.application_id,
            card_serial=card.serial,
            station=Stage.PRINT.value,
            machine=machine,
            attempt=card.attempt,
        )
    session.flush()
    return cards


def _check_startable(
    session: Session, application_ids: Sequence[int], applications: dict[int | None, Application]
) -> dict[int, int]:
    """Raise unless every application may start a card; returns the cards each has had."""
    cards_made: dict[int, int] = dict.fromkeys(application_ids, 0)
    live: set[int] = set()
    for application_id, state in session.exec(
        select(Card.application_id, Card.state).where(col(Card.application_id).in_(application_ids))
    ):
        cards_made[application_id] += 1
        if state is not CardState.SPOILED:
            live.add(application_id)
    for application_id in application_ids:
        application = applications.get(application_id)
        if application is None:
            raise NotFound(f"application {application_id} not found", application_id=application_id)
        check_application_transition(
            application.state, ApplicationState.PRINTING, entity_id=application_id
        )
        if application_id in live:
            raise LiveCardExists(
                f"application {application_id} already has a live card",
                application_id=application_id,
            )
    check_card_transition(None, CardState.PRINTING)
    return cards_made


def take_chips(*, session: Session, cards: Sequence[Card], stock: ChipStock, at: datetime) -> None:
    """The card bodies (and their chips) of cards that just started are taken from stock:
    each application's reserved body is consumed (the whole batch in one pass of the stock),
    and the card records its lot and chip."""
    taken = stock.consume_all(
        session=session, takes=[(card.application_id, card.serial) for card in cards], at=at
    )
    for card, (lot_number, chip_uid) in zip(cards, taken, strict=True):
        card.chip_lot, card.chip_uid = lot_number, chip_uid
        session.add(card)
