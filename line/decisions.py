"""A manager's decisions on an application: release a held one, cancel one, accept a photo.

Each checks the transition against ``line.states``, changes the application and appends
one stage event at ``Stage.MANAGER`` with the decision's reason code (``line.reasons``,
kind ``decision``). Functions take a keyword-only ``session`` and commit nothing.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from line import reasons
from line.errors import IllegalTransition, NotFound
from line.events import append_event, locked_application
from line.logsetup import get_logger
from line.models import Application
from line.reasons import Kind
from line.states import check_application_transition
from line.types import ApplicationState, EventKind, Outcome, Stage

log = get_logger(__name__)


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
        stage=Stage.MANAGER,
        kinds=(Kind.DECISION,),
        field="reason_code",
        what="manager's decision",
    )
    application = locked_application(session, application_id)
    check_application_transition(application.state, target, entity_id=application_id)
    application.state = target
    application.updated_at = at
    session.add(application)
    _record_decision(session, application, actor=actor, reason_code=reason_code, at=at)
    session.flush()
    log.info(
        "application.decided",
        application_id=application_id,
        station=Stage.MANAGER.value,
        actor=actor,
        reason_code=reason_code,
        application_state=target.value,
    )


def accept_photo(*, session: Session, application_id: int, actor: str, at: datetime) -> str:
    """A manager has looked at a held application's photo file as it is now and accepts it:
    its SHA-256 becomes the recorded one (an event says who and when). Returns the hash."""
    application = locked_application(session, application_id)
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
    _record_decision(session, application, actor=actor, reason_code="manager.photo_accepted", at=at)
    session.flush()
    return application.photo_sha256


def _record_decision(
    session: Session, application: Application, *, actor: str, reason_code: str, at: datetime
) -> None:
    """The stage event of a manager's decision on ``application`` (no card, no machine)."""
    append_event(
        session,
        application,
        None,
        stage=Stage.MANAGER,
        kind=EventKind.DECISION,
        outcome=Outcome.OK,
        actor=actor,
        machine=None,
        reason_code=reason_code,
        started_at=at,
    )
