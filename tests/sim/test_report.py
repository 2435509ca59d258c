"""The forecast document, its text table and its PDF, on the small campaign in fast mode."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from printers.face.fonts import register_fonts
from sim import compare, summarise
from sim.pdf import long_date
from sim.report import SCHEMA, forecast, forecast_text, render_forecast, target_text
from tests.sim.factories import campaign
from tests.sim.pdfcheck import assert_readable, flat, page_texts


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    """Three versions of the small campaign: as it is, its delivery 6 days late (the target
    is out of reach), and with no target at all. Two fast replications each."""
    scenarios = [
        campaign(name="small", description="Cửa hàng Nguyễn Thị Ánh Tuyết"),
        campaign(name="small-late", chips={"deliveries": {"first": {"slip_days": 6}}}),
        campaign(name="small-no-target", target=None),
    ]
    results = compare(scenarios, 2, seed=3, mode="fast", workers=1)
    assert summarise(results["small"]).target_reached == 2  # the premise of the tests
    return forecast(scenarios, results, requested_mode="fast")


def pdf_text(path: Path) -> str:
    pdf = pdfium.PdfDocument(path)
    return "\n".join(pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf)))


def test_the_document_is_json_and_keeps_each_scenarios_summary(figures: dict[str, Any]) -> None:
    assert json.loads(json.dumps(figures)) == figures
    assert figures["schema"] == SCHEMA and figures["replications"] == 2
    small, late, no_target = figures["scenarios"]
    assert small["description"] == "Cửa hàng Nguyễn Thị Ánh Tuyết"
    assert small["target"]["date"]["mean"] <= small["end"] == "2021-03-08"
    assert late["target"]["reached"] == 0 and late["target"]["date"] is None
    assert no_target["target"]["cards"] is None
    assert target_text(small).startswith(small["target"]["date"]["mean"])
    assert (target_text(late), target_text(no_target)) == ("not reached", "no target")


def test_the_text_table_has_a_column_per_scenario(figures: dict[str, Any]) -> None:
    lines = forecast_text(figures).splitlines()
    assert lines[0].split() == ["small", "small-late", "small-no-target"]
    reached = next(line for line in lines if line.startswith("target reached on"))
    assert figures["scenarios"][0]["target"]["date"]["mean"] in reached
    assert reached.endswith("no target") and "not reached" in reached
    assert lines[-1].startswith("seed 3, 2 replications")


def test_the_pdf_shows_each_scenario_and_its_target_date(
    figures: dict[str, Any], tmp_path: Path
) -> None:
    fonts = register_fonts()
    out = render_forecast(
        figures, tmp_path / "out" / "forecast.pdf", font=fonts.sans, bold=fonts.bold
    )
    assert out.is_file() and not out.with_name("forecast.pdf.part").exists()
    assert len(pdfium.PdfDocument(out)) == 3  # the answer; per day and demand; every figure
    text = pdf_text(out)
    for name in ("small", "small-late", "small-no-target"):
        assert name in text
    assert target_text(figures["scenarios"][0]) in text
    assert "not reached" in text and "no target" in text
    assert "Nguyễn Thị Ánh Tuyết" in text  # the description, in a font with the glyphs
    assert "target 50 k" in text  # the target line of the cumulative chart
    assert "chip-encode utilisation" in text and "stall days" in text


def test_the_first_page_answers_the_question_and_every_text_is_whole_and_on_the_page(
    figures: dict[str, Any], tmp_path: Path
) -> None:
    """What a minister reads on page 1, held against the figures: the question (target and
    date), each scenario's date and its interval, on time, stall days, what limits the line;
    dated axes; nothing cut, outside the page or over other text, on any page."""
    fonts = register_fonts()
    long = "a description long enough to need several lines in its column " * 4
    described = {
        **figures,
        "scenarios": [
            {**figures["scenarios"][0], "description": long.strip()},
            *figures["scenarios"][1:],
        ],
    }
    out = render_forecast(described, tmp_path / "forecast.pdf", font=fonts.sans, bold=fonts.bold)
    assert_readable(out)
    first = flat(page_texts(out)[0])
    assert "When do we reach 50,000 cards? Target: 50,000 good cards by 8 Mar 2021" in first
    assert long.strip() in first  # wrapped, never cut
    small, late, no_target = described["scenarios"]
    when = small["target"]["date"]
    assert long_date(date.fromisoformat(when["mean"])) in first
    low, high = (long_date(date.fromisoformat(when[k])) for k in ("low", "high"))
    assert f"{low} to {high}" in first
    assert f"{small['target']['on_time']} of 2 replications" in first
    assert "not reached in the run" in first and "no target" in first
    for entry in described["scenarios"]:
        stalls = entry["stall_days"]
        assert f"{stalls['mean']:.1f} ±{(stalls['high'] - stalls['low']) / 2:.1f}" in first
        assert entry["limits"]["text"] in first
    assert "deadline 8 Mar 2021" in first and "2 Mar" in first  # dated, not "day of the run"
    assert "day of the run" not in flat(" ".join(page_texts(out)))


def test_paired_differences_are_on_the_last_page(tmp_path: Path) -> None:
    from sim.comparison import forecast_scenarios, local_runner

    scenarios = [
        campaign(name="small"),
        campaign(name="small-late", chips={"deliveries": {"first": {"slip_days": 1}}}),
    ]
    figures = forecast_scenarios(
        scenarios,
        local_runner(seed=3, mode="fast", workers=1),
        replications=3,
        requested_mode="fast",
        paired_with_first=True,
    )
    out = render_forecast(figures, tmp_path / "paired.pdf")
    text = flat(page_texts(out)[-1])
    assert_readable(out)
    assert "small-late - small" in text and "Paired differences" in text
    assert "target date" in text and "significant" in text


def test_the_pdf_draws_with_reportlabs_own_fonts_too(
    figures: dict[str, Any], tmp_path: Path
) -> None:
    ascii_only = {**figures, "scenarios": figures["scenarios"][1:]}
    out = render_forecast(ascii_only, tmp_path / "plain.pdf")
    assert "small-late" in pdf_text(out)


def test_nine_scenarios_side_by_side_still_fit_the_page(
    figures: dict[str, Any], tmp_path: Path
) -> None:
    """The legend grows with the scenarios: it must not reach the target line's label."""
    entries = [
        {**entry, "scenario": f"{entry['scenario']}-{n}"}
        for n in range(3)
        for entry in figures["scenarios"]
    ]
    out = render_forecast({**figures, "scenarios": entries}, tmp_path / "nine.pdf")
    text = assert_readable(out)
    for entry in entries:
        assert entry["scenario"] in text
