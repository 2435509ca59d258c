"""The plan document (``cardline.plan/1``, ``sim.plan``) as a PDF, and as text.

Both read only the document. The PDF puts the answer first: the cheapest setting, its cost
and its probability of reaching the target in time (with the interval and the replications
behind it), then why it is the cheapest (each setting one step cheaper, and how it failed),
the chip orders (how many, by when at the latest), a map of the settings tried, and how the
search went; then every setting tried, cheapest first. The text is ``sim.plan_text``'s, the
charts ``sim.plan_charts``'; what callers use is importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm

from sim.pdf import Column, Page, count_text, long_date
from sim.plan_charts import key, probability_chart, settings_map
from sim.plan_text import (
    changed_text,
    field_of,
    method_text,
    money,
    plan_text,
    probability_text,
    question_text,
    tranche_text,
    value_text,
)

LABEL = 62 * mm
"""Width of the label column of the answer's tables."""


def render_plan(
    document: Mapping[str, Any],
    out: Path,
    *,
    font: str = "Helvetica",
    bold: str = "Helvetica-Bold",
) -> Path:
    """Draw the plan document as a PDF at ``out`` (atomically)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    page = Page(out, f"cardline plan: {document['scenario']}", font, bold)
    target = document["target"]
    page.paragraph(
        f"What it takes to reach {target['cards']:,} cards by "
        f"{long_date(date.fromisoformat(target['by']))}",
        15,
        bold=True,
        space_after=1 * mm,
    )
    page.paragraph(
        f"{question_text(document)}. {document['description']}",
        8,
        colour_=colors.HexColor("#444444"),
        space_after=3 * mm,
    )
    _answer(page, document)
    page.y -= 1 * mm
    page.paragraph(method_text(document), 7.5, colour_=colors.HexColor("#444444"))
    page.y -= 2 * mm
    _settings_tried(page, document, font)
    page.new_page()
    _every_setting(page, document)
    return page.save()


def _answer(page: Page, document: Mapping[str, Any]) -> None:
    """The cheapest setting and what it gives, why it is the cheapest, the chip orders."""
    best = document["best"]
    if best is None:
        page.paragraph(
            "No setting in these ranges reaches the target with that probability.",
            12,
            bold=True,
        )
        return
    target = document["target"]
    page.paragraph(f"The cheapest setting: cost {money(document, best['cost'])}", 12, bold=True)
    when = best["target_date"]
    rows = [
        [path, value_text(value, field_of(document, path)["kind"])]
        for path, value in best["setting"].items()
    ]
    rows.append(["reaches the target in time", probability_text(best)])
    if when is not None:
        span = f"{long_date(date.fromisoformat(when['low']))} to "
        span += long_date(date.fromisoformat(when["high"]))
        rows.append(
            ["target reached (mean)", f"{long_date(date.fromisoformat(when['mean']))} "
             f"(interval {span})"]
        )  # fmt: skip
    rows.append([f"cards by {target['deadline']}", count_text(best["cards_by_deadline"]["mean"])])
    rows.append(["stall days (no chips)", f"{best['stall_days']['mean']:.1f}"])
    page.table([Column("", LABEL), Column("", page.text_width - LABEL)], rows, header=False)
    if document["neighbours"]:
        page.paragraph("Why it is the cheapest: one step cheaper in each field", 10, bold=True)
        page.table(
            [
                Column("setting changed", LABEL + 40 * mm),
                Column("cost", 35 * mm, "right"),
                Column("decision", 25 * mm),
                Column("probability", page.text_width - LABEL - 100 * mm),
            ],
            [
                [changed_text(document, n), money(document, n["cost"]), n["decision"],
                 probability_text(n)]
                for n in document["neighbours"]
            ],
        )  # fmt: skip
    if document["tranches"]:
        page.paragraph("Chip orders", 10, bold=True)
        for tranche in document["tranches"]:
            page.paragraph(tranche_text(document, tranche), 8.5)


def _settings_tried(page: Page, document: Mapping[str, Any], font: str) -> None:
    """The chart of the settings tried, with its key, in the room left on the page (a new
    page when less than 70 mm is left)."""
    if page.room() < 70 * mm:
        page.new_page()
    page.paragraph("The settings tried", 10, bold=True, space_after=0)
    fields = document["fields"]
    best = document["best"]
    if len(fields) > 2 and best is not None:
        fixed = ", ".join(
            f"{f['path']} = {value_text(best['setting'][f['path']], f['kind'])}" for f in fields[2:]
        )
        page.paragraph(f"the first two fields; the others at the best setting: {fixed}", 7.5)
    key(page)
    height = page.room()
    chart = settings_map if len(document["fields"]) > 1 else probability_chart
    chart(document, font, min(page.text_width, 200 * mm), height).drawOn(
        page.canvas, page.left, page.y - height
    )


def _every_setting(page: Page, document: Mapping[str, Any]) -> None:
    """Every setting simulated, cheapest first, in one table."""
    page.paragraph("Every setting simulated, cheapest first", 12, bold=True)
    fields = document["fields"]
    share = (page.text_width - 125 * mm) / max(1, len(fields))
    columns = [
        *(Column(f["path"], share) for f in fields),
        Column("cost", 30 * mm, "right"),
        Column("decision", 22 * mm),
        Column("probability (interval), replications", 73 * mm),
    ]
    candidates = sorted(document["candidates"], key=lambda c: (c["cost"], str(c["setting"])))
    page.table(
        columns,
        [
            [
                *(value_text(c["setting"][f["path"]], f["kind"]) for f in fields),
                money(document, c["cost"]),
                c["decision"],
                probability_text(c),
            ]
            for c in candidates
        ],
    )


__all__ = ["money", "plan_text", "probability_text", "render_plan", "tranche_text", "value_text"]
