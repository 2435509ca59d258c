"""Allocation policies: who gets the chips first when there are not enough."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from line.allocation import next_in_line
from line.db import session_scope
from line.spec import AllocationPolicy
from tests.conftest import TODAY
from tests.factories import add_application

# (priority group, due date, destination) of applications 1..6, in intake order
PEOPLE = [
    (None, None, "079-0001"),
    ("election", date(2026, 12, 1), "079-0002"),
    (None, date(2026, 11, 20), "001-0001"),
    ("elderly", None, "001-0002"),
    (None, date(2026, 11, 15), "048-0001"),
    ("elderly", date(2026, 12, 24), "079-0003"),
]


def order(engine: Engine, policy: AllocationPolicy, limit: int = 6) -> list[int]:
    with session_scope(engine) as session:
        for seed, (group, due, destination) in enumerate(PEOPLE, start=1):
            add_application(
                session,
                seed=seed,
                today=TODAY,
                priority_group=group,
                due_date=due,
                destination=destination,
            )
    return pick(engine, policy, limit)


def pick(engine: Engine, policy: AllocationPolicy, limit: int) -> list[int]:
    with session_scope(engine) as session:
        return [a.id or 0 for a in next_in_line(session=session, policy=policy, limit=limit)]


def test_first_come_first_served(sqlite_engine: Engine) -> None:
    assert order(sqlite_engine, AllocationPolicy(policy="fifo")) == [1, 2, 3, 4, 5, 6]


def test_earliest_due_date_first_then_intake_order(sqlite_engine: Engine) -> None:
    assert order(sqlite_engine, AllocationPolicy(policy="earliest_due")) == [5, 3, 2, 6, 1, 4]


def test_priority_groups_in_their_order_then_everyone_else(engine: Engine) -> None:
    policy = AllocationPolicy(policy="priority", priority_groups=("elderly", "election"))
    assert order(engine, policy) == [4, 6, 2, 1, 3, 5]


def test_fair_share_lets_provinces_take_turns(sqlite_engine: Engine) -> None:
    # 079: 1, 2, 6; 001: 3, 4; 048: 5 -> turns in the order provinces first appear
    assert order(sqlite_engine, AllocationPolicy(policy="fair_share")) == [1, 3, 5, 2, 4, 6]
    assert pick(sqlite_engine, AllocationPolicy(policy="fair_share"), limit=4) == [1, 3, 5, 2]


def test_the_limit_is_a_limit(sqlite_engine: Engine) -> None:
    assert order(sqlite_engine, AllocationPolicy(policy="fifo"), limit=2) == [1, 2]


def test_priority_without_groups_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs priority_groups"):
        AllocationPolicy(policy="priority")
