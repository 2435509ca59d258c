"""The stage operations: every change of a card's or an application's state goes through here.

One path: a card starts (``start_prints``) and takes its chip from stock (``take_chips``;
both in ``line.starts``, re-exported here); every outcome after that (a line stage's end, a
delivery confirmed, a card returned) is a ``StageResult`` recorded by ``finish_stages``: the
transition checked against ``line.states``, application and live card changed together, one
stage event appended (``line.events``), and the stock effect booked in the same transaction:
a card spoiled here has its chip booked as spoiled through the chip stock port
(``line.devices.ChipStock``); no other path spoils a card. Every reason code an event
carries is one of the catalogue's (``line.reasons``). A manager's decisions are in
``line.decisions`` (re-exported here). Functions take a keyword-only ``session`` and commit
nothing: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from line import reasons
from line.decisions import accept_photo, cancel_application, release_held
from line.devices import ChipStock
from line.errors import IllegalTransition, NotFound
from line.events import append_event, locked_application
from line.logsetup import get_logger
from line.models import Application, Card
from line.reasons import Kind
from line.routing import Action, Route, next_stage
from line.starts import start_print, start_prints, take_chips
from line.states import (
    STAGE_INPUT,
    STAGE_OUTPUT,
    application_state_for,
    check_application_transition,
    check_card_transition,
)
from line.types import ApplicationState, CardId, CardState, EventKind, MachineId, Outcome, Stage

__all__ = [
    "RETURNABLE",
    "StageResult",
    "accept_photo",
    "cancel_application",
    "confirm_delivery",
    "finish_stage",
    "finish_stages",
    "hold_application",
    "live_card",
    "release_held",
    "return_card",
    "route_targets",
    "start_print",
    "start_prints",
    "take_chips",
]

log = get_logger(__name__)

RETURNABLE: frozenset[CardState] = frozenset({CardState.DISPATCHED, CardState.DELIVERED})
"""Card states a card may come back from (handed over to its station, or delivered there)."""


def live_card(*, session: Session, application_id: int) -> Card | None:
    """The application's card that is not spoiled, if any (there is at most one)."""
    return session.exec(
        select(Card).where(Card.application_id == application_id, Card.state != CardState.SPOILED)
    ).first()


# --- outcomes: one path -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageResult:
    """How ``stage`` ended for one card, as a device, an operator or a station reports it.

    A line stage (``LINE_ORDER``) works on the card state ``STAGE_INPUT`` names; at
    ``Stage.DELIVERY`` an OK result is the station's confirmation of a dispatched card and
    a failure is a card that came back (dispatched or delivered) with a return reason."""

    card_id: CardId
    stage: Stage
    outcome: Outcome
    actor: str
    machine: MachineId | None
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
    return finish_stages(session=session, results=[result], rework_limit=rework_limit, stock=stock)[
        0
    ]


@dataclass(frozen=True, slots=True)
class _Change:
    """A checked change: the result, its card and application, the route and target states."""

    result: StageResult
    card: Card
    application: Application
    route: Route
    card_target: CardState
    application_target: ApplicationState


def finish_stages(
    *,
    session: Session,
    results: Sequence[StageResult],
    rework_limit: int,
    stock: ChipStock | None = None,
) -> list[Route]:
    """Record outcomes for a batch of cards, with one read of the cards and applications
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
    changes = []
    for result in results:
        card = cards[result.card_id]
        change = _plan(result, card, applications[card.application_id], rework_limit)
        if change.card_target is CardState.SPOILED:
            _check_stock(card, stock)
        changes.append(change)
    for change in changes:
        _apply(session, change, stock)
        _log_finished(change)
    session.flush()
    return [change.route for change in changes]


def _log_finished(change: _Change) -> None:
    """Good cards are routine (the stage event record has them); spoils and holds are news."""
    result = change.result
    (log.debug if change.route.action is Action.ADVANCE else log.info)(
        "stage.finished",
        application_id=change.application.id,
        card_serial=change.card.serial,
        station=result.stage.value,
        machine=result.machine,
        outcome=result.outcome.value,
        reason_code=result.reason_code,
        route=change.route.action.value,
        application_state=change.application_target.value,
    )


def _takes(result: StageResult) -> frozenset[CardState]:
    """The card states ``result`` may come from."""
    if result.stage is Stage.DELIVERY and result.outcome is Outcome.FAIL:
        return RETURNABLE
    return frozenset({STAGE_INPUT[result.stage]})


def _require_failure_reason(result: StageResult) -> None:
    """A failure names why: a spoil or data reason of its stage, or at delivery a return
    reason (``delivery.damaged``...)."""
    if result.stage is Stage.DELIVERY:
        reasons.require(
            result.reason_code,
            stage=Stage.DELIVERY,
            kinds=(Kind.RETURN,),
            field="reason",
            what="return reason",
        )
        return
    if not result.reason_code:
        raise ValueError("a failed stage needs a reason code")
    reasons.require(
        result.reason_code,
        stage=result.stage,
        kinds=(Kind.SPOIL, Kind.DATA),
        field="reason_code",
        what="failure reason",
    )


def _plan(result: StageResult, card: Card, application: Application, rework_limit: int) -> _Change:
    """Where ``result`` takes the card and its application; raises if it may not."""
    if card.state not in _takes(result):
        returned = result.stage is Stage.DELIVERY and result.outcome is Outcome.FAIL
        refused = (
            CardState.SPOILED if result.outcome is Outcome.FAIL else STAGE_OUTPUT[result.stage]
        )
        target = "returned" if returned else refused
        raise IllegalTransition("card", card.state, target, entity_id=card.serial)
    if result.outcome is Outcome.FAIL:
        _require_failure_reason(result)
    if result.ended_at < result.started_at:
        raise ValueError(f"event ends ({result.ended_at}) before it starts ({result.started_at})")
    route = next_stage(
        # A card that fails at delivery (comes back) is routed as a failure after dispatch.
        Stage.DISPATCH if result.stage is Stage.DELIVERY else result.stage,
        result.outcome,
        attempt=card.attempt,
        rework_limit=rework_limit,
        reason_code=result.reason_code,
    )
    card_target, application_target = route_targets(result.stage, route)
    check_card_transition(card.state, card_target, entity_id=card.serial)
    check_application_transition(application.state, application_target, entity_id=application.id)
    return _Change(result, card, application, route, card_target, application_target)


def route_targets(stage: Stage, route: Route) -> tuple[CardState, ApplicationState]:
    """Where ``route`` takes a card that ended ``stage``, and its application: the one
    mapping from a routing decision to states (a stage's end, a delivery and a return alike)."""
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


def _apply(session: Session, change: _Change, stock: ChipStock | None) -> None:
    """Apply a checked change to a card and its application, append its stage event, and
    book the chip of a card it spoils (the one place a card is spoiled)."""
    card, application, result = change.card, change.application, change.result
    card.state = change.card_target
    card.updated_at = result.ended_at
    spoiled = change.card_target is CardState.SPOILED
    if spoiled:
        card.spoiled_at_stage = result.stage.value
        card.spoil_reason = result.reason_code
        application.spoiled_cards += 1
    application.state = change.application_target
    application.updated_at = result.ended_at
    session.add(card)
    session.add(application)
    append_event(
        session,
        application,
        card,
        stage=result.stage,
        kind=EventKind.OUTCOME,
        outcome=result.outcome,
        actor=result.actor,
        machine=result.machine,
        reason_code=result.reason_code,
        started_at=result.started_at,
        ended_at=result.ended_at,
    )
    if spoiled and card.chip_lot is not None:
        assert stock is not None  # _check_stock refused it before anything changed
        stock.spoil(
            session=session,
            card_serial=card.serial,
            reason=result.reason_code or "",
            at=result.ended_at,
        )


# --- after dispatch ---------------------------------------------------------------------------


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
    the catalogue: ``delivery.damaged``...): a failure at delivery, recorded by
    ``finish_stages``: the card is spoiled, its chip booked as spoiled in ``stock``, and
    its application gets a new card (or waits for a manager past the rework limit)."""
    result = StageResult(card_id, Stage.DELIVERY, Outcome.FAIL, actor, None, at, at, reason_code)
    (route,) = finish_stages(
        session=session, results=[result], rework_limit=rework_limit, stock=stock
    )
    log.info(
        "card.returned",
        card_id=card_id,
        station=Stage.DELIVERY.value,
        reason_code=reason_code,
        route=route.action.value,
    )
    return route


def confirm_delivery(*, session: Session, card_id: int, actor: str, at: datetime) -> None:
    """The police station has received the card: card and application are delivered."""
    result = StageResult(card_id, Stage.DELIVERY, Outcome.OK, actor, None, at, at)
    finish_stages(session=session, results=[result], rework_limit=0)


# --- before a card -----------------------------------------------------------------------------


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
    application = locked_application(session, application_id)
    check_application_transition(application.state, ApplicationState.HELD, entity_id=application_id)
    application.state = ApplicationState.HELD
    application.updated_at = at
    session.add(application)
    append_event(
        session,
        application,
        None,
        stage=stage,
        kind=EventKind.OUTCOME,
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
