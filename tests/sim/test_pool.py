"""The allocation policy is one definition: the database's order (``line.allocation``) and the
simulator's (``sim.pool``) give random applications out in the same order, ties included."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import get_args

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from line.allocation import RANK_KEYS, next_in_line
from line.db import session_scope
from line.models import Application
from line.spec import AllocationPolicy
from sim.inputs import DemandClass
from sim.pool import Pool
from tests.conftest import TODAY
from tests.factories import add_application

GROUPS = (None, "elderly", "election", "veteran")
DESTINATIONS = ("001-0001", "001-0003", "079-0002", "048-0001")
DUES = (None, TODAY + timedelta(days=20), TODAY + timedelta(days=35), TODAY + timedelta(days=50))
POLICIES = (
    AllocationPolicy(policy="fifo"),
    AllocationPolicy(policy="earliest_due"),
    AllocationPolicy(policy="priority", priority_groups=("election", "elderly")),
    AllocationPolicy(policy="fair_share"),
)

Drawn = tuple[str | None, str, date | None]  # (priority group, destination, due date)


def draw(rng: random.Random, count: int) -> list[Drawn]:
    """Applications in intake order, from few values of each, so that ranks tie often."""
    return [(rng.choice(GROUPS), rng.choice(DESTINATIONS), rng.choice(DUES)) for _ in range(count)]


def database_order(engine: Engine, policy: AllocationPolicy, people: list[Drawn]) -> list[int]:
    """Intake positions (0 first) in the order ``next_in_line`` gives them out."""
    with session_scope(engine) as session:
        session.execute(sa.delete(Application))
        ids = [
            add_application(
                session,
                seed=seed,
                today=TODAY,
                priority_group=group,
                destination=destination,
                due_date=due,
            ).id
            for seed, (group, destination, due) in enumerate(people, start=1)
        ]
    position = {application_id: i for i, application_id in enumerate(ids)}
    with session_scope(engine) as session:
        chosen = next_in_line(session=session, policy=policy, limit=len(people))
        return [position[a.id] for a in chosen]


def simulator_order(policy: AllocationPolicy, people: list[Drawn]) -> list[int]:
    """Intake positions in the order the simulator's pool gives them out, the applications
    in classes of alike ones (group x destination x due date), numbered as they first come."""
    index: dict[Drawn, int] = {}
    for person in people:
        index.setdefault(person, len(index))
    classes = [
        DemandClass(index=i, group=group or "", destination=destination, share=0.0, due=due)
        for (group, destination, due), i in index.items()
    ]
    pool = Pool(policy, classes)
    for position, person in enumerate(people):
        pool.add(index[person], float(position), 1, 0.0)
    order = []
    while (taken := pool.take_one()) is not None:
        order.append(int(taken[1]))
    return order


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.policy)
def test_the_database_and_the_simulator_order_alike(
    sqlite_engine: Engine, policy: AllocationPolicy
) -> None:
    rng = random.Random(f"allocation-{policy.policy}")
    for _ in range(6):
        people = draw(rng, rng.randint(1, 40))
        assert database_order(sqlite_engine, policy, people) == simulator_order(policy, people)


def test_every_policy_has_its_rank_keys() -> None:
    policies = get_args(AllocationPolicy.model_fields["policy"].annotation)
    assert set(RANK_KEYS) == set(policies)
