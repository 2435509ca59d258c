"""The daily report flow and the dispatch flow.

``daily-report`` renders the manager's PDF and records the same figures as Prefect
artifacts: a table of work in progress per stage, a markdown summary, and the progress
toward the campaign target. ``dispatch`` groups passed cards into batches per police
station, each with its manifest (the same as ``cardline dispatch``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE

from flows.dispatching import dispatch_batch, ready_batches
from flows.report import render_report
from inventory.cover import cover
from line.db import make_engine, session_scope
from line.kpi import daily_figures, status_counts
from line.settings import Settings
from line.spec import spec_in_use
from line.types import ApplicationState, utc_now
from schema import require_current_schema


def _setup() -> tuple[Settings, Any]:
    settings = Settings()
    settings.ensure_home()
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    return settings, engine


@flow(name="daily-report")
def daily_report(target: int = 50_000_000, days: int = 7) -> dict[str, Any]:
    """The manager's report of the last ``days`` days; ``target``: cards of the campaign."""
    settings, engine = _setup()
    at = utc_now()
    with session_scope(engine) as session:
        counts = status_counts(session=session)
        figures = daily_figures(session=session, until=at, days=days)
        stock = cover(
            session=session, now=at, backlog=counts.applications[ApplicationState.APPROVED]
        )
    pdf = render_report(
        out=settings.home_dir / "reports" / f"daily-{at:%Y-%m-%d}.pdf",
        centre=settings.centre, at=at, counts=counts, figures=figures, stock=stock, target=target,
    )  # fmt: skip
    create_table_artifact(
        key="wip-per-stage",
        table=[{"state": state, "applications": n} for state, n in counts.applications.items()],
        description="Work in progress: applications per state",
    )
    yields = ", ".join(
        f"{stage} {100 * y:.2f} %"
        for stage in ("print", "chip-encode", "qc")
        if (y := figures.yield_of(stage)) is not None
    )
    create_markdown_artifact(
        key="daily-summary",
        markdown=(
            f"# Daily report {settings.centre} {at:%Y-%m-%d}\n\n"
            f"- good cards so far: {figures.made:,} of {target:,}\n"
            f"- yield: {yields or '-'}\n"
            f"- replacement cards started: {figures.reworked}\n"
            + "".join(f"- stock {s.item}: {s.state} ({s.reason})\n" for s in stock)
            + f"\nReport: `{pdf}`\n"
        ),
        description="Daily report summary",
    )
    create_progress_artifact(
        progress=min(100.0, 100.0 * figures.made / target) if target else 0.0,
        key="campaign-progress",
        description=f"Good cards toward the campaign target of {target:,}",
    )
    return {"report": str(pdf), "made": figures.made, "target": target}


@task(name="dispatch-station", cache_policy=NO_CACHE)
def dispatch_station(
    engine: Any, settings: Settings, destination: str, serials: list[str]
) -> dict[str, Any]:
    spec = spec_in_use(settings.line_spec)
    return dispatch_batch(
        engine=engine, settings=settings, destination=destination, serials=serials,
        rework_limit=spec.rework_limit, actor=f"prefect:dispatch@{settings.centre}",
    )  # fmt: skip


@flow(name="dispatch")
def dispatch_flow(max_cards: int = 500) -> list[dict[str, Any]]:
    """Passed cards -> one batch per police station (at most ``max_cards`` each)."""
    settings, engine = _setup()
    return [
        dispatch_station(engine, settings, destination, serials)
        for destination, serials in ready_batches(engine=engine, max_cards=max_cards)
    ]
