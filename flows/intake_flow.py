"""The intake flow: one file of approved applications into the database.

The same import as ``cardline intake`` (streaming, a reject report naming row, field and
reason, idempotent re-import); the flow records what came in as a markdown artifact and
a table of the refused rows' reasons, with masked IDs only.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.centre import flow_entry, open_centre
from flows.names import run_name
from line.intake import import_file


def _reject_reasons(report: Path) -> list[dict[str, Any]]:
    """Rejected rows per field and reason code, from the reject report (CSV)."""
    import csv

    counts: Counter[tuple[str, str]] = Counter()
    if report.is_file():
        with report.open(encoding="utf-8", newline="") as handle:
            for entry in csv.DictReader(handle):
                counts[(entry["field"], entry["reason_code"])] += 1
    return [
        {"field": field, "reason_code": reason, "rows": rows}
        for (field, reason), rows in counts.most_common()
    ]


@flow(name="intake", flow_run_name=run_name("intake"))
@flow_entry
def intake(path: str) -> dict[str, Any]:
    """Import the approved applications of ``path`` (CSV or JSON lines)."""
    centre = open_centre()
    summary = import_file(
        engine=centre.ready_engine(),
        path=Path(path),
        today=centre.today(),
        clock=centre.clock,
        rejects_dir=centre.settings.rejects_dir,
    )
    create_markdown_artifact(
        key="intake",
        markdown=(
            f"# Intake of {Path(summary.source).name}\n\n{summary.rows} rows: "
            f"**{summary.accepted} accepted**, {summary.rejected} rejected, "
            f"{summary.duplicates} duplicates.\n\nReject report: `{summary.reject_report}`"
        ),
        description="What the intake took in",
    )
    reasons = _reject_reasons(Path(summary.reject_report))
    if reasons:
        create_table_artifact(
            key="intake-rejects", table=reasons, description="Rejected rows per field and reason"
        )
    return summary.as_dict()
