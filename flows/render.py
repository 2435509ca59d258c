"""Text and JSON views of domain records, for the screen of the person who asked.

These show personal data in full: they are for the user's terminal, never for logs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from line.events import qc_verdict
from line.kpi import History
from line.spec import LineSpec
from line.types import LINE_ORDER


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def history_text(shown: History, *, other_applications: list[int | None]) -> str:
    a = shown.application
    head = [
        f"Application {a.id}: {a.state.value}"
        + (f" ({a.spoiled_cards} card(s) spoiled)" if a.spoiled_cards else ""),
    ]
    if a.purged_at is not None:  # retention: only the audit record is left (line.purge)
        head.append(f"  Personal data purged on {a.purged_at:%Y-%m-%d} (ID {a.id_number})")
    lines = head + _person(shown) + _rest(shown)
    for card in shown.cards:
        spoiled = (
            f"  spoiled at {card.spoiled_at_stage}: {card.spoil_reason}"
            if card.spoil_reason
            else ""
        )
        lines.append(
            f"  {card.serial:<16}{card.state.value:<12}made {_when(card.created_at)}{spoiled}"
        )
        qc = qc_verdict(shown.events, card.id) if card.id is not None else None
        if card.chip_uid or qc:
            lines.append(f"  {'':<16}chip UID {card.chip_uid or '-'}   QC {qc or '-'}")
    lines.append("Events" + ("" if shown.events else ": none yet"))
    for e in shown.events:
        lines.append(
            f"  {_when(e.ended_at)}  {e.stage.value:<12}{e.outcome.value:<5}"
            f"{e.reason_code or '':<22}{e.machine or '-':<12}by {e.actor}"
            f"  -> {e.application_state.value}"
        )
    others = [str(i) for i in other_applications if i is not None]
    if others:
        lines.append(f"Earlier applications of this person: {', '.join(others)}")
    return "\n".join(lines)


def _person(shown: History) -> list[str]:
    """The citizen's data, or nothing once it was purged."""
    a = shown.application
    if a.purged_at is not None:
        return []
    return [
        f"  ID number        {a.id_number}",
        f"  Full name        {a.full_name}",
        f"  Date of birth    {a.date_of_birth.isoformat()}   Sex {a.sex}",
        f"  Nationality      {a.nationality}",
        f"  Place of origin  {a.place_of_origin}",
        f"  Residence        {a.place_of_residence}",
        f"  Old ID number    {a.old_id_number or '-'}",
        f"  Photo            {a.photo_path}",
    ]


def _rest(shown: History) -> list[str]:
    a = shown.application
    return [
        f"  Destination      {a.destination}",
        f"  Priority group   {a.priority_group or '-'}   Due {a.due_date or '-'}",
        f"  Received         {_when(a.received_at)}"
        f" (intake run {a.intake_run_id}, row {a.source_row})",
        "Cards" + ("" if shown.cards else ": none yet"),
    ]


def history_json(shown: History, *, other_applications: list[int | None]) -> dict[str, Any]:
    a = shown.application
    return {
        "application": a.model_dump(mode="json"),
        "cards": [
            # the QC verdict is the card's QC stage event; shown with the card as before
            {**card.model_dump(mode="json"), "qc_result": qc_verdict(shown.events, card.id or 0)}
            for card in shown.cards
        ],
        "events": [
            {
                "stage": e.stage.value,
                "outcome": e.outcome.value,
                "reason_code": e.reason_code,
                "machine": e.machine,
                "actor": e.actor,
                "card_id": e.card_id,
                "application_state": e.application_state.value,
                "card_state": e.card_state.value if e.card_state else None,
                "started_at": e.started_at.isoformat(),
                "ended_at": e.ended_at.isoformat(),
            }
            for e in shown.events
        ],
        "other_applications": [i for i in other_applications if i is not None],
    }


def spec_text(spec: LineSpec) -> str:
    lines = [f"line spec {spec.name!r}: rework limit {spec.rework_limit}"]
    lines.append(
        f"  {'stage':<13}{'machines':>9}{'mean s':>9}{'fail %':>8}{'avail':>7}{'cards/h':>10}"
    )
    for stage in LINE_ORDER:
        s = spec.stages[stage]
        mark = "  <- bottleneck" if stage is spec.bottleneck else ""
        lines.append(
            f"  {stage.value:<13}{s.machines:>9}{s.service_time.mean:>9.2f}"
            f"{100 * s.failure_rate:>8.2f}{s.availability:>7.2f}{s.capacity_per_hour:>10,.0f}{mark}"
        )
    cal = spec.calendar
    shifts = ", ".join(f"{s.name} {s.start:%H:%M}-{s.end:%H:%M}" for s in cal.shifts)
    hours = sum(s.working_seconds for s in cal.shifts) / 3600
    lines.append(
        f"  calendar: {', '.join(cal.working_days)}; shifts {shifts} ({hours:g} h worked a day)"
    )
    lines.append(
        f"  line capacity: {spec.capacity_per_hour:,.0f} cards/h, "
        f"{spec.capacity_per_hour * hours:,.0f} cards a working day"
    )
    return "\n".join(lines)
