"""A machine's stage: where it is registered, else what its name says, else unknown."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from line.db import session_scope
from line.machines import stage_for, take_out
from line.types import Stage

AT = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def test_the_registered_stage_wins_over_the_name_and_an_unknown_name_has_none(
    sqlite_engine: Engine,
) -> None:
    with session_scope(sqlite_engine) as session:
        assert stage_for(session=session, name="encode-02") is Stage.ENCODE  # by its name
        assert stage_for(session=session, name="laminator") is None  # nothing tells
        take_out(session=session, name="laminator", stage=Stage.QC, reason="belt", actor="t", at=AT)
        take_out(session=session, name="print-07", stage=Stage.QC, reason="moved", actor="t", at=AT)
    with session_scope(sqlite_engine) as session:
        assert stage_for(session=session, name="laminator") is Stage.QC  # as registered
        assert stage_for(session=session, name="print-07") is Stage.QC  # not what it says
