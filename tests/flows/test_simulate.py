"""``cardline simulate``: scenarios compared side by side, run in-process through ``run``.

Small on purpose: the shipped national scenarios in fast mode (~0.5 s a replication) and
two replications each.
"""

from __future__ import annotations

import json
import math
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from flows.cli import run

BASE_FILE = Path(__file__).parents[2] / "sim" / "scenarios" / "plan-2021.yaml"

SCENARIO_KEYS = {
    "scenario", "description", "mode", "seed", "replications", "confidence", "start", "days",
    "end", "target", "completed", "per_day", "chips_consumed", "chips_spoiled", "held",
    "stall_days", "starved_hours", "mean_wip", "stages", "daily", "time_in_system_s",
    "shift_hours", "weekly", "limits",
}  # fmt: skip
INTERVAL_KEYS = {"mean", "low", "high", "n"}


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    return home


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["-q", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """plan-2021 against slip-march-21d, 2 fast replications, as JSON (run once)."""
    home = tmp_path_factory.mktemp("simulate-home")
    before = os.environ.get("CARDLINE_HOME")
    os.environ["CARDLINE_HOME"] = str(home)
    try:
        import io
        from contextlib import redirect_stdout

        buffer = io.StringIO()
        with redirect_stdout(buffer):
            code = run(
                ["-q", "simulate", "plan-2021", "slip-march-21d", "-n", "2", "--mode", "fast"]
                + ["--seed", "7", "--json"]
            )
    finally:
        if before is None:
            del os.environ["CARDLINE_HOME"]
        else:
            os.environ["CARDLINE_HOME"] = before
    assert code == 0
    data: dict[str, Any] = json.loads(buffer.getvalue())
    return data


def test_the_json_figures_follow_the_documented_schema(compared: dict[str, Any]) -> None:
    assert compared["schema"] == "cardline.forecast/1"
    assert (compared["seed"], compared["replications"], compared["requested_mode"]) == (
        7,
        2,
        "fast",
    )
    assert [s["scenario"] for s in compared["scenarios"]] == ["plan-2021", "slip-march-21d"]
    for entry in compared["scenarios"]:
        assert set(entry) == SCENARIO_KEYS
        assert entry["mode"] == "fast" and entry["replications"] == 2
        assert set(entry["target"]) == {"cards", "by", "reached", "on_time", "day", "date"}
        assert entry["target"]["cards"] == 50_000_000 and entry["target"]["by"] == "2021-07-01"
        for key in ("completed", "per_day", "chips_consumed", "chips_spoiled", "stall_days"):
            assert set(entry[key]) == INTERVAL_KEYS and entry[key]["n"] == 2
        assert [s["stage"] for s in entry["stages"]] == ["print", "chip-encode", "qc", "dispatch"]
        for stage in entry["stages"]:
            assert set(stage) == {"stage", "utilisation", "mean_wait_s", "mean_queue"}
            assert 0 < stage["utilisation"]["mean"] <= 1
        assert len(entry["daily"]) == entry["days"] == 120
        assert entry["daily"][0]["date"] == entry["start"] == "2021-03-03"
        assert entry["end"] == entry["daily"][-1]["date"] == "2021-06-30"
        assert set(entry["daily"][0]) == {"date", "cumulative", "completed", "applications"}
        assert set(entry["daily"][0]["applications"]) == INTERVAL_KEYS
        # the opening backlog counts as received: 18 million waiting on 3 March
        assert entry["daily"][0]["applications"]["mean"] > 18_000_000
        assert entry["limits"]["by"] in ("chips", "stage", "demand")
        assert entry["time_in_system_s"] is None  # fast mode
        # cumulative is the running sum of the daily means; its last day is the total
        assert entry["daily"][-1]["cumulative"]["mean"] == pytest.approx(
            sum(d["completed"]["mean"] for d in entry["daily"])
        )
        assert entry["completed"]["mean"] == pytest.approx(entry["daily"][-1]["cumulative"]["mean"])
        assert entry["per_day"]["mean"] == pytest.approx(entry["completed"]["mean"] / 120)
        assert entry["chips_consumed"]["mean"] >= entry["completed"]["mean"]


def test_a_delivery_three_weeks_late_reaches_the_target_later_or_not_at_all(
    compared: dict[str, Any],
) -> None:
    base, slipped = compared["scenarios"]
    assert base["target"]["reached"] == 2 and base["target"]["date"] is not None
    when = slipped["target"]["date"]
    assert when is None or date.fromisoformat(when["mean"]) > date.fromisoformat(
        base["target"]["date"]["mean"]
    )
    assert slipped["completed"]["mean"] < base["completed"]["mean"]
    assert slipped["stall_days"]["mean"] > base["stall_days"]["mean"]
    # common random numbers: until the March tranche was due (22 March) the runs are the same
    assert base["daily"][:18] == slipped["daily"][:18]
    assert base["daily"][40] != slipped["daily"][40]


def test_the_plain_output_is_a_table_with_a_column_per_scenario(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(capsys, "simulate", "plan-2021", "plus-2-encoders", "-n", "1")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["plan-2021", "plus-2-encoders"]
    rows = {line[:24].strip(): line[24:].split() for line in lines[1:-1]}
    assert rows["mode"] == ["fast", "x1", "fast", "x1"]  # auto: 50 million cards is fast
    assert "target reached on" in rows and "chip-encode utilisation" in rows
    assert "stall days" in rows and "chips spoiled" in rows and "WIP (mean)" in rows


def test_a_bad_scenario_file_is_one_line_naming_the_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "late.yaml"
    bad.write_text(
        f"name: late\nextends: {BASE_FILE}\nline:\n  stages:\n    print: {{machines: -2}}\n",
        encoding="utf-8",
    )
    code, out, err = cli(capsys, "simulate", "plan-2021", str(bad), "--mode", "fast", "-n", "1")
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert str(bad) in err and "line.stages.print.machines" in err


def test_an_unknown_scenario_name_and_a_bad_mode_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = cli(capsys, "simulate", "no-such-scenario")
    assert code == 1 and "no-such-scenario" in err and err.count("\n") == 1
    code, _, err = cli(capsys, "simulate", "plan-2021", "--mode", "quick")
    assert code == 2 and "--mode" in err


def test_out_writes_a_pdf_of_the_forecast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pypdfium2 as pdfium

    out_file = tmp_path / "reports" / "what-if.pdf"
    out_file.parent.mkdir()  # --out makes no directories (a mistyped path is refused)
    code, out, err = cli(
        capsys, "simulate", "slip-march-21d", "-n", "1", "--mode", "fast", "--out", str(out_file)
    )
    assert code == 0, err
    assert f"report: {out_file}" in out
    pdf = pdfium.PdfDocument(out_file)
    text = "".join(pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf)))
    assert "slip-march-21d" in text and "target reached on" in text


def test_simulate_without_a_dask_address_does_not_import_prefect(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys; from flows.cli import run; "
        "code = run(['-q', 'simulate', 'plan-2021', '-n', '1', '--mode', 'fast', '--json']); "
        "print('prefect' in sys.modules, code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "CARDLINE_HOME": str(tmp_path / "home")},
        check=False,
    )
    assert done.stdout.splitlines()[-1] == "False 0", done.stderr


def test_calibrate_writes_a_spec_fitted_to_the_record_and_backtests_it(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from line.spec import load_spec
    from tests.flows.homes import ready_home

    ready_home(tmp_path, applications=40, chips=60)
    assert run(["-q", "run", "--without-prefect", "--batch-size", "10"]) == 0
    capsys.readouterr()
    out = tmp_path / "fitted.yaml"
    code, printed, err = cli(
        capsys, "-q", "calibrate", "--spec-out", str(out), "--backtest",
        "-n", "2", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(printed)
    assert result["spec"] == str(out)
    fitted = load_spec(out)  # a valid spec, written where asked
    assert fitted.stages["print"].machines == 10  # counts kept from the base, never guessed
    total = result["backtest"]["total"]
    assert total["recorded"] == 40  # the cards that really passed QC in the period
    assert {"simulated", "relative_error", "agrees"} <= set(total)

    code, _, err = cli(capsys, "-q", "simulate", "--backtest")
    assert code == 2 and "go with --calibrate" in err
    code, _, err = cli(capsys, "-q", "calibrate", "--since", "2026-13-01")
    assert code == 2 and "not a date" in err


@pytest.fixture(scope="module")
def small_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The small campaign (tests/sim/factories.py) and the same with its delivery a day
    late, as scenario files."""
    import yaml

    from tests.sim.factories import campaign

    folder = tmp_path_factory.mktemp("small")
    paths = []
    for scenario in (
        campaign(),
        campaign(name="small-late", chips={"deliveries": {"first": {"slip_days": 1}}}),
    ):
        path = folder / f"{scenario.name}.yaml"
        path.write_text(yaml.safe_dump(scenario.definition), encoding="utf-8")
        paths.append(str(path))
    return paths


def test_paired_gives_the_t_interval_of_the_differences_replication_by_replication(
    small_files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    import statistics

    from sim import compare, load_scenario
    from sim.stats import t_quantile

    code, out, err = cli(
        capsys, "simulate", *small_files, "-n", "5", "--mode", "fast", "--seed", "2",
        "--paired", "--json",
    )  # fmt: skip
    assert code == 0, err
    (pair,) = json.loads(out)["paired"]
    assert (pair["baseline"], pair["scenario"], pair["replications"]) == (
        "small-campaign", "small-late", 5,
    )  # fmt: skip
    # held against the same replications computed here, and the textbook paired-t interval
    runs = compare([load_scenario(p) for p in small_files], 5, seed=2, mode="fast", workers=1)
    a, b = runs["small-campaign"], runs["small-late"]
    for key, value in (
        ("completed", lambda r: r.totals.completed),
        ("stall_days", lambda r: r.totals.stall_days),
        ("target_day", lambda r: r.target_day),
    ):
        d = [value(y) - value(x) for x, y in zip(a, b, strict=True)]
        half = t_quantile(0.975, 4) * statistics.stdev(d) / math.sqrt(5)
        got = pair[key]
        assert got["n"] == 5 and got["mean"] == pytest.approx(statistics.fmean(d))
        assert (got["low"], got["high"]) == pytest.approx((got["mean"] - half, got["mean"] + half))
        assert got["significant"] == (got["low"] > 0 or got["high"] < 0)
    # a day late: the target a day later, significant; the cards by the end hardly differ
    assert pair["target_day"]["mean"] > 0 and pair["target_day"]["significant"]

    code, out, err = cli(capsys, "simulate", *small_files, "-n", "3", "--mode", "fast", "--paired")
    assert code == 0, err
    assert "small-late - small-campaign (3 replications)" in out
    assert "completed cards" in out and "significant" in out
    code, _, err = cli(capsys, "simulate", small_files[0], "--paired", "-n", "2")
    assert code == 2 and "--paired" in err


def test_precision_adds_replications_until_the_target_date_is_narrow_enough(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from tests.sim.factories import campaign

    uncertain = campaign(  # its delivery anything up to 3 days late: the date varies
        chips={"deliveries": {"first": {"delay": {"kind": "uniform", "low": 0, "high": 3}}}}
    )
    path = tmp_path / "uncertain.yaml"
    path.write_text(yaml.safe_dump(uncertain.definition), encoding="utf-8")
    small_files = ["", str(path)]
    code, out, err = cli(
        capsys, "simulate", small_files[1], "-n", "2", "--mode", "fast", "--precision", "0.4",
        "--max-replications", "16", "--json",
    )  # fmt: skip
    assert code == 0, err
    figures = json.loads(out)
    record, entry = figures["precision"], figures["scenarios"][0]
    n = record["replications"]
    assert 2 < n <= 16 and entry["replications"] == figures["replications"] == n
    day = entry["target"]["day"]
    half = (day["high"] - day["low"]) / 2
    assert record["scenarios"][0]["half_width_days"] == pytest.approx(half)
    assert record["met"] == (half <= 0.4)
    assert record["met"] or n == 16
    code, out, _ = cli(
        capsys, "simulate", small_files[1], "-n", "2", "--mode", "fast", "--precision", "0.4",
        "--max-replications", "16",
    )  # fmt: skip
    assert f"with {n} replications" in out
    code, _, err = cli(capsys, "simulate", small_files[1], "--max-replications", "9")
    assert code == 2 and "--precision" in err


def test_warmup_and_time_in_system_in_card_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from tests.sim.factories import campaign

    path = tmp_path / "three-days.yaml"
    three_days = campaign(days=2, chips={"unlimited": True})  # the elderly go first: dispatched
    path.write_text(yaml.safe_dump(three_days.definition), encoding="utf-8")
    small_files = [str(path)]
    code, out, err = cli(
        capsys, "simulate", small_files[0], "-n", "1", "--mode", "cards", "--warmup", "1",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    figures = json.loads(out)
    assert figures["warmup_days"] == 1
    sojourn = figures["scenarios"][0]["time_in_system_s"]
    assert sojourn is not None and sojourn["mean"] > 0
    code, out, err = cli(
        capsys, "simulate", small_files[0], "-n", "1", "--mode", "cards", "--warmup", "1"
    )
    assert code == 0 and "time in system" in out
    code, _, err = cli(capsys, "simulate", small_files[0], "--warmup", "2")
    assert code == 2 and "--warmup" in err
