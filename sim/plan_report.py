"""The plan document (``cardline.plan/1``, ``sim.plan``) as text and as a PDF.

Both read only the document. The PDF puts the answer first: the cheapest setting, its cost
and its probability of reaching the target in time (with the interval and the replications
behind it), then why it is the cheapest (each setting one step cheaper, and how it failed),
the chip orders (how many, by when at the latest), a map of the settings tried, and how the
search went; then every setting tried, cheapest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from reportlab.graphics.shapes import Circle, Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from sim.pdf import Column, Page, count_text, long_date, short_date

REACHED = colors.HexColor("#2ca02c")
FAILED = colors.HexColor("#d62728")
SCREENED = colors.HexColor("#ff9f1c")
UNTRIED = colors.HexColor("#bbbbbb")


def _field(document: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    return next(f for f in document["fields"] if f["path"] == path)


def value_text(value: Any, kind: str = "") -> str:
    if isinstance(value, str) and kind == "date":
        return long_date(date.fromisoformat(value))
    if isinstance(value, list):
        return f"{len(value)}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _short_value(value: Any, kind: str) -> str:
    if kind == "date":
        return short_date(date.fromisoformat(value))
    if isinstance(value, (int, float)) and abs(value) >= 1e5:
        return count_text(value)
    return value_text(value, kind)


def money(document: Mapping[str, Any], value: float) -> str:
    currency = document.get("currency") or ""
    text = f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.2f}"
    return f"{text} {currency}".strip()


def percent(p: float | None) -> str:
    return "-" if p is None else f"{100 * p:.0f} %"


def probability_text(candidate: Mapping[str, Any]) -> str:
    """``92 % (95 % interval 82-96 %), 55 of 60 replications``."""
    interval = candidate["interval"]
    return (
        f"{percent(candidate['probability'])} (interval {percent(interval['low'])}-"
        f"{percent(interval['high'])}), {candidate['reached']} of "
        f"{candidate['replications']} replications"
    )


def _changed(document: Mapping[str, Any], candidate: Mapping[str, Any]) -> str:
    """The fields where ``candidate`` differs from the best setting."""
    best = document["best"]["setting"]
    parts = []
    for path, value in candidate["setting"].items():
        if value != best[path]:
            parts.append(f"{path} = {value_text(value, _field(document, path)['kind'])}")
    return ", ".join(parts) or "(the same)"


def _question(document: Mapping[str, Any]) -> str:
    target = document["target"]
    return (
        f"{document['scenario']}: {target['cards']:,} good cards by {target['by']} "
        f"(dispatched by the end of {target['deadline']}) with probability at least "
        f"{percent(document['probability'])}"
    )


def _method(document: Mapping[str, Any]) -> str:
    search = {
        "frontier": "a frontier walk over fields the target is monotone in",
        "frontier+grid": "a frontier walk over the monotone fields, every value of the others",
        "grid": "every setting of the grid (brute force)",
    }.get(document["search"], document["search"])
    worst = document["grid"] * document["max_replications"]
    return (
        f"search: {search}; {document['evaluated']} of {document['grid']:,} settings "
        f"simulated, {document['replications']:,} replications in all (a grid of every "
        f"setting: up to {worst:,}); {document['mode']} mode, seed {document['seed']}, "
        f"common random numbers; a setting is decided once the "
        f"{100 * document['confidence']:.0f} % Wilson interval of its probability is clear "
        f"of {percent(document['probability'])}, or at {document['max_replications']} "
        "replications"
    )


def tranche_text(document: Mapping[str, Any], tranche: Mapping[str, Any]) -> str:
    latest = long_date(date.fromisoformat(tranche["latest"]))
    text = f"{tranche['delivery']}: {tranche['quantity']:,} chips by {latest} at the latest"
    later = tranche.get("later")
    if later is not None:
        text += (
            f" ({long_date(date.fromisoformat(later['date']))}: reached in "
            f"{percent(later['probability'])} of {later['replications']} replications)"
        )
    elif tranche.get("at_the_latest_of_range"):
        text += " (the latest date of the range: it may come later still)"
    extra = []
    if tranche.get("slip_days"):
        extra.append(f"a known slip of {tranche['slip_days']:g} days")
    if tranche.get("delay_mean_days"):
        extra.append(f"a random delay of {tranche['delay_mean_days']:.1f} days on average")
    if extra:
        text += "; plus " + " and ".join(extra)
    return text


def plan_text(document: Mapping[str, Any]) -> str:
    """The plan as lines of text: question, answer, why, chip orders, method."""
    lines = [f"plan {_question(document)}"]
    for f in document["fields"]:
        low, high = value_text(f["low"], f["kind"]), value_text(f["high"], f["kind"])
        step = f"{f['step']} day(s)" if f["kind"] == "date" else str(f["step"])
        cheaper = {"later": "later is cheaper", "higher": "higher is cheaper"}.get(
            f["cheaper"], "lower is cheaper"
        )
        lines.append(
            f"  varies {f['path']}: {low}..{high} step {step} ({f['values']} values; "
            f"{cheaper}; a unit costs {money(document, f['unit_cost'])}, {f['cost_from']})"
        )
    best = document["best"]
    if best is None:
        top = max(document["candidates"], key=lambda c: c["cost"], default=None)
        lines.append("no setting in these ranges reaches the target with that probability")
        if top is not None:
            lines.append(f"  the dearest tried: {probability_text(top)}")
    else:
        lines.append(f"best setting (cost {money(document, best['cost'])}):")
        for path, value in best["setting"].items():
            lines.append(f"  {path} = {value_text(value, _field(document, path)['kind'])}")
        clear = "" if best["clear"] else " (not clear of the threshold at the most replications)"
        lines.append(f"  reaches the target: {probability_text(best)}{clear}")
        when = best["target_date"]
        cards = best["cards_by_deadline"]
        lines.append(
            f"  target date {when['mean'] if when else '-'}; "
            f"{count_text(cards['mean'])} cards by {document['target']['deadline']}; "
            f"{best['stall_days']['mean']:.1f} stall days"
        )
        if document["neighbours"]:
            lines.append("one step cheaper in each field (why it is the cheapest):")
            for n in document["neighbours"]:
                lines.append(
                    f"  {_changed(document, n)}: {n['decision']}, "
                    f"{probability_text(n)}; cost {money(document, n['cost'])}"
                )
        for tranche in document["tranches"]:
            lines.append(f"chips: {tranche_text(document, tranche)}")
    if document.get("violations"):
        lines.append(
            f"note: {document['violations']} cheaper setting(s) succeeded where the search "
            "assumed monotone results; the answer is the cheapest decided one"
        )
    lines.append(_method(document))
    return "\n".join(lines)


# --- PDF --------------------------------------------------------------------------------------


def _map(document: Mapping[str, Any], font: str, width: float, height: float) -> Drawing:
    """The settings of the first two fields (others at the best setting): each tried one a
    dot in the colour of its decision, the best ringed."""
    fields = document["fields"]
    drawing = Drawing(width, height)
    fx = fields[0]
    fy = fields[1] if len(fields) > 1 else None
    xs = _ladder(fx)
    ys = _ladder(fy) if fy is not None else [None]
    left, bottom = 22 * mm, 16 * mm
    plot_w, plot_h = width - left - 6 * mm, height - bottom - 10 * mm
    best = document["best"]

    def px(i: int) -> float:
        return float(left + plot_w * (i + 0.5) / len(xs))

    def py(j: int) -> float:
        return float(bottom + plot_h * (j + 0.5) / len(ys))

    drawing.add(Rect(left, bottom, plot_w, plot_h, fillColor=None, strokeColor=UNTRIED,
                     strokeWidth=0.5))  # fmt: skip
    others = {f["path"]: best["setting"][f["path"]] for f in fields[2:] if best is not None}
    tried = {}
    for c in document["candidates"]:
        if any(c["setting"][p] != v for p, v in others.items()):
            continue
        key = (c["setting"][fx["path"]], c["setting"][fy["path"]] if fy is not None else None)
        tried[key] = c
    radius = max(1.0, min(2.2 * mm, plot_w / len(xs) / 3, plot_h / len(ys) / 3))
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            c = tried.get((x, y))
            if c is None:
                drawing.add(Circle(px(i), py(j), radius / 3, fillColor=UNTRIED, strokeColor=None))
                continue
            fill = {"reached": REACHED, "not reached": FAILED}.get(c["decision"], SCREENED)
            drawing.add(Circle(px(i), py(j), radius, fillColor=fill, strokeColor=None))
            if best is not None and c["setting"] == best["setting"]:
                drawing.add(Circle(px(i), py(j), radius * 1.9, fillColor=None,
                                   strokeColor=colors.black, strokeWidth=1.2))  # fmt: skip
    _ticks(drawing, xs, fx["kind"], px, font, axis="x", at=bottom, plot=plot_w)
    drawing.add(
        String(left + plot_w / 2, 2 * mm, _fit(fx["path"], font, 7.5, plot_w), fontName=font,
               fontSize=7.5, textAnchor="middle")
    )  # fmt: skip
    if fy is not None:
        _ticks(drawing, ys, fy["kind"], py, font, axis="y", at=left, plot=plot_h)
        drawing.add(
            String(left, bottom + plot_h + 3 * mm, _fit(fy["path"], font, 7.5, plot_w),
                   fontName=font, fontSize=7.5)
        )  # fmt: skip
    return drawing


def _fit(text: str, font: str, size: float, width: float) -> str:
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth("…" + text, font, size) > width:
        text = text[1:]
    return "…" + text


def _ladder(f: Mapping[str, Any]) -> list[Any]:
    """The field's values in ascending order (as the document shows them)."""
    kind = f["kind"]
    if kind == "date":
        from datetime import timedelta

        low, high = date.fromisoformat(f["low"]), date.fromisoformat(f["high"])
        days = range(0, (high - low).days + 1, f["step"])
        return [(low + timedelta(days=d)).isoformat() for d in days]
    if kind == "number":
        count = int((f["high"] - f["low"]) / f["step"] + 1e-9)
        return [f["low"] + i * f["step"] for i in range(count + 1)]
    return list(range(f["low"], f["high"] + 1, f["step"]))


def _ticks(
    drawing: Drawing,
    values: Sequence[Any],
    kind: str,
    at_index: Any,
    font: str,
    *,
    axis: str,
    at: float,
    plot: float,
) -> None:
    labels = [_short_value(v, kind) for v in values]
    widest = max(stringWidth(t, font, 7) for t in labels) + 2 * mm
    room = plot / len(values)
    every = 1
    need = widest if axis == "x" else 9
    while room * every < need:
        every += 1
    for i in range(0, len(values), every):
        if axis == "x":
            drawing.add(String(at_index(i), at - 4 * mm, labels[i], fontName=font, fontSize=7,
                               textAnchor="middle"))  # fmt: skip
        else:
            drawing.add(String(at - 1.5 * mm, at_index(i) - 2, labels[i], fontName=font,
                               fontSize=7, textAnchor="end"))  # fmt: skip


def _probability_chart(
    document: Mapping[str, Any], font: str, width: float, height: float
) -> Drawing:
    """One field: the probability of each value tried, its interval, and the threshold."""
    f = document["fields"][0]
    values = _ladder(f)
    drawing = Drawing(width, height)
    left, bottom = 16 * mm, 16 * mm
    plot_w, plot_h = width - left - 6 * mm, height - bottom - 8 * mm

    def px(i: int) -> float:
        return float(left + plot_w * (i + 0.5) / len(values))

    def py(p: float) -> float:
        return float(bottom + plot_h * p)

    drawing.add(Rect(left, bottom, plot_w, plot_h, fillColor=None, strokeColor=UNTRIED,
                     strokeWidth=0.5))  # fmt: skip
    for p in (0.0, 0.5, 1.0):
        drawing.add(String(left - 1.5 * mm, py(p) - 2, percent(p), fontName=font, fontSize=7,
                           textAnchor="end"))  # fmt: skip
    y = py(document["probability"])
    drawing.add(Line(left, y, left + plot_w, y, strokeColor=colors.black,
                     strokeDashArray=[3, 2], strokeWidth=0.7))  # fmt: skip
    drawing.add(String(left + 1 * mm, y + 1.5 * mm, f"wanted: {percent(document['probability'])}",
                       fontName=font, fontSize=7))  # fmt: skip
    index = {v: i for i, v in enumerate(values)}
    for c in document["candidates"]:
        i = index.get(c["setting"][f["path"]])
        if i is None:
            continue
        fill = {"reached": REACHED, "not reached": FAILED}.get(c["decision"], SCREENED)
        drawing.add(Line(px(i), py(c["interval"]["low"]), px(i), py(c["interval"]["high"]),
                         strokeColor=fill, strokeWidth=1.2))  # fmt: skip
        drawing.add(Circle(px(i), py(c["probability"]), 1.6 * mm, fillColor=fill, strokeColor=None))
    _ticks(drawing, values, f["kind"], px, font, axis="x", at=bottom, plot=plot_w)
    drawing.add(String(left + plot_w / 2, 2 * mm, _fit(f["path"], font, 7.5, plot_w),
                       fontName=font, fontSize=7.5, textAnchor="middle"))  # fmt: skip
    return drawing


def _key(page: Page) -> None:
    x = page.left
    y = page.y - 3 * mm
    page.canvas.setFont(page.font, 7.5)
    for fill, label in (
        (REACHED, "reaches the target with the wanted probability"),
        (FAILED, "does not"),
        (SCREENED, "first replications all reached it (never needed proof)"),
        (UNTRIED, "not simulated: ruled out by a cheaper failure, or dearer than the best"),
    ):
        page.canvas.setFillColor(fill)
        page.canvas.circle(x + 1.5 * mm, y + 1 * mm, 1.3 * mm, stroke=0, fill=1)
        page.canvas.setFillColor(colors.black)
        page.canvas.drawString(x + 4 * mm, y, label)
        x += 8 * mm + stringWidth(label, page.font, 7.5)
    page.y -= 6 * mm


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
        f"{_question(document)}. {document['description']}",
        8,
        colour_=colors.HexColor("#444444"),
        space_after=3 * mm,
    )
    best = document["best"]
    label = 62 * mm
    if best is None:
        page.paragraph(
            "No setting in these ranges reaches the target with that probability.",
            12,
            bold=True,
        )
    else:
        page.paragraph(f"The cheapest setting: cost {money(document, best['cost'])}", 12, bold=True)
        when = best["target_date"]
        rows = [
            [path, value_text(value, _field(document, path)["kind"])]
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
        rows.append(
            [f"cards by {target['deadline']}", count_text(best["cards_by_deadline"]["mean"])]
        )
        rows.append(["stall days (no chips)", f"{best['stall_days']['mean']:.1f}"])
        page.table([Column("", label), Column("", page.text_width - label)], rows, header=False)
        if document["neighbours"]:
            page.paragraph("Why it is the cheapest: one step cheaper in each field", 10, bold=True)
            page.table(
                [
                    Column("setting changed", label + 40 * mm),
                    Column("cost", 35 * mm, "right"),
                    Column("decision", 25 * mm),
                    Column("probability", page.text_width - label - 100 * mm),
                ],
                [
                    [_changed(document, n), money(document, n["cost"]), n["decision"],
                     probability_text(n)]
                    for n in document["neighbours"]
                ],
            )  # fmt: skip
        if document["tranches"]:
            page.paragraph("Chip orders", 10, bold=True)
            for tranche in document["tranches"]:
                page.paragraph(tranche_text(document, tranche), 8.5)
    page.y -= 1 * mm
    page.paragraph(_method(document), 7.5, colour_=colors.HexColor("#444444"))
    page.y -= 2 * mm
    if page.room() < 70 * mm:
        page.new_page()
    page.paragraph("The settings tried", 10, bold=True, space_after=0)
    fields = document["fields"]
    if len(fields) > 2 and best is not None:
        fixed = ", ".join(
            f"{f['path']} = {value_text(best['setting'][f['path']], f['kind'])}"
            for f in fields[2:]
        )
        page.paragraph(f"the first two fields; the others at the best setting: {fixed}", 7.5)
    _key(page)
    height = page.room()
    chart = _map if len(document["fields"]) > 1 else _probability_chart
    chart(document, font, min(page.text_width, 200 * mm), height).drawOn(
        page.canvas, page.left, page.y - height
    )
    page.new_page()
    page.paragraph("Every setting simulated, cheapest first", 12, bold=True)
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
    return page.save()


__all__ = ["money", "plan_text", "probability_text", "render_plan", "tranche_text", "value_text"]
