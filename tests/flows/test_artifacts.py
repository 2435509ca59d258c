"""The tables the flows leave in the Prefect UI: human headers with units, no snake_case,
no Python reprs, every value a readable string."""

from __future__ import annotations

from datetime import date

from flows.artifacts import stock_reasons, stock_rows
from inventory.cover import ItemCover


def test_the_stock_table_speaks_a_storekeepers_words() -> None:
    chip = ItemCover(
        item="chip", on_hand=1_200, reserved=200, available=1_000, rate_per_day=4_321.4,
        days_of_cover=0.2, state="low", reason="1,000 available, below the reorder point",
        expected=50_000, reorder_point=90_000, projected_stockout=date(2026, 12, 3),
    )  # fmt: skip
    ribbon = ItemCover(
        item="ribbon", on_hand=0, reserved=0, available=0, rate_per_day=0.0,
        days_of_cover=None, state="ok", reason="1 roll in use (120 cards left on it)",
        in_use=1, cards_left=120,
    )  # fmt: skip
    rows = stock_rows([chip, ribbon])
    assert rows[0] == {
        "Item": "chip",
        "State": "LOW",
        "Can still make": "1,000 chips",
        "Use per day": "4,321 chips",
        "Days of cover": "0.2",
        "Stock-out (projected)": "2026-12-03",
        "On order": "50,000",
    }
    assert rows[1]["Can still make"] == "120 cards" and rows[1]["Days of cover"] == "no recent use"
    assert "-" not in [value for row in rows for value in row.values()], "a lone - is a bullet"
    reasons = stock_reasons("HN1", [chip, ribbon])
    assert "- **chip** (low): 1,000 available, below the reorder point" in reasons
    assert "- **ribbon** (ok): 1 roll in use (120 cards left on it)" in reasons
    for row in rows:
        assert all("_" not in header for header in row)
        assert all(isinstance(value, str) and "{" not in value for value in row.values())
