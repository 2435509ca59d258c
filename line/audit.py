"""The audit record: every action that is not a card's stage and not a stock movement.

A machine taken out or put back, a key generated or rotated, an operator added, personal
data shown or exported, a purge, an approval given or refused: each is one row of the
append-only ``audit_event`` table, written by :func:`record` in the session of the change
it records (so the record and the change commit together, or neither does). ``kind`` is
one of :data:`AUDIT_KINDS`; ``detail`` holds JSON with no personal data (masked IDs only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from line.errors import CardlineError
from line.models import AuditEvent

AUDIT_KINDS: dict[str, str] = {
    "machine.out": "a machine taken out of service",
    "machine.in": "a machine put back in service",
    "operator.add": "an operator given a role",
    "operator.remove": "an operator's role taken away",
    "key.init": "the signing keys made (key ceremony)",
    "key.rotate": "a new Document Signer issued (key ceremony)",
    "card.show_full": "a card shown with the citizen's full ID number",
    "card.export": "a card's data exported",
    "purge": "citizens' personal data removed after the retention period",
    "approval.request": "a change waiting for a second person's approval",
    "approval.given": "a change approved by a second person",
    "approval.refused": "an approval refused",
    "approval.expired": "a change nobody approved in time (nothing changed)",
}
"""Every kind of audit row, with what it means."""


def record(
    *,
    session: Session,
    kind: str,
    actor: str,
    at: datetime,
    subject: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit row to ``session`` (flushed, not committed: it commits with the change)."""
    if kind not in AUDIT_KINDS:
        raise CardlineError(f"unknown audit kind {kind!r}; one of {', '.join(AUDIT_KINDS)}")
    event = AuditEvent(
        kind=kind,
        actor=actor,
        subject=subject,
        detail=json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True, default=str),
        at=at,
    )
    session.add(event)
    session.flush()
    return event


def events(
    *, session: Session, kind: str | None = None, subject: str | None = None
) -> list[AuditEvent]:
    """The audit rows, oldest first, of one kind and/or subject if given."""
    query = select(AuditEvent).order_by(col(AuditEvent.id))
    if kind is not None:
        query = query.where(AuditEvent.kind == kind)
    if subject is not None:
        query = query.where(AuditEvent.subject == subject)
    return list(session.exec(query))
