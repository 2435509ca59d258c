"""What must hold in a line's database once it has run out of work: after a crash and a new
run, or after several workers, read from the database itself."""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine


def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(sql)).all()]


def assert_line_consistent(engine: Engine, *, applications: int) -> None:
    """What must hold once the line has run out of work (after a crash and recovery, or
    several workers), read from the database itself."""
    states = dict(rows(engine, "SELECT id, state FROM application"))
    assert len(states) == applications, "no application lost, none made twice"
    cards = rows(engine, "SELECT id, application_id, state, chip_uid, serial FROM card")
    passed = Counter(app for _, app, state, _, _ in cards if state == "qc_passed")
    live = Counter(app for _, app, state, _, _ in cards if state != "spoiled")
    for app, state in states.items():
        if state == "held":
            assert passed[app] == 0 and live[app] == 0, f"held application {app} has a live card"
        else:
            assert state == "qc_passed", f"application {app} left {state!r}: no outcome"
            assert passed[app] == 1 and live[app] == 1, (
                f"application {app}: {passed[app]} good cards"
            )
    assert not [c for c in cards if c[2] in ("printing", "printed", "encoded")], (
        "a card left mid-line"
    )

    # Chips: every card took one from the ledger, each used once, consumed once per card.
    uids = [uid for *_, uid, _ in cards]
    assert None not in uids, "a card without its chip"
    assert len(set(uids)) == len(uids), "a chip on two cards"
    consumed = Counter(
        serial
        for (serial,) in rows(
            engine,
            "SELECT card_serial FROM stock_movement WHERE kind = 'consumption' AND card_serial IS NOT NULL",
        )
    )
    assert consumed == Counter(serial for *_, serial in cards), "ledger consumption != cards"

    # Stage events agree with the cards: each card's last event carries its state; no stage
    # done twice for a card; a passed card went through print, encode and QC once each.
    last_state = dict(
        rows(
            engine,
            "SELECT DISTINCT ON (card_id) card_id, card_state FROM stage_event "
            "WHERE card_id IS NOT NULL ORDER BY card_id, id DESC",
        )
    )
    assert last_state == {card_id: state for card_id, _, state, _, _ in cards}
    done = rows(
        engine,
        "SELECT card_id, stage, outcome, count(*) FROM stage_event WHERE card_id IS NOT NULL "
        "AND (reason_code IS NULL OR reason_code <> 'print.started') GROUP BY card_id, stage, outcome",
    )
    twice = [row for row in done if int(str(row[3])) > 1]
    assert twice == [], "a card went through a stage twice"
    finished = {(card_id, stage, outcome) for card_id, stage, outcome, _ in done}
    for card_id, _, state, _, _ in cards:
        if state == "qc_passed":
            assert {(card_id, s, "ok") for s in ("print", "chip-encode", "qc")} <= finished
    starts = Counter(
        card_id
        for (card_id,) in rows(
            engine, "SELECT card_id FROM stage_event WHERE reason_code = 'print.started'"
        )
    )
    assert starts == Counter(card_id for card_id, *_ in cards), "each card started exactly once"
    last_app_state = dict(
        rows(
            engine,
            "SELECT DISTINCT ON (application_id) application_id, application_state FROM stage_event "
            "ORDER BY application_id, id DESC",
        )
    )
    assert last_app_state == states
