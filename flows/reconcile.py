"""The reconciliation of a range of the centre's days, gathered once for the terminal, the
JSON (``cardline.reconcile/1``, docs/reconcile.md), the PDF (``flows.reconcile_pdf``) and
the daily-report flow's table artifact.

The figures are ``line.reconcile`` (per process and day) and ``inventory.reconcile`` (per
chip lot at the end of the range's last day). Counts and card serials only, no personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from inventory.reconcile import LotDay, reconcile_lots
from line.reconcile import ProcessDay, reconcile_days
from line.today import day_bounds

SCHEMA = "cardline.reconcile/1"

HEADERS = (
    "Process", "Day", "Opening WIP", "Received", "Good", "Spoiled", "Samples", "Returned",
    "Closing WIP", "Returned after delivery", "Reconciles",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Every process on every day of ``first``..``last``, and every chip lot at the end."""

    centre: str
    zone: ZoneInfo
    first: date
    last: date
    made_at: datetime
    processes: Sequence[ProcessDay]
    lots: Sequence[LotDay]

    @property
    def breaks(self) -> list[str]:
        return [row.break_line() for row in self.processes if not row.reconciles] + [
            lot.break_line() for lot in self.lots if not lot.reconciles
        ]

    @property
    def reconciles(self) -> bool:
        return not self.breaks

    @property
    def period(self) -> str:
        if self.first == self.last:
            return f"{self.first:%Y-%m-%d}"
        return f"{self.first:%Y-%m-%d} to {self.last:%Y-%m-%d}"


def gather(
    *, session: Session, centre: str, zone: ZoneInfo, first: date, last: date, at: datetime
) -> Reconciliation:
    """The reconciliation of ``first``..``last`` (days of ``zone``), made at ``at``."""
    processes = reconcile_days(session=session, first=first, last=last, zone=zone)
    lots = reconcile_lots(session=session, until=day_bounds(last, zone)[1])
    return Reconciliation(centre, zone, first, last, at, processes, lots)


def process_json(row: ProcessDay) -> dict[str, Any]:
    return {
        "process": row.process.value,
        "day": f"{row.day:%Y-%m-%d}",
        "opening_wip": row.opening_wip,
        "received": row.received,
        "good": row.good,
        "spoiled": row.spoiled,
        "spoiled_by_reason": dict(row.spoiled_by_reason),
        "samples": row.samples,
        "returned": row.returned,
        "returned_by_reason": dict(row.returned_by_reason),
        "returned_after_delivery": row.returned_after_delivery,
        "closing_wip": row.closing_wip,
        "reconciles": row.reconciles,
        "unaccounted": list(row.unaccounted),
        "unexpected": list(row.unexpected),
        "repeated": list(row.repeated),
    }


def lot_json(lot: LotDay) -> dict[str, Any]:
    return {
        "lot": lot.lot,
        "received": lot.received,
        "adjusted": lot.adjusted,
        "good": lot.good,
        "in_process": lot.in_process,
        "spoiled": lot.spoiled,
        "on_hand": lot.on_hand,
        "reserved": lot.reserved,
        "ledger_consumed": lot.ledger_consumed,
        "ledger_spoiled": lot.ledger_spoiled,
        "reconciles": lot.reconciles,
        "misbooked": list(lot.misbooked),
    }


def as_json(report: Reconciliation) -> dict[str, Any]:
    """The machine-readable reconciliation (schema ``cardline.reconcile/1``)."""
    return {
        "schema": SCHEMA,
        "centre": report.centre,
        "time_zone": report.zone.key,
        "from": f"{report.first:%Y-%m-%d}",
        "to": f"{report.last:%Y-%m-%d}",
        "made_at": report.made_at.isoformat(),
        "reconciles": report.reconciles,
        "processes": [process_json(row) for row in report.processes],
        "lots_at": day_bounds(report.last, report.zone)[1].isoformat(),
        "lots": [lot_json(lot) for lot in report.lots],
        "breaks": report.breaks,
    }


def cells(row: ProcessDay) -> list[str]:
    """One process day as the table's cells (numbers with thousands separators)."""
    return [
        row.process.value, f"{row.day:%Y-%m-%d}", f"{row.opening_wip:,}", f"{row.received:,}",
        f"{row.good:,}", f"{row.spoiled:,}", f"{row.samples:,}", f"{row.returned:,}",
        f"{row.closing_wip:,}", f"{row.returned_after_delivery:,}",
        "yes" if row.reconciles else "NO",
    ]  # fmt: skip


def artifact_rows(report: Reconciliation) -> list[dict[str, str]]:
    """The daily-report flow's table artifact: one row per process and day."""
    return [dict(zip(HEADERS, cells(row), strict=True)) for row in report.processes]


def artifact_description(report: Reconciliation) -> str:
    """The artifact's description: the invariant, then every break whole (or none)."""
    lines = [
        f"Reconciliation at centre {report.centre}, {report.period} ({report.zone.key}): "
        "opening WIP + received = good + spoiled + samples + returned + closing WIP, "
        "per process and day (no QC samples or test cards on this line: samples are 0; "
        "returned after delivery had left as good, outside the invariant).",
        "",
    ]
    lines += [f"- **break**: {line}" for line in report.breaks] or ["Every day reconciles."]
    return "\n".join(lines)


def terminal_lines(report: Reconciliation) -> list[str]:
    """The table on the terminal, the lots, then one line per break."""
    widths = (12, 11, 8, 9, 7, 8, 8, 9, 8, 7, 4)
    out = [f"reconciliation, centre {report.centre}, {report.period} ({report.zone.key})"]
    out.append(_aligned(_short(HEADERS), widths))
    out += [_aligned(cells(row), widths) for row in report.processes]
    for row in report.processes:
        for reason, n in {**row.spoiled_by_reason, **row.returned_by_reason}.items():
            out.append(f"  {row.process.value} {row.day:%Y-%m-%d}: {n:,} x {reason}")
    for lot in report.lots:
        out.append(
            f"lot {lot.lot} at the end of {report.last:%Y-%m-%d}: received {lot.received:,}"
            f"{lot.adjusted:+,}, good {lot.good:,}, in process {lot.in_process:,}, spoiled "
            f"{lot.spoiled:,}, on hand {lot.on_hand:,}: "
            + ("reconciles" if lot.reconciles else "DOES NOT RECONCILE")
        )
    out += [f"break: {line}" for line in report.breaks]
    out.append("reconcile: every day and lot reconciles" if report.reconciles else
               f"reconcile: {len(report.breaks)} break(s)")  # fmt: skip
    return out


def _aligned(texts: Sequence[str], widths: Sequence[int]) -> str:
    """Process and day left-aligned, the figures right-aligned, in fixed columns."""
    return "".join(
        f"{text:>{width}}" if index > 1 else f"{text:<{width}}"
        for index, (text, width) in enumerate(zip(texts, widths, strict=True))
    )


def _short(headers: Sequence[str]) -> list[str]:
    return [h.replace("Opening WIP", "Opening").replace("Closing WIP", "Closing")
             .replace("Reconciles", "OK").replace("Returned after delivery", "After")
             for h in headers]  # fmt: skip
