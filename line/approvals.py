"""Maker-checker: a change that needs a second person before it is made.

A stock adjustment and a machine put back in service are made by one person (the maker)
and approved by another (the checker). The request, the decision and the change are audit
rows (``line.audit``) under the same subject, the flow run that waits for the decision
(``flows.approvals``):

- :func:`request` records ``approval.request`` (the maker, what is asked);
- :func:`decide` records ``approval.given`` and makes the change in the same transaction,
  or records ``approval.refused`` with the reason and changes nothing;
- :func:`expire` records ``approval.expired`` when nobody decided in time;
- :func:`waiting` lists the requests with no decision yet.

Who may approve (:func:`refusal`): never the maker; once operators are enrolled (the
``operator`` table has a row), only an active supervisor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from line.audit import record
from line.errors import CardlineError, NotFound
from line.models import AuditEvent, Operator
from line.operators import Role, roles_of

REQUEST = "approval.request"
GIVEN = "approval.given"
REFUSED = "approval.refused"
EXPIRED = "approval.expired"
OUTCOMES = (GIVEN, REFUSED, EXPIRED)

CHANGES = {
    "stock.adjust": "a stock adjustment",
    "machine.in": "a machine put back in service",
}
"""The kinds of change that wait for a second person."""


class NotApproved(CardlineError):
    """A change was not made: its approval was refused or never came."""


@dataclass(frozen=True)
class Change:
    """What the maker asks for: its kind (one of :data:`CHANGES`), one line a person reads
    (``lot L1 -2 (2 bodies cracked)``) and the fields the change is made from."""

    kind: str
    summary: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Request:
    """A change waiting (or once waiting) for approval, read back from its audit row."""

    run_id: str
    maker: str
    at: datetime
    change: Change

    @classmethod
    def of(cls, row: AuditEvent) -> Request:
        detail = json.loads(row.detail or "{}")
        return cls(
            run_id=row.subject or "",
            maker=row.actor,
            at=row.at,
            change=Change(
                kind=str(detail.get("change", "")),
                summary=str(detail.get("summary", "")),
                fields=dict(detail.get("fields", {})),
            ),
        )


@dataclass(frozen=True)
class Decision:
    """How a request ended: ``status`` is approved, refused or expired; ``why`` says why
    (the checker's note, or the rule that refused the approval); ``done`` what was made."""

    run_id: str
    status: str
    approver: str
    why: str
    done: str = ""

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    def as_dict(self) -> dict[str, str]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "approver": self.approver,
            "why": self.why,
            "done": self.done,
        }


def request(*, session: Session, run_id: str, maker: str, change: Change, at: datetime) -> Request:
    """Record that ``maker`` asks for ``change``, to be decided under ``run_id``."""
    if change.kind not in CHANGES:
        raise CardlineError(f"unknown change {change.kind!r}; one of {', '.join(CHANGES)}")
    if not maker.strip():
        raise CardlineError("a change needs its maker's name")
    if _rows(session, run_id):
        raise CardlineError(f"run {run_id} already has a request")
    row = record(
        session=session,
        kind=REQUEST,
        actor=maker,
        at=at,
        subject=run_id,
        detail={"change": change.kind, "summary": change.summary, "fields": dict(change.fields)},
    )
    return Request.of(row)


def open_request(*, session: Session, run_id: str) -> Request:
    """The request of ``run_id`` if it waits for a decision; else ``NotFound`` saying why."""
    rows = _rows(session, run_id)
    asked = [row for row in rows if row.kind == REQUEST]
    if not asked:
        raise NotFound(f"no change waits under run {run_id} (cardline approvals lists them)")
    ended = [row for row in rows if row.kind in OUTCOMES]
    if ended:
        raise NotFound(
            f"the change of run {run_id} was already decided: {ended[0].kind} by {ended[0].actor}"
        )
    return Request.of(asked[0])


def refusal(*, session: Session, maker: str, approver: str) -> str | None:
    """Why ``approver`` may not approve ``maker``'s change, or None if they may."""
    if not approver.strip():
        return "the approval names no approver"
    if approver == maker:
        return f"{approver} made this change: a second person must approve it"
    enrolled = session.exec(select(Operator).limit(1)).first() is not None
    if enrolled and Role.SUPERVISOR not in roles_of(session=session, name=approver):
        return f"{approver} is not an active supervisor: only a supervisor approves"
    return None


def decide(
    *,
    session: Session,
    run_id: str,
    approver: str,
    approve: bool,
    note: str,
    at: datetime,
    apply: Callable[[Session, Request], str],
) -> Decision:
    """The checker's answer to the request of ``run_id``.

    Refused (``approve`` false, by anyone): ``approval.refused`` is recorded with the note.
    Approved by someone allowed (:func:`refusal`): ``approval.given`` is recorded and
    ``apply`` makes the change, both in a savepoint of ``session``; if the change can no
    longer be made (``apply`` raises a ``CardlineError``: the stock moved meanwhile), both
    are undone and the approval is recorded as refused with that reason. Approved by
    someone not allowed: ``approval.refused`` with the reason, and nothing changes. ``approver`` is
    whoever the answer names: the caller says how it knows (the OS user of ``cardline
    approve``, or the name typed into the UI's form).
    """
    asked = open_request(session=session, run_id=run_id)
    note = note.strip()[:512]
    if approve:
        why = refusal(session=session, maker=asked.maker, approver=approver)
    else:  # a no from anyone ends the request, recorded under their name; nothing changes
        why = f"refused by {approver or 'someone unnamed'}" + (f": {note}" if note else "")
    if why is None:
        try:
            with session.begin_nested():
                _outcome(session, GIVEN, asked, approver, at, note=note, why="")
                done = apply(session, asked)
            return Decision(
                run_id=run_id, status="approved", approver=approver, why=note, done=done
            )
        except CardlineError as exc:
            why = f"approved by {approver} but could not be made: {exc}"
    _outcome(session, REFUSED, asked, approver, at, note=note, why=why)
    return Decision(run_id=run_id, status="refused", approver=approver, why=why)


def expire(*, session: Session, run_id: str, at: datetime, waited_seconds: int) -> Decision:
    """Record that nobody decided the request of ``run_id`` in ``waited_seconds``."""
    asked = open_request(session=session, run_id=run_id)
    why = f"nobody approved it within {waited_seconds} s"
    _outcome(session, EXPIRED, asked, "cardline", at, note="", why=why)
    return Decision(run_id=run_id, status="expired", approver="", why=why)


def waiting(*, session: Session) -> list[Request]:
    """The requests with no decision yet, oldest first."""
    decided = select(AuditEvent.subject).where(col(AuditEvent.kind).in_(OUTCOMES))
    rows = session.exec(
        select(AuditEvent)
        .where(AuditEvent.kind == REQUEST, col(AuditEvent.subject).not_in(decided))
        .order_by(col(AuditEvent.id))
    )
    return [Request.of(row) for row in rows]


def decision_of(*, session: Session, run_id: str) -> Decision | None:
    """How the request of ``run_id`` ended, or None while it waits."""
    for row in _rows(session, run_id):
        if row.kind in OUTCOMES:
            detail = json.loads(row.detail or "{}")
            status = {GIVEN: "approved", REFUSED: "refused", EXPIRED: "expired"}[row.kind]
            return Decision(
                run_id=run_id,
                status=status,
                approver="" if row.kind == EXPIRED else row.actor,
                why=str(detail.get("why") or detail.get("note") or ""),
            )
    return None


def _outcome(
    session: Session, kind: str, asked: Request, actor: str, at: datetime, *, note: str, why: str
) -> None:
    record(
        session=session,
        kind=kind,
        actor=actor[:64],
        at=at,
        subject=asked.run_id,
        detail={"change": asked.change.kind, "maker": asked.maker, "note": note, "why": why},
    )


def _rows(session: Session, run_id: str) -> list[AuditEvent]:
    kinds = (REQUEST, *OUTCOMES)
    query = select(AuditEvent).where(AuditEvent.subject == run_id, col(AuditEvent.kind).in_(kinds))
    return list(session.exec(query.order_by(col(AuditEvent.id))))
