"""Which approved applications get the chips: the line spec's allocation policy as a query.

The same policies are played by the simulator; here they pick, from the database, the next
applications for the line, in the order they are to get chips.
"""

from __future__ import annotations

from collections import OrderedDict

import sqlalchemy as sa
from sqlmodel import Session, col, select

from line.models import Application
from line.spec import AllocationPolicy
from line.types import ApplicationState

FAIR_SHARE_WINDOW = 20
"""fair_share looks at this many times the batch, oldest first, to take turns within."""


def next_in_line(*, session: Session, policy: AllocationPolicy, limit: int) -> list[Application]:
    """Up to ``limit`` approved applications, in the order the policy gives them chips.

    The rows are locked for the caller's transaction, skipping rows another worker has
    locked (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite has one writer at a time): two
    workers never take the same application."""
    waiting = (
        select(Application)
        .where(Application.state == ApplicationState.APPROVED)
        .with_for_update(skip_locked=True)
    )
    oldest = col(Application.id)
    if policy.policy == "fifo":
        return list(session.exec(waiting.order_by(oldest).limit(limit)))
    if policy.policy == "earliest_due":
        due = col(Application.due_date)
        return list(session.exec(waiting.order_by(due.is_(None), due, oldest).limit(limit)))
    if policy.policy == "priority":
        rank = sa.case(
            {group: index for index, group in enumerate(policy.priority_groups)},
            value=col(Application.priority_group),
            else_=len(policy.priority_groups),
        )
        return list(session.exec(waiting.order_by(rank, oldest).limit(limit)))
    # fair_share: provinces take turns, each in intake order, within a window of the oldest.
    window = session.exec(waiting.order_by(oldest).limit(limit * FAIR_SHARE_WINDOW)).all()
    queues: OrderedDict[str, list[Application]] = OrderedDict()
    for application in window:
        queues.setdefault(application.destination[:3], []).append(application)
    chosen: list[Application] = []
    while len(chosen) < limit and queues:
        for province in list(queues):
            chosen.append(queues[province].pop(0))
            if not queues[province]:
                del queues[province]
            if len(chosen) == limit:
                break
    return chosen
