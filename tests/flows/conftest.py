"""Fixtures of the flow tests that need a real Prefect server (see ``prefect_server``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from tests.flows.prefect_server import prefect_server


@pytest.fixture(scope="module")
def prefect_api(
    pg_admin: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """One Prefect server for the module (own PostgreSQL database, free loopback port,
    temporary PREFECT_HOME): the environment its clients, workers and flow processes need."""
    with prefect_server(tmp_path_factory.mktemp("prefect-server"), pg_admin) as env:
        yield env
