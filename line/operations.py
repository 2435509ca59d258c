"""The controller's stage operations: every change of an application or a card goes through here.

Each operation checks the transition against ``line.states``, applies it to the
application and its live card together, and appends one stage event. Every reason code an
event carries is one of the catalogue (``line.reasons``). A card that is spoiled here (at a
stage, or returned after dispatch) has its chip booked as spoiled through the chip stock
port (``line.devices.ChipStock``) in the same transaction: no other path spoils a card.
Functions take a keyword-only ``session`` and commit nothing: the caller owns the
transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from line import reasons
from line.devices import ChipStock
from line.errors import IllegalTransition, LiveCardExists, NotFound
from line.logsetup import get_logger
from line.models import Application, Card, StageEvent, card_serial
from line.reasons import Kind
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
    """Append one stage event; an instant event (a decision, a start) has no ``ended_at``.
    Its reason code, if any, must be one of the catalogue's for ``stage``."""
    if reason_code is not None:
        reasons.require(reason_code, stage=stage, field="reason_code")
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
        _event(
            session,
            applications[card.application_id],
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
            application_id=card.application_id,
            card_serial=card.serial,
            station=Stage.PRINT.value,
            machine=machine,
            attempt=card.attempt,
        )
    session.flush()
    return cards


@dataclass(frozen=True, slots=True)
class StageResult:
    """How ``stage`` ended for one card, as a device or an operator reports it."""

    card_id: int
    stage: Stage
    outcome: Outcome
    actor: str
    machine: str | None
    started_at: datetime
    ended_at: datetime
    reason_code: str | None = None


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
    stock: ChipStock | None = None,
) -> Route:
    """Record the end of ``stage`` for a card and route it: advance, rework or hold.

    A failure spoils the card (its chip is used up, and booked so in ``stock``); the
    application goes back to print (``approved``) or, once it has had ``rework_limit``
    replacement cards, is held for a manager.
    """
    result = StageResult(card_id, stage, outcome, actor, machine, started_at, ended_at, reason_code)
    routes = finish_stages(
        session=session, results=[result], rework_limit=rework_limit, stock=stock
    )
    return routes[0]


def finish_stages(
    *,
    session: Session,
    results: Sequence[StageResult],
    rework_limit: int,
    stock: ChipStock | None = None,
) -> list[Route]:
    """``finish_stage`` for a batch of cards, with one read of the cards and applications
    (locked) and one flush: the line records a batch at a time. All or nothing: an illegal
    transition of any card raises before anything is changed.

    Every card spoiled here that took a chip from a stock lot (``Card.chip_lot``) has its
    chip booked as spoiled in ``stock``; without a stock such a card is refused."""
    if not results:
        return []
    card_ids = [result.card_id for result in results]
    if len(set(card_ids)) != len(card_ids):
        raise ValueError("a card can finish a stage only once per batch")
    cards = {
        card.id: card
        for card in session.exec(select(Card).where(col(Card.id).in_(card_ids)).with_for_update())
    }
    missing = [card_id for card_id in card_ids if card_id not in cards]
    if missing:
        raise NotFound(f"card {missing[0]} not found", card_id=missing[0])
    application_ids = {card.application_id for card in cards.values()}
    applications = {
        application.id: application
        for application in session.exec(
            select(Application).where(col(Application.id).in_(application_ids)).with_for_update()
        )
    }
    plans = []
    for result in results:
        card = cards[result.card_id]
        application = applications[card.application_id]
        route, card_target, application_target = _plan(result, card, application, rework_limit)
        if card_target is CardState.SPOILED:
            _check_stock(card, stock)
        plans.append((result, card, application, route, card_target, application_target))
    routes = []
    for result, card, application, route, card_target, application_target in plans:
        _apply(
            session,
            card,
            application,
            card_target=card_target,
            application_target=application_target,
            stage=EventStage(result.stage.value),
            outcome=result.outcome,
            actor=result.actor,
            machine=result.machine,
            reason_code=result.reason_code,
            started_at=result.started_at,
            ended_at=result.ended_at,
            stock=stock,
        )
        # Good cards are routine (the stage event record has them); spoils and holds are news.
        (log.debug if route.action is Action.ADVANCE else log.info)(
            "stage.finished",
            application_id=application.id,
            card_serial=card.serial,
            station=result.stage.value,
            machine=result.machine,
            outcome=result.outcome.value,
            reason_code=result.reason_code,
            route=route.action.value,
            application_state=application_target.value,
        )
        routes.append(route)
    session.flush()
    return routes


def _plan(
    result: StageResult, card: Card, application: Application, rework_limit: int
) -> tuple[Route, CardState, ApplicationState]:
    """Where ``result`` takes the card and its application; raises if it may not."""
    expected = STAGE_INPUT[result.stage]
    if card.state is not expected:
        raise IllegalTransition(
            "card",
            card.state,
            STAGE_OUTPUT[result.stage] if result.outcome is Outcome.OK else CardState.SPOILED,
            entity_id=card.serial,
        )
    if result.outcome is Outcome.FAIL and not result.reason_code:
        raise ValueError("a failed stage needs a reason code")
    if result.outcome is Outcome.FAIL:
        reasons.require(
            result.reason_code,
            stage=EventStage(result.stage.value),
            kinds=(Kind.SPOIL, Kind.DATA),
            field="reason_code",
            what="failure reason",
        )
    if result.ended_at < result.started_at:
        raise ValueError(f"event ends ({result.ended_at}) before it starts ({result.started_at})")
    route = next_stage(
        result.stage,
        result.outcome,
        attempt=card.attempt,
        rework_limit=rework_limit,
        reason_code=result.reason_code,
    )
    card_target, application_target = route_targets(result.stage, route)
    check_card_transition(card.state, card_target, entity_id=card.serial)
    check_application_transition(application.state, application_target, entity_id=application.id)
    return route, card_target, application_target


def route_targets(stage: Stage, route: Route) -> tuple[CardState, ApplicationState]:
    """Where ``route`` takes a card that ended ``stage``, and its application: the one
    mapping from a routing decision to states (a stage's end and a return alike)."""
    if route.action is Action.ADVANCE:
        card_target = STAGE_OUTPUT[stage]
        return card_target, application_state_for(card_target)
    if route.action is Action.REWORK:
        return CardState.SPOILED, ApplicationState.APPROVED
    return CardState.SPOILED, ApplicationState.HELD


def _check_stock(card: Card, stock: ChipStock | None) -> None:
    """A card whose chip came from a stock lot may be spoiled only with its spoilage booked."""
    if card.chip_lot is not None and stock is None:
        raise ValueError(
            f"card {card.serial} took its chip from lot {card.chip_lot}: spoiling it needs the "
            "chip stock, to book the chip as spoiled"
        )


def _apply(
    session: Session,
    card: Card,
    application: Application,
    *,
    card_target: CardState,
    application_target: ApplicationState,
    stage: EventStage,
    outcome: Outcome,
    actor: str,
    machine: str | None,
    reason_code: str | None,
    started_at: datetime,
    ended_at: datetime,
    stock: ChipStock | None,
) -> None:
    """Apply a checked change to a card and its application, append its stage event, and
    book the chip of a card it spoils (the one place a card is spoiled)."""
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
        stage=stage,
        outcome=outcome,
        actor=actor,
        machine=machine,
        reason_code=reason_code,
        started_at=started_at,
        ended_at=ended_at,
    )
    if card_target is CardState.SPOILED and card.chip_lot is not None:
        assert stock is not None  # _check_stock refused it before anything changed
        stock.spoil(session=session, card_serial=card.serial, reason=reason_code or "", at=ended_at)


RETURNABLE: frozenset[CardState] = frozenset({CardState.DISPATCHED, CardState.DELIVERED})
"""Card states a card may come back from (handed over to its station, or delivered there)."""


def return_card(
    *,
    session: Session,
    card_id: int,
    reason_code: str,
    actor: str,
    at: datetime,
    rework_limit: int,
    stock: ChipStock | None = None,
) -> Route:
    """A dispatched or delivered card came back with ``reason_code`` (a return reason of
    the catalogue: ``delivery.damaged``...): it is spoiled, its chip booked as spoiled in
    ``stock``, and its application gets a new card (or waits for a manager past the rework
    limit), routed as a failure after dispatch."""
    card = _card(session, card_id)
    application = _application(session, card.application_id)
    if card.state not in RETURNABLE:
        raise IllegalTransition("card", card.state, "returned", entity_id=card.serial)
    reasons.require(
        reason_code,
        stage=EventStage.DELIVERY,
        kinds=(Kind.RETURN,),
        field="reason",
        what="return reason",
    )
    route = next_stage(
        Stage.DISPATCH,
        Outcome.FAIL,
        attempt=card.attempt,
        rework_limit=rework_limit,
        reason_code=reason_code,
    )
    card_target, application_target = route_targets(Stage.DISPATCH, route)
    check_card_transition(card.state, card_target, entity_id=card.serial)
    check_application_transition(application.state, application_target, entity_id=application.id)
    _check_stock(card, stock)
    _apply(
        session,
        card,
        application,
        card_target=card_target,
        application_target=application_target,
        stage=EventStage.DELIVERY,
        outcome=Outcome.FAIL,
        actor=actor,
        machine=None,
        reason_code=reason_code,
        started_at=at,
        ended_at=at,
        stock=stock,
    )
    session.flush()
    log.info(
        "card.returned",
        application_id=application.id,
        card_serial=card.serial,
        station=EventStage.DELIVERY.value,
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
    reasons.require(  # an empty code is refused too, naming the codes allowed
        reason_code,
        stage=EventStage.MANAGER,
        kinds=(Kind.DECISION,),
        field="reason_code",
        what="manager's decision",
    )
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


def hold_application(
    *,
    session: Session,
    application_id: int,
    stage: Stage,
    reason_code: str,
    actor: str,
    at: datetime,
) -> None:
    """An approved application whose data cannot make a card (found before a card body is
    taken: its photo is gone or changed) waits for a manager; no chip is used."""
    if not reason_code:
        raise ValueError("holding an application needs a reason code")
    application = _application(session, application_id)
    check_application_transition(
        application.state, ApplicationState.HELD, entity_id=application_id
    )
    application.state = ApplicationState.HELD
    application.updated_at = at
    session.add(application)
    _event(
        session,
        application,
        None,
        stage=EventStage(stage.value),
        outcome=Outcome.FAIL,
        actor=actor,
        machine=None,
        reason_code=reason_code,
        started_at=at,
    )
    session.flush()
    log.warning(
        "application.held",
        application_id=application_id,
        station=stage.value,
        reason_code=reason_code,
    )


def accept_photo(*, session: Session, application_id: int, actor: str, at: datetime) -> str:
    """A manager has looked at a held application's photo file as it is now and accepts it:
    its SHA-256 becomes the recorded one (an event says who and when). Returns the hash."""
    application = _application(session, application_id)
    if application.state is not ApplicationState.HELD:
        raise IllegalTransition(
            "application", application.state, "photo accepted", entity_id=application_id
        )
    try:
        raw = Path(application.photo_path).read_bytes()
    except OSError as exc:
        raise NotFound(
            f"application {application_id}: its photo file cannot be read "
            f"({type(exc).__name__}); replace it first",
            application_id=application_id,
        ) from None
    application.photo_sha256 = hashlib.sha256(raw).hexdigest()
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
        reason_code="manager.photo_accepted",
        started_at=at,
    )
    session.flush()
    return application.photo_sha256
