"""The controller's stage operations: every change of an application or a card goes through here.

Each operation checks the transition against ``line.states``, applies it to the
application and its live card together, and appends one stage event. Functions take a
keyword-only ``session`` and commit nothing: the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from line.errors import IllegalTransition, LiveCardExists, NotFound
from line.logsetup import get_logger
from line.models import Application, Card, StageEvent, card_serial
from line.routing import Action, Route, next_stage
from line.states import (
    STAGE_INPUT,
    STAGE_OUTPUT,
    application_state_for,
    check_application_transition,
    check_card_transition,
)
from line.types import (
    ApplicationState,
    CardState,
    EventStage,
    Outcome,
    Stage,
)

log = get_logger(__name__)


def _application(session: Session, application_id: int, *, lock: bool = True) -> Application:
    statement = select(Application).where(Application.id == application_id)
    if lock:
        statement = statement.with_for_update()
    application = session.exec(statement).first()
    if application is None:
        raise NotFound(f"application {application_id} not found", application_id=application_id)
    return application


def _card(session: Session, card_id: int) -> Card:
    card = session.exec(select(Card).where(Card.id == card_id).with_for_update()).first()
    if card is None:
        raise NotFound(f"card {card_id} not found", card_id=card_id)
    return card


def live_card(*, session: Session, application_id: int) -> Card | None:
    """The application's card that is not spoiled, if any (there is at most one)."""
    return session.exec(
        select(Card).where(Card.application_id == application_id, Card.state != CardState.SPOILED)
    ).first()


def _event(
    session: Session,
    application: Application,
    card: Card | None,
    *,
    stage: EventStage,
    outcome: Outcome,
    actor: str,
    machine: str | None,
    reason_code: str | None,
    started_at: datetime,
    ended_at: datetime | None = None,
) -> StageEvent:
    """Append one stage event; an instant event (a decision, a start) has no ``ended_at``."""
    ended_at = started_at if ended_at is None else ended_at
    if ended_at < started_at:
        raise ValueError(f"event ends ({ended_at}) before it starts ({started_at})")
    assert application.id is not None
    event = StageEvent(
        application_id=application.id,
        card_id=card.id if card is not None else None,
        stage=stage,
        machine=machine,
        actor=actor,
        outcome=outcome,
        reason_code=reason_code,
        application_state=application.state,
        card_state=card.state if card is not None else None,
        started_at=started_at,
        ended_at=ended_at,
    )
    session.add(event)
    return event


def start_print(
    *,
    session: Session,
    application_id: int,
    actor: str,
    machine: str | None,
    at: datetime,
) -> Card:
    """Take a new card body for an approved application: application and card go to printing."""
    application = _application(session, application_id)
    check_application_transition(
        application.state, ApplicationState.PRINTING, entity_id=application_id
    )
    if live_card(session=session, application_id=application_id) is not None:
        raise LiveCardExists(
            f"application {application_id} already has a live card", application_id=application_id
        )
    attempt = (
        session.exec(
            select(sa.func.count()).select_from(Card).where(Card.application_id == application_id)
        ).one()
        + 1
    )
    check_card_transition(None, CardState.PRINTING)
    card = Card(
        serial=card_serial(application_id, attempt),
        application_id=application_id,
        attempt=attempt,
        state=CardState.PRINTING,
        created_at=at,
        updated_at=at,
    )
    session.add(card)
    application.state = ApplicationState.PRINTING
    application.updated_at = at
    session.add(application)
    session.flush()
    _event(
        session,
        application,
        card,
        stage=EventStage.PRINT,
        outcome=Outcome.OK,
        actor=actor,
        machine=machine,
        reason_code="print.started",
        started_at=at,
    )
    log.debug(
        "card.started",
        application_id=application_id,
        card_serial=card.serial,
        station=Stage.PRINT.value,
        machine=machine,
        attempt=attempt,
    )
    return card


def finish_stage(
    *,
    session: Session,
    card_id: int,
    stage: Stage,
    outcome: Outcome,
    actor: str,
    machine: str | None,
    started_at: datetime,
    ended_at: datetime,
    rework_limit: int,
    reason_code: str | None = None,
) -> Route:
    """Record the end of ``stage`` for a card and route it: advance, rework or hold.

    A failure spoils the card (its chip is used up); the application goes back to
    print (``approved``) or, once it has had ``rework_limit`` replacement cards, is held
    for a manager.
    """
    card = _card(session, card_id)
    application = _application(session, card.application_id)
    expected = STAGE_INPUT[stage]
    if card.state is not expected:
        raise IllegalTransition(
            "card",
            card.state,
            STAGE_OUTPUT[stage] if outcome is Outcome.OK else CardState.SPOILED,
            entity_id=card.serial,
        )
    if outcome is Outcome.FAIL and not reason_code:
        raise ValueError("a failed stage needs a reason code")
    route = next_stage(stage, outcome, attempt=card.attempt, rework_limit=rework_limit)
    if route.action is Action.ADVANCE:
        card_target = STAGE_OUTPUT[stage]
        application_target = application_state_for(card_target)
    else:
        card_target = CardState.SPOILED
        application_target = (
            ApplicationState.APPROVED if route.action is Action.REWORK else ApplicationState.HELD
        )
    check_card_transition(card.state, card_target, entity_id=card.serial)
    check_application_transition(application.state, application_target, entity_id=application.id)
    card.state = card_target
    card.updated_at = ended_at
    if card_target is CardState.SPOILED:
        card.spoiled_at_stage = stage.value
        card.spoil_reason = reason_code
        application.spoiled_cards += 1
    application.state = application_target
    application.updated_at = ended_at
    session.add(card)
    session.add(application)
    _event(
        session,
        application,
        card,
        stage=EventStage(stage.value),
        outcome=outcome,
        actor=actor,
        machine=machine,
        reason_code=reason_code,
        started_at=started_at,
        ended_at=ended_at,
    )
    session.flush()
    # Good cards are routine (the stage event record has them); spoils and holds are news.
    (log.debug if route.action is Action.ADVANCE else log.info)(
        "stage.finished",
        application_id=application.id,
        card_serial=card.serial,
        station=stage.value,
        machine=machine,
        outcome=outcome.value,
        reason_code=reason_code,
        route=route.action.value,
        application_state=application_target.value,
    )
    return route


def confirm_delivery(*, session: Session, card_id: int, actor: str, at: datetime) -> None:
    """The police station has received the card: card and application are delivered."""
    card = _card(session, card_id)
    application = _application(session, card.application_id)
    check_card_transition(card.state, CardState.DELIVERED, entity_id=card.serial)
    check_application_transition(
        application.state, ApplicationState.DELIVERED, entity_id=application.id
    )
    card.state = CardState.DELIVERED
    card.updated_at = at
    application.state = ApplicationState.DELIVERED
    application.updated_at = at
    session.add_all([card, application])
    _event(
        session,
        application,
        card,
        stage=EventStage.DELIVERY,
        outcome=Outcome.OK,
        actor=actor,
        machine=None,
        reason_code=None,
        started_at=at,
    )
    session.flush()


def release_held(
    *, session: Session, application_id: int, actor: str, reason_code: str, at: datetime
) -> None:
    """A manager sends a held application back to print (a further card body is allowed)."""
    _manager_decision(
        session,
        application_id,
        ApplicationState.APPROVED,
        actor=actor,
        reason_code=reason_code,
        at=at,
    )


def cancel_application(
    *, session: Session, application_id: int, actor: str, reason_code: str, at: datetime
) -> None:
    """A manager closes an application that will not get a card (approved or held)."""
    _manager_decision(
        session,
        application_id,
        ApplicationState.CANCELLED,
        actor=actor,
        reason_code=reason_code,
        at=at,
    )


def _manager_decision(
    session: Session,
    application_id: int,
    target: ApplicationState,
    *,
    actor: str,
    reason_code: str,
    at: datetime,
) -> None:
    if not reason_code:
        raise ValueError("a manager's decision needs a reason code")
    application = _application(session, application_id)
    check_application_transition(application.state, target, entity_id=application_id)
    application.state = target
    application.updated_at = at
    session.add(application)
    _event(
        session,
        application,
        None,
        stage=EventStage.MANAGER,
        outcome=Outcome.OK,
        actor=actor,
        machine=None,
        reason_code=reason_code,
        started_at=at,
    )
    session.flush()
    log.info(
        "application.decided",
        application_id=application_id,
        station=EventStage.MANAGER.value,
        actor=actor,
        reason_code=reason_code,
        application_state=target.value,
    )
