"""Each physical machine as one slot of a Prefect global concurrency limit
(``machine-<centre>-<name>``, limit 1), held by a production run for the whole run, so that
the UI's Concurrency page shows which machines are busy. The interlock that keeps two runs
off one machine is the database lease (``line.leases``); these slots are what the UI shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from line.controller import LineController

# A slot is leased and renewed while its task runs; a worker killed outright stops renewing,
# and its machines are free again after this long (Prefect's default is 300 s).
MACHINE_LEASE_SECONDS = 60.0


def limit_name(centre: str, machine: str) -> str:
    """The global concurrency limit of one physical machine."""
    return f"machine-{centre}-{machine}".lower()


def ensure_machine_limits(names: list[str]) -> None:
    """Create the one-slot limit of each machine that has none yet (several workers may
    race to create it: the loser finds it made)."""
    with get_client(sync_client=True) as client:
        for name in names:
            try:
                client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                with suppress(ObjectAlreadyExists):
                    client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(name=name, limit=1)
                    )


@dataclass(frozen=True, slots=True)
class Station:
    """The controller a run drives, and the centre whose machines it drives."""

    controller: LineController
    centre: str


@contextmanager
def machine(station: Station, *names: str) -> Iterator[None]:
    """Hold the machines' slots while driving them (``strict``: a missing limit is an
    error, never a silent free-for-all)."""
    names_ = [limit_name(station.centre, name) for name in names]
    with concurrency(
        names_,
        occupy=1,
        strict=True,
        lease_duration=MACHINE_LEASE_SECONDS,
        # A lease the server lost (seen under load: "410 Lease not found" on the first
        # renewal) must not kill a run in the middle of a batch: that leaves cards mid-line
        # for a later run. Prefect logs the failure and the run goes on: the slots are for
        # the UI; the machines' database lease (line.leases) keeps other runs off them.
        raise_on_lease_renewal_failure=False,
    ):
        yield
