"""The forecast document, its text table and its PDF, on the small campaign in fast mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from printers.face.fonts import register_fonts
from sim import compare, summarise
from sim.report import SCHEMA, forecast, forecast_text, render_forecast, target_text
from tests.sim.factories import campaign


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
    assert len(pdfium.PdfDocument(out)) == 2  # the charts, then the table
    text = pdf_text(out)
    for name in ("small", "small-late", "small-no-target"):
        assert name in text
    assert target_text(figures["scenarios"][0]) in text
    assert "not reached" in text and "no target" in text
    assert "Nguyễn Thị Ánh Tuyết" in text  # the description, in a font with the glyphs
    assert "target 50,000" in text  # the target line of the cumulative chart
    assert "chip-encode utilisation" in text and "stall days" in text


def test_the_pdf_draws_with_reportlabs_own_fonts_too(
    figures: dict[str, Any], tmp_path: Path
) -> None:
    ascii_only = {**figures, "scenarios": figures["scenarios"][1:]}
    out = render_forecast(ascii_only, tmp_path / "plain.pdf")
    assert "small-late" in pdf_text(out)
