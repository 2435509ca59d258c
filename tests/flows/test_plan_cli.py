"""``cardline plan``: the goal seek through the command line, on the small campaign (fast
mode, a fraction of a second per replication)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flows.cli import run
from tests.sim.factories import campaign
from tests.sim.pdfcheck import assert_readable

VARY = [
    "--vary", "line.stages.print.machines=1..2",
    "--vary", "chips.deliveries.first.date=2021-03-03..2021-03-06",
]  # fmt: skip
FAST = ["--mode", "fast", "--probability", "0.8", "--max-replications", "20"]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    return home


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("plan") / "small.yaml"
    small = campaign(target={"cards": 45_000, "by": "2021-03-08"})
    path.write_text(yaml.safe_dump(small.definition), encoding="utf-8")
    return str(path)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["-q", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_prints_the_cheapest_setting_as_json_text_and_pdf(
    scenario_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "plan", scenario_file, *VARY, *FAST, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["schema"] == "cardline.plan/1" and document["best"] is not None
    assert document["probability"] == 0.8 and document["max_replications"] == 20
    assert [f["path"] for f in document["fields"]] == [
        "line.stages.print.machines",
        "chips.deliveries.first.date",
    ]
    pdf = tmp_path / "plan.pdf"
    code, out, err = cli(capsys, "plan", scenario_file, *VARY, *FAST, "--out", str(pdf))
    assert code == 0, err
    assert out.startswith("plan small-campaign: 45,000 good cards by 2021-03-08")
    assert "best setting (cost" in out and "chips: first: 40,000 chips by" in out
    assert f"report: {pdf}" in out
    assert "The cheapest setting" in assert_readable(pdf)


def test_a_bad_field_is_one_line_naming_it(
    scenario_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        capsys, "plan", scenario_file, "--vary", "line.stages.printr.machines=1..2"
    )
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "line.stages.printr.machines" in err and "there are:" in err
    code, _, err = cli(capsys, "plan", scenario_file, "--vary", "nonsense")
    assert code == 1 and "--vary" in err and err.count("\n") == 1
    code, _, err = cli(capsys, "plan", scenario_file, *VARY, "--probability", "1.5")
    assert code == 1 and "--probability" in err


def test_plan_without_a_dask_address_does_not_import_prefect(
    scenario_file: str, tmp_path: Path
) -> None:
    args = ["-q", "plan", scenario_file, *VARY, *FAST, "--json"]
    script = f"import sys; from flows.cli import run; code = run({args!r}); print('prefect' in sys.modules, code)"
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "CARDLINE_HOME": str(tmp_path / "home")},
        check=False,
    )
    assert done.stdout.splitlines()[-1] == "False 0", done.stderr
