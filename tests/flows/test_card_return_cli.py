"""``cardline card return`` and ``cardline check`` as a manager uses them: a delivered card
comes back, its chip is booked as spoiled, check reconciles; an unknown reason is refused
with the list; a card spoiled behind the ledger's back is named by check. ``cardline run
--without-prefect`` drives the line (no Prefect server to start)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from flows.cli import run
from inventory.models import MovementKind, StockMovement
from line.db import make_engine, session_scope
from line.models import Card
from line.reasons import RETURN_REASONS
from line.types import CardState
from tests.flows.homes import ready_home


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    return home


def delivered_home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Three applications made, dispatched and delivered: their card serials."""
    ready_home(tmp_path, applications=3, chips=5)
    assert cli(capsys, "-q", "run", "--without-prefect")[0] == 0
    code, out, _ = cli(capsys, "-q", "dispatch", "--json")
    assert code == 0
    for batch in json.loads(out):
        assert cli(capsys, "-q", "deliver", batch["code"])[0] == 0
    with session_scope(engine(tmp_path)) as session:
        cards = session.exec(select(Card).order_by(Card.id)).all()
        assert {c.state for c in cards} == {CardState.DELIVERED}
        return [c.serial for c in cards]


def engine(tmp_path: Path) -> sa.Engine:
    return make_engine(f"sqlite:///{tmp_path / 'home' / 'cardline.db'}")


def test_a_returned_delivered_card_is_booked_spoiled_and_check_reconciles(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serials = delivered_home(tmp_path, capsys)
    code, out, err = cli(capsys, "-q", "card", "return", serials[0], "--reason", "delivery.refused")
    assert (code, err) == (0, "")
    assert out == f"card {serials[0]} returned (delivery.refused): a new card will be made\n"
    with session_scope(engine(tmp_path)) as session:
        spoiled = session.exec(
            select(StockMovement).where(StockMovement.kind == MovementKind.SPOILAGE)
        ).all()
        assert [(m.card_serial, m.reason) for m in spoiled] == [(serials[0], "delivery.refused")]
    code, out, err = cli(capsys, "-q", "check")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "check: stock ledger and cards reconcile"
    assert out.splitlines()[1].startswith("check: the hash chains hold: stage_event ")
    # The remade card goes through the line on a new chip; the books still balance.
    assert cli(capsys, "-q", "run", "--without-prefect")[0] == 0
    assert cli(capsys, "-q", "check")[0] == 0


def test_an_unknown_return_reason_is_refused_with_the_list_and_nothing_changes(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serials = delivered_home(tmp_path, capsys)
    code, out, err = cli(capsys, "-q", "card", "return", serials[1], "--reason", "foo")
    assert (code, out) == (1, "")
    assert err == (
        "cardline: error: reason: unknown return reason 'foo' (allowed at delivery: "
        + ", ".join(RETURN_REASONS)
        + ")\n"
    )
    with session_scope(engine(tmp_path)) as session:
        card = session.exec(select(Card).where(Card.serial == serials[1])).one()
        assert card.state is CardState.DELIVERED
    _, out, _ = cli(capsys, "card", "return", "--help")
    assert all(reason in " ".join(out.split()) for reason in RETURN_REASONS)


def test_check_names_a_card_spoiled_behind_the_ledgers_back(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serials = delivered_home(tmp_path, capsys)
    with engine(tmp_path).begin() as connection:  # what `card return` did before
        connection.execute(
            sa.text(
                "UPDATE card SET state = 'spoiled', spoil_reason = 'delivery.damaged' WHERE serial = :s"
            ),
            {"s": serials[2]},
        )
    code, out, err = cli(capsys, "-q", "check")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "mismatch: lot L1: the ledger books 3 chips consumed by good cards, but 2 good cards "
        "come from it (2 finished, 0 on the line)",
        "mismatch: lot L1: the ledger books 0 chips spoiled, but 1 spoiled cards come from it",
        f"mismatch: card {serials[2]} is spoiled (delivery.damaged), but the ledger books 0 "
        "spoilage of its chip",
    ]
