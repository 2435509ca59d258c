"""Which approved applications get the chips: the line spec's allocation policy, defined once.

:data:`RANK_KEYS` says, per policy, what ranks an application before its intake order breaks
ties; from it come both the database's ``ORDER BY`` (:func:`order_by`, used by
:func:`next_in_line` to pick the next applications for the line) and the simulator's rank of
a class of alike applications (:func:`rank_of`, used by ``sim.pool``), so the two cannot
drift apart. ``fair_share`` ranks nothing: provinces take turns, each in intake order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from line.models import Application
from line.spec import AllocationPolicy
from line.types import ApplicationState

FAIR_SHARE_WINDOW = 20
"""fair_share looks at this many times the batch, oldest first, to take turns within."""

RankKey = Literal["due_date", "priority_group"]

RANK_KEYS: Mapping[str, tuple[RankKey, ...]] = {
    "fifo": (),
    "earliest_due": ("due_date",),
    "priority": ("priority_group",),
    "fair_share": (),
}
"""Per policy, the keys that rank applications, most significant first, each ascending; an
application without a value (no due date, a group not in ``priority_groups``) comes after
every one with one. The intake order (the application id; the simulator's key) breaks ties."""

Rank = tuple[float, ...]


def order_by(policy: AllocationPolicy) -> list[ColumnElement[Any]]:
    """The ``ORDER BY`` of the policy's order: its rank keys, then the intake order."""
    terms: list[ColumnElement[Any]] = []
    for key in RANK_KEYS[policy.policy]:
        if key == "due_date":
            due = col(Application.due_date)
            terms += [due.is_(None), sa.asc(due)]
        else:
            terms.append(
                sa.case(
                    {group: index for index, group in enumerate(policy.priority_groups)},
                    value=col(Application.priority_group),
                    else_=len(policy.priority_groups),
                )
            )
    return [*terms, sa.asc(col(Application.id))]


def rank_of(policy: AllocationPolicy, *, group: str | None, due: date | None) -> Rank:
    """The rank :func:`order_by` gives an application of ``group`` due on ``due``, before its
    intake order (smaller goes first): the same keys, the same direction, missing values last."""
    rank: list[float] = []
    for key in RANK_KEYS[policy.policy]:
        if key == "due_date":
            rank += [0.0, float(due.toordinal())] if due is not None else [1.0, 0.0]
        else:
            groups = policy.priority_groups
            rank.append(float(groups.index(group) if group in groups else len(groups)))
    return tuple(rank)


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
    if policy.policy != "fair_share":
        return list(session.exec(waiting.order_by(*order_by(policy)).limit(limit)))
    # fair_share: provinces take turns, each in intake order, within a window of the oldest.
    window = session.exec(
        waiting.order_by(*order_by(policy)).limit(limit * FAIR_SHARE_WINDOW)
    ).all()
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
