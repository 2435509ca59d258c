"""The daily report flow and the dispatch flow.

``daily-report`` renders the manager's PDF and records the same figures as Prefect
artifacts: a table of work in progress per stage, a markdown summary, the progress toward
the campaign target, and a table of the day's reconciliation per process (``flows.reconcile``).
``dispatch`` groups passed cards into batches per police station, each with its manifest
(the same as ``cardline dispatch``).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE

from flows.artifacts import artifact_key
from flows.centre import flow_entry, open_centre
from flows.dispatching import dispatch_batch, plan_dispatch
from flows.names import run_name
from flows.reconcile import artifact_description, artifact_rows
from flows.reconcile import gather as reconciliation
from flows.report import DailyReport, days_of_cover, gather, render_report, stockout
from line.db import session_scope
from line.settings import Settings
from line.spec import spec_in_use
from line.stations import load_register, station_label
from line.types import utc_now


def _setup() -> tuple[Settings, Any]:
    """The settings and the ready engine of the centre this flow run opens (its logging
    configured, see ``flows.centre``)."""
    centre = open_centre()
    return centre.settings, centre.ready_engine()


def summary_markdown(report: DailyReport, pdf: Path) -> str:
    """The daily summary as a manager reads it in the Prefect UI: the report's own figures
    (the PDF lies on the worker's disk; its name is only a pointer)."""
    today, figures, local = report.today, report.figures, report.local_at
    share = "" if today.share is None else f" ({100 * today.share:.0f} % of plan)"
    lines = [
        f"# Daily report, centre {report.centre}, {local:%Y-%m-%d}",
        "",
        f"Made {local:%Y-%m-%d %H:%M} ({report.zone.key}).",
        "",
        "| Figure | Value |",
        "|---|---|",
        f"| Good cards today | {today.good:,} of a plan of {today.planned:,}{share} |",
        f"| Campaign progress | {figures.made:,} of {report.target:,} good cards |",
    ]
    if (chip := report.chip) is not None:
        lines.append(
            f"| Chip cover | {days_of_cover(chip)}, stock-out projected {stockout(chip)} |"
        )
    out = ", ".join(m.name for m in report.machines_out) or "none"
    lines += [f"| Machines out of service | {out} |",
              f"| Replacement cards started | {figures.reworked:,} |"]  # fmt: skip
    for stage in ("print", "chip-encode", "qc"):
        if (value := figures.yield_of(stage)) is not None:
            lines.append(f"| Yield, {stage} | {100 * value:.2f} % |")
    if report.spoilage:
        lines += ["", "| Top spoilage reason | Stage | Cards |", "|---|---|---:|"]
        lines += [f"| {r.code} | {r.stage} | {r.cards:,} |" for r in report.spoilage]
    lines += ["", f"PDF on the worker: `{pdf.name}` (in {pdf.parent})"]
    return "\n".join(lines) + "\n"


@flow(name="daily-report", flow_run_name=run_name("daily-report"))
@flow_entry
def daily_report(
    target: int = 50_000_000, days: int = 7, campaign: str = "national"
) -> dict[str, Any]:
    """The manager's report of the last ``days`` days; ``target``: good cards the
    ``campaign`` needs (its artifacts are keyed by centre and campaign)."""
    settings, engine = _setup()
    at = utc_now()
    spec = spec_in_use(settings.line_spec)
    with session_scope(engine) as session:
        report = gather(
            session=session, spec=spec, centre=settings.centre, at=at, target=target, days=days
        )
    local = report.local_at
    pdf = render_report(
        out=settings.home_dir / "reports" / f"daily-{local:%Y-%m-%d}.pdf", report=report
    )
    create_table_artifact(
        key=artifact_key(settings.centre, "applications-per-state"),
        table=[
            {"State": state.replace("_", " "), "Applications": f"{n:,}"}
            for state, n in report.counts.applications.items()
        ],
        description=f"Work in progress at centre {settings.centre}: applications per state",
    )
    create_markdown_artifact(
        key=artifact_key(settings.centre, campaign, "daily-summary"),
        markdown=summary_markdown(report, pdf),
        description=f"Daily report of centre {settings.centre}, {local:%Y-%m-%d}",
    )
    _reconcile_artifact(engine, settings.centre, report.zone, local.date(), at)
    made = report.figures.made
    create_progress_artifact(
        progress=min(100.0, 100.0 * made / target) if target else 0.0,
        key=artifact_key(settings.centre, campaign, "progress"),
        description=f"Campaign {campaign} at centre {settings.centre}: {made:,} of "
        f"{target:,} good cards",
    )
    return {"report": str(pdf), "made": made, "target": target}


def _reconcile_artifact(engine: Any, centre: str, zone: ZoneInfo, day: date, at: datetime) -> None:
    """The day's reconciliation per process (``flows.reconcile``) as a table artifact."""
    with session_scope(engine) as session:
        found = reconciliation(
            session=session, centre=centre, zone=zone, first=day, last=day, at=at
        )
    create_table_artifact(
        key=artifact_key(centre, "reconcile"),
        table=artifact_rows(found),
        description=artifact_description(found),
    )


def _dispatch_task_name() -> str:
    from prefect.runtime import task_run

    parameters = task_run.parameters
    cards = len(parameters["serials"])
    return f"dispatch {parameters['destination']}: {cards} card{'' if cards == 1 else 's'}"


@task(name="dispatch-station", cache_policy=NO_CACHE, task_run_name=_dispatch_task_name)
def dispatch_station(
    engine: Any, settings: Settings, destination: str, serials: list[str]
) -> dict[str, Any]:
    spec = spec_in_use(settings.line_spec)
    return dispatch_batch(
        engine=engine, settings=settings, destination=destination, serials=serials,
        rework_limit=spec.rework_limit, actor=f"prefect:dispatch@{settings.centre}",
    )  # fmt: skip


def dispatch_markdown(centre: str, batches: list[dict[str, Any]], held: dict[str, int]) -> str:
    """What the dispatch run sent, per station, and what waits for the next day's batch."""
    cards = sum(batch["cards"] for batch in batches)
    stations = len({batch["destination"] for batch in batches})
    lines = [
        f"# Dispatch, centre {centre}",
        "",
        f"{cards:,} cards in {len(batches):,} batches to {stations:,} police stations.",
    ]
    if held:
        lines.append(
            f"{sum(held.values()):,} cards for {len(held):,} stations wait for tomorrow's "
            "batch (one batch per station per day; full batches go at any time)."
        )
    return "\n".join(lines) + "\n"


@flow(name="dispatch", flow_run_name=run_name("dispatch"))
@flow_entry
def dispatch_flow(max_cards: int = 500) -> list[dict[str, Any]]:
    """Passed cards into batches: one per police station per day, at most max_cards each
    (full batches go at any time; the rest waits for the station's next day)."""
    settings, engine = _setup()
    spec = spec_in_use(settings.line_spec)
    plan = plan_dispatch(engine=engine, max_cards=max_cards, zone=ZoneInfo(spec.calendar.timezone))
    register = load_register(settings.home_dir)
    batches = [
        dispatch_station(engine, settings, destination, serials)
        for destination, serials in plan.batches
    ]
    create_table_artifact(
        key=artifact_key(settings.centre, "dispatch"),
        table=[
            {
                "Police station": b["destination"],
                "Name": station_label(register, b["destination"]),
                "Cards": f"{b['cards']:,}",
                "Batch (manifest QR)": b["code"],
            }
            for b in batches
        ]  # fmt: skip
        or [{"Police station": "none", "Cards": "0", "Batch (manifest QR)": "no cards to send"}],
        description=dispatch_markdown(settings.centre, batches, plan.held),
    )
    return batches
