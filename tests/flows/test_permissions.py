"""Personal data on disk: every file cardline writes is owner-only whatever the umask.

The commands run as real processes (the installed ``cardline``) under ``umask 000``, the
most permissive there is, so any group or other bit on a file can only come from code that
does not set the mode itself. Then the whole ``CARDLINE_HOME`` is walked.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from line.synthetic import write_csv
from tests.factories import good_rows, photo_file

CARDLINE = Path(sys.executable).parent / "cardline"


def exposed(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) that its group or others can read,
    write or enter, with its mode."""
    found = []
    for path in [root, *sorted(root.rglob("*"))]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {mode:04o}")
    return found


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CARDLINE_"))}
    env["CARDLINE_HOME"] = str(home)
    return env


def cardline(home: Path, *args: str, timeout: float = 300) -> str:
    """Run the installed command under umask 000; its stdout (it must succeed)."""
    done = subprocess.run(
        [str(CARDLINE), "-q", *args],
        env=environment(home), capture_output=True, text=True, timeout=timeout, umask=0,
    )  # fmt: skip
    assert done.returncode == 0, (args, done.stderr[-2000:])
    return done.stdout


# The daily report is a Prefect flow; its writer is called here as the flow calls it, in a
# process under umask 000 that keeps the SQLite database open (its -wal and -shm files exist
# only while it is) and lists what it sees then.
DAILY_REPORT_AND_OPEN_DATABASE = """
import json, os, stat, sys
from pathlib import Path
from flows.report import gather, render_report
from line.db import make_engine, session_scope
from line.settings import Settings
from line.spec import spec_in_use
from line.types import utc_now

settings = Settings()
engine = make_engine(settings.database_url)
at = utc_now()
with engine.connect() as connection:  # open while the report reads: -wal and -shm exist
    with session_scope(engine) as session:
        report = gather(
            session=session, spec=spec_in_use(settings.line_spec), centre=settings.centre,
            at=at, target=100,
        )
    pdf = render_report(out=settings.home_dir / "reports" / "daily.pdf", report=report)
    home = settings.home_dir
    seen = {
        str(p.relative_to(home)): stat.S_IMODE(p.stat().st_mode)
        for p in home.glob("cardline.db*")
    }
print(json.dumps({"report": str(pdf), "database_files": seen}))
"""


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """An intake file of 6 applicants, one of them with a bad field (a reject report)."""
    photo_file(tmp_path / "in" / "photos", "a.jpg")
    photo_file(tmp_path / "in" / "photos", "b.png")
    rows = good_rows(6)
    rows[3]["sex"] = "?"
    write_csv(tmp_path / "in" / "batch.csv", rows)
    return tmp_path / "in" / "batch.csv"


def test_under_umask_000_every_file_in_the_home_is_owner_only(tmp_path: Path, inputs: Path) -> None:
    home = tmp_path / "home"
    cardline(home, "db", "upgrade")
    summary = json.loads(cardline(home, "intake", str(inputs), "--json"))
    assert summary["rejected"] == 1 and Path(summary["reject_report"]).is_file()
    own_report = tmp_path / "reports-of-mine" / "rejects.csv"  # a directory the user made
    own_report.parent.mkdir(mode=0o755)
    own_report.parent.chmod(0o755)
    cardline(home, "intake", str(inputs), "--rejects", str(own_report))
    cardline(home, "keys", "init")
    lot = ["--lot", "L1", "--supplier", "Chip Co", "--quantity", "10"]
    cardline(home, "stock", "receive", *lot, "--first-uid", "04D00000000001")
    run = json.loads(cardline(home, "run", "--without-prefect", "--json"))
    assert run["passed"] == 5
    batches = json.loads(cardline(home, "dispatch", "--json"))
    assert sum(batch["cards"] for batch in batches) == 5
    export_in_home = home / "export"
    cardline(home, "card", "export", "1", "--out", str(export_in_home))
    export_elsewhere = tmp_path / "auditor"
    cardline(home, "card", "export", "1", "--out", str(export_elsewhere))
    done = subprocess.run(
        [sys.executable, "-c", DAILY_REPORT_AND_OPEN_DATABASE],
        env=environment(home), capture_output=True, text=True, timeout=300, umask=0,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.splitlines()[-1])

    # What was written is all there: the walk below has something to look at.
    for name in ("cardline.db", "logs/cardline.jsonl", "keys/csca.pem", "keys/ds.pem"):
        assert (home / name).is_file(), name
    for folder in ("keys", "rejects", "spool", "cards", "manifests", "reports", "export"):
        assert any((home / folder).iterdir()), folder
    assert {"cardline.db", "cardline.db-wal", "cardline.db-shm"} <= set(seen["database_files"])
    assert Path(seen["report"]).is_file()

    assert exposed(home) == []
    assert seen["database_files"] == dict.fromkeys(seen["database_files"], 0o600)
    assert exposed(export_elsewhere) == []  # made by the export: 0700, its files 0600
    assert exposed(own_report.parent) == ["reports-of-mine 0755"]  # the user's: left as it is
    assert stat.S_IMODE(own_report.stat().st_mode) == 0o600


def test_an_existing_readable_database_and_home_are_narrowed(tmp_path: Path) -> None:
    """A home made before (or by hand) with the usual 0644/0755 is made owner-only again."""
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True, mode=0o755)
    (home / "logs").chmod(0o755)
    (home / "cardline.db").touch()
    (home / "cardline.db").chmod(0o644)
    (home / "logs" / "cardline.jsonl").touch()
    (home / "logs" / "cardline.jsonl").chmod(0o666)
    cardline(home, "db", "upgrade")
    assert exposed(home) == []


@pytest.mark.slow
def test_the_demo_under_umask_000_leaves_nothing_readable_by_others(tmp_path: Path) -> None:
    """The whole line as Prefect flows (ephemeral server), the synthetic applicants and
    their photos, the export: and Prefect's own files under the home."""
    home = tmp_path / "home"
    out = cardline(home, "demo", "--count", "12", "--seed", "3", timeout=600)
    assert "exported 10 files" in out  # faces, MRZ, EF.COM, DG1, DG2, DG13, DG14, DG15, SOD
    assert (home / "prefect").is_dir() and any((home / "prefect").iterdir())
    assert any((home / "demo" / "photos").iterdir())
    assert exposed(home) == []
