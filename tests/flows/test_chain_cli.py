"""``cardline check`` on the tamper-evident record, as a manager runs it: after a real run
of the line (``cardline run --without-prefect``) it says the chains hold; after someone
with the SQLite file drops a trigger and changes one stage event, it names that row in one
line and exits 1, beside the stock reconciliation (which still adds up)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from flows.cli import run
from line.db import make_engine
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


def test_check_says_the_chains_hold_then_names_the_row_changed_behind_its_back(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ready_home(tmp_path, applications=3, chips=5)
    assert cli(capsys, "-q", "run", "--without-prefect")[0] == 0
    code, out, err = cli(capsys, "-q", "check")
    assert (code, err) == (0, "")
    reconciled, chains = out.splitlines()
    assert reconciled == "check: stock ledger and cards reconcile"
    assert chains.startswith("check: the hash chains hold: stage_event ")
    assert "stock_movement " in chains and "audit_event " in chains

    engine = make_engine(f"sqlite:///{home / 'cardline.db'}")
    with engine.begin() as connection:
        victim = connection.execute(
            sa.text("SELECT id FROM stage_event WHERE stage = 'qc' ORDER BY id LIMIT 1")
        ).scalar_one()
        connection.exec_driver_sql("DROP TRIGGER stage_event_no_update")
        connection.execute(
            sa.text("UPDATE stage_event SET outcome = 'fail' WHERE id = :id"), {"id": victim}
        )
    engine.dispose()
    code, out, err = cli(capsys, "-q", "check")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"chain broken: stage_event row {victim}: its content does not match its hash: a "
        "column was changed after it was written, or the hash forged"
    ]
