"""What the flows show in the Prefect UI besides their logs: artifact keys and tables that
read well at 1,600 px (human headers with their units, numbers with thousands separators,
no Python reprs). Keys carry the centre (and the campaign where there is one), so that two
centres or campaigns reporting to one server never overwrite each other's artifacts."""

from __future__ import annotations

import re
from collections.abc import Iterable

from inventory.cover import ItemCover

STATE_WORDS = {"ok": "ok", "low": "LOW", "out": "OUT", "short": "SHORT"}


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key (lowercase letters, digits and dashes) from its parts."""
    text = "-".join(parts).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def stock_rows(items: Iterable[ItemCover]) -> list[dict[str, str]]:
    """The stock table: one row per item, in the words and units a storekeeper uses (no
    cell is a lone "-": the UI renders it as a list bullet). Why each item is in its state
    goes in ``stock_reasons`` (the UI's table cuts long cells instead of wrapping them)."""
    rows = []
    for item in items:
        unit = "chips" if item.item == "chip" else "cards"
        left = item.available if item.item == "chip" else (item.cards_left or 0)
        rows.append(
            {
                "Item": item.item,
                "State": STATE_WORDS.get(item.state, item.state),
                "Can still make": f"{left:,} {unit}",
                "Use per day": f"{item.rate_per_day:,.0f} {unit}",
                "Days of cover": "no recent use"
                if item.days_of_cover is None
                else f"{item.days_of_cover:,.1f}",
                "Stock-out (projected)": "none in sight"
                if item.projected_stockout is None
                else f"{item.projected_stockout:%Y-%m-%d}",
                "On order": f"{item.expected:,}",
            }
        )
    return rows


def stock_reasons(centre: str, items: Iterable[ItemCover]) -> str:
    """The stock table's description: why each item is in its state, whole."""
    lines = [f"Stock at centre {centre}: what each item can still make, days of cover and "
             "the projected stock-out date.", ""]  # fmt: skip
    lines += [f"- **{item.item}** ({item.state}): {item.reason}" for item in items]
    return "\n".join(lines)
