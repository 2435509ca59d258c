"""The production flow: approved applications through print, chip-encode and QC, as Prefect
tasks over batches (Prefect's per-task overhead is milliseconds: a task never takes one card).

Tasks are thin wrappers over the line controller's batch stages; retries of device faults
live in the decorators. The flow records a table artifact of the cards per state and a
markdown summary of the run. Prefect is imported here only, never on the CLI's other paths.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.wiring import build_line
from line.card import CardData
from line.controller import LineController, RunSummary
from line.db import make_engine, require_current_schema, session_scope
from line.devices import ChipRecord, PrintedFace
from line.kpi import status_counts
from line.settings import Settings
from line.spec import spec_in_use
from line.types import utc_now


@task(name="start-batch", cache_policy=NO_CACHE)
def start_batch(controller: LineController, size: int, summary: RunSummary) -> list[CardData]:
    return controller.start_batch(size, summary)


@task(name="print-batch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 5])
def print_batch(
    controller: LineController, cards: list[CardData], summary: RunSummary
) -> list[tuple[CardData, PrintedFace]]:
    return controller.print_batch(cards, summary)


@task(name="encode-batch", cache_policy=NO_CACHE)
def encode_batch(
    controller: LineController, faces: list[tuple[CardData, PrintedFace]], summary: RunSummary
) -> list[tuple[CardData, PrintedFace, ChipRecord]]:
    return controller.encode_batch(faces, summary)


@task(name="qc-batch", cache_policy=NO_CACHE)
def qc_batch(
    controller: LineController,
    chips: list[tuple[CardData, PrintedFace, ChipRecord]],
    summary: RunSummary,
) -> None:
    controller.check_batch(chips, summary)


@flow(name="production")
def production(
    batch_size: int = 100, limit: int | None = None, resume_after_seconds: int = 300
) -> dict[str, Any]:
    """Run approved applications through the line until no work (or no chip) is left."""
    settings = Settings()
    settings.ensure_home()
    engine = make_engine(settings.database_url)
    require_current_schema(engine)
    spec = spec_in_use(settings.line_spec)
    line = build_line(settings=settings, spec=spec, engine=engine, clock=utc_now)
    summary = RunSummary()
    try:
        controller = LineController(
            engine=engine,
            spec=spec,
            devices=line.devices,
            clock=utc_now,
            actor=f"prefect:production@{settings.centre}",
            archive=line.archive,
            stock=line.stock,
            resume_after=timedelta(seconds=resume_after_seconds),
        )
        controller.resume(summary)
        while limit is None or summary.started < limit:
            size = batch_size if limit is None else min(batch_size, limit - summary.started)
            cards = start_batch(controller, size, summary)
            if not cards:
                break
            faces = print_batch(controller, cards, summary)
            chips = encode_batch(controller, faces, summary)
            qc_batch(controller, chips, summary)
    finally:
        line.close()
    with session_scope(engine) as session:
        counts = status_counts(session=session)
    create_table_artifact(
        key="cards-per-state",
        table=[{"state": state, "cards": n} for state, n in counts.cards.items()],
        description="Cards per state after the production run",
    )
    create_markdown_artifact(
        key="production-run",
        markdown=(
            f"# Production run\n\n{summary.started} cards started in {summary.batches} batches; "
            f"{summary.passed} passed QC; {summary.held} held; "
            f"spoiled {summary.spoiled or 'none'}; {summary.waiting_for_chips} waiting for chips."
        ),
        description="What the production run did",
    )
    return summary.as_dict()
