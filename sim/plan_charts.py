"""The plan's charts: the settings tried (a map of the first two fields, or the probability
of each value of a single field) in the colours of their decisions, and the key to them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from reportlab.graphics.shapes import Circle, Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from sim.pdf import Page
from sim.plan_text import percent, short_value

REACHED = colors.HexColor("#2ca02c")
FAILED = colors.HexColor("#d62728")
SCREENED = colors.HexColor("#ff9f1c")
UNTRIED = colors.HexColor("#bbbbbb")


def settings_map(document: Mapping[str, Any], font: str, width: float, height: float) -> Drawing:
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
    labels = [short_value(v, kind) for v in values]
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


def probability_chart(
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


def key(page: Page) -> None:
    """The colours of the decisions, in a line under the current position of ``page``."""
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


__all__ = ["FAILED", "REACHED", "SCREENED", "UNTRIED", "key", "probability_chart", "settings_map"]
