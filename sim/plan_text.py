"""The plan document (``cardline.plan/1``, ``sim.plan``) as text: the question, the
answer, why it is the cheapest, the chip orders and the method; and the phrases of values,
costs and probabilities the PDF (``sim.plan_report``) uses too. It reads only the document.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sim.pdf import count_text, long_date, short_date


def field_of(document: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    """The document's description of the varied field at ``path``."""
    return next(f for f in document["fields"] if f["path"] == path)


def value_text(value: Any, kind: str = "") -> str:
    """A value of a varied field as a reader reads it (a date in words, a list by its count)."""
    if isinstance(value, str) and kind == "date":
        return long_date(date.fromisoformat(value))
    if isinstance(value, list):
        return f"{len(value)}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def short_value(value: Any, kind: str) -> str:
    """A value short enough for a chart's tick label."""
    if kind == "date":
        return short_date(date.fromisoformat(value))
    if isinstance(value, (int, float)) and abs(value) >= 1e5:
        return count_text(value)
    return value_text(value, kind)


def money(document: Mapping[str, Any], value: float) -> str:
    """A cost in the document's currency (cents only below 100)."""
    currency = document.get("currency") or ""
    text = f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.2f}"
    return f"{text} {currency}".strip()


def percent(p: float | None) -> str:
    """``92 %``, or ``-`` for no probability."""
    return "-" if p is None else f"{100 * p:.0f} %"


def probability_text(candidate: Mapping[str, Any]) -> str:
    """``92 % (95 % interval 82-96 %), 55 of 60 replications``."""
    interval = candidate["interval"]
    return (
        f"{percent(candidate['probability'])} (interval {percent(interval['low'])}-"
        f"{percent(interval['high'])}), {candidate['reached']} of "
        f"{candidate['replications']} replications"
    )


def changed_text(document: Mapping[str, Any], candidate: Mapping[str, Any]) -> str:
    """The fields where ``candidate`` differs from the best setting."""
    best = document["best"]["setting"]
    parts = []
    for path, value in candidate["setting"].items():
        if value != best[path]:
            parts.append(f"{path} = {value_text(value, field_of(document, path)['kind'])}")
    return ", ".join(parts) or "(the same)"


def question_text(document: Mapping[str, Any]) -> str:
    """What the plan answers: the scenario, the target and the probability wanted."""
    target = document["target"]
    return (
        f"{document['scenario']}: {target['cards']:,} good cards by {target['by']} "
        f"(dispatched by the end of {target['deadline']}) with probability at least "
        f"{percent(document['probability'])}"
    )


def method_text(document: Mapping[str, Any]) -> str:
    """How the answer was found: the search, the replications, the decision rule."""
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
    """One chip order: how many chips, by when at the latest, and what the next later date
    gave."""
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
    lines = [f"plan {question_text(document)}"]
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
            lines.append(f"  {path} = {value_text(value, field_of(document, path)['kind'])}")
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
                    f"  {changed_text(document, n)}: {n['decision']}, "
                    f"{probability_text(n)}; cost {money(document, n['cost'])}"
                )
        for tranche in document["tranches"]:
            lines.append(f"chips: {tranche_text(document, tranche)}")
    if document.get("violations"):
        lines.append(
            f"note: {document['violations']} cheaper setting(s) succeeded where the search "
            "assumed monotone results; the answer is the cheapest decided one"
        )
    lines.append(method_text(document))
    return "\n".join(lines)


__all__ = [
    "changed_text",
    "field_of",
    "method_text",
    "money",
    "percent",
    "plan_text",
    "probability_text",
    "question_text",
    "short_value",
    "tranche_text",
    "value_text",
]
