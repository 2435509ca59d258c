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
    """The stock table: one row per item, in the words and units a storekeeper uses."""
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
                "Days of cover": "-"
                if item.days_of_cover is None
                else f"{item.days_of_cover:,.1f}",
                "Stock-out (projected)": "-"
                if item.projected_stockout is None
                else f"{item.projected_stockout:%Y-%m-%d}",
                "On order": f"{item.expected:,}",
                "Why": item.reason,
            }
        )
    return rows
