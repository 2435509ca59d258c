"""The ``purge`` flow: the retention run of ``cardline purge``, for the daily ``purge``
deployment, with its summary as a markdown artifact (counts only: no personal data)."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.artifacts import artifact_key
from flows.centre import flow_entry, open_centre
from flows.errors import FlowsError
from flows.names import run_name
from flows.purging import describe, run_purge
from line.digits import parse_iso_date
from line.types import utc_now


@flow(name="purge", flow_run_name=run_name("purge"))
@flow_entry
def purge_flow(delivered_before: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Remove the personal data of cards delivered more than the spec's retention_days
    ago (or before ``delivered_before``, YYYY-MM-DD); the audit record stays."""
    centre = open_centre()
    try:
        day = None if delivered_before is None else parse_iso_date(delivered_before)
    except ValueError as exc:
        raise FlowsError(f"delivered_before: {exc}") from None
    summary = run_purge(
        engine=centre.ready_engine(),
        settings=centre.settings,
        spec=centre.spec(),
        now=utc_now(),
        actor=f"flow@{centre.settings.centre}",
        delivered_before=day,
        dry_run=dry_run,
    )
    create_markdown_artifact(
        key=artifact_key(centre.settings.centre, "purge"),
        markdown="\n\n".join(describe(summary)) + "\n",
        description=f"Retention purge at centre {centre.settings.centre}",
    )
    return summary
