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


def test_taking_a_machine_out_and_putting_it_back_are_both_in_the_audit_record(
    engine: Engine,
) -> None:
    """Machine changes are audit rows (and so in the hash chain): out and back in, with
    who, when, and why or what was done."""
    from line.audit import events
    from line.machines import put_back

    at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        take_out(session=session, name="print-02", stage=Stage.PRINT, reason="head worn",
                 actor="ann@HN1", at=at)  # fmt: skip
    with session_scope(engine) as session:
        put_back(session=session, name="print-02", actor="bao@HN1", at=at, note="head replaced")
    with session_scope(engine) as session:
        rows = [(e.kind, e.actor, e.subject, e.detail) for e in events(session=session)]
    assert rows == [
        ("machine.out", "ann@HN1", "print-02", '{"reason": "head worn", "stage": "print"}'),
        ("machine.in", "bao@HN1", "print-02", '{"note": "head replaced", "stage": "print"}'),
    ]
