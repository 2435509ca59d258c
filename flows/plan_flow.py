"""The plan flow: ``cardline plan`` (``sim.plan``) with the candidates' replications as tasks.

``plan`` loads the scenario where the flow runs and runs the goal seek in the subflow
``plan-search``: the search itself is sequential (each decision steers the next), and each
batch of replications of a candidate setting is submitted as tasks (``plan-candidate``,
named by the setting and the replications) to the subflow's task runner: Dask with
``dask_address`` (``prefect_dask.DaskTaskRunner``), else Prefect's local thread pool. A
replication depends only on (setting, seed, index, mode), so the answer is the same as
``cardline plan`` without Prefect, wherever the tasks ran.

It records a table artifact of every candidate simulated (``plan-candidates``) and a markdown
summary (``plan-summary``), and returns the plan document (``cardline.plan/1``).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any, Literal, cast

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.centre import flow_entry, open_centre
from flows.names import run_name
from flows.whatif import chunks, task_runner
from sim import Mode, Scenario, load_scenario, pick_mode
from sim.plan import Outcome, Search, deadline_of, outcome, plan
from sim.plan_report import money, plan_text, probability_text

DEFAULT_VARY = (  # the README's question: what would 50 million by 1 July have taken?
    "chips.deliveries.march.quantity=5800000..25800000:2500000",
    "chips.deliveries.march.date=2021-03-06..2021-04-05:5",
    "chips.deliveries.april.quantity=5800000..25800000:2500000",
)


@task(name="plan-candidate", cache_policy=NO_CACHE, task_run_name="{label} reps {first}+{count}")
def run_outcomes(
    scenario: Scenario,
    seed: int,
    first: int,
    count: int,
    mode: Literal["cards", "fast"],
    days: int,
    cards: int,
    label: str,
) -> list[dict[str, Any]]:
    """Replications ``first .. first + count - 1`` of one candidate, up to the deadline."""
    return [asdict(outcome(scenario, seed, first + i, mode, days, cards)) for i in range(count)]


@flow(name="plan-search", validate_parameters=False)
@flow_entry
def search_flow(
    scenario: Scenario,
    vary: list[str],
    probability: float,
    seed: int,
    mode: Mode,
    max_replications: int,
    search: Search,
    parts: int,
) -> dict[str, Any]:
    """The goal seek, each batch of a candidate's replications as tasks."""
    open_centre()  # logging configured for this run, as every entry point has it
    cards, days, _ = deadline_of(scenario)
    chosen = pick_mode(scenario, mode)

    def runner(candidate: Scenario, first: int, count: int, label: str) -> list[Outcome]:
        futures = [
            run_outcomes.submit(candidate, seed, first + offset, n, chosen, days, cards, label)
            for offset, n in chunks(count, parts)
        ]
        return [Outcome(**o) for future in futures for o in future.result()]

    return plan(
        scenario,
        vary,
        probability=probability,
        seed=seed,
        mode=mode,
        max_replications=max_replications,
        search=search,
        runner=runner,
    )


@flow(name="plan", flow_run_name=run_name("plan"))
@flow_entry
def plan_flow(
    scenario: str = "history-2021",
    vary: list[str] = list(DEFAULT_VARY),  # noqa: B006 (Prefect shows the default)
    probability: float = 0.9,
    seed: int = 1,
    mode: str = "auto",
    max_replications: int = 60,
    search: str = "auto",
    dask_address: str | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """The cheapest setting of the ``vary`` fields (``PATH=LOW..HIGH[:STEP]``) of
    ``scenario`` (a built-in name or a path) that reaches its target by its date with
    ``probability``; ``dask_address``: a Dask scheduler to run the replications on;
    ``workers``: tasks per batch (default: one per core here, one per replication on Dask)."""
    open_centre()  # logging configured for this run, as every entry point has it
    if mode not in ("auto", "cards", "fast"):
        raise ValueError(f"mode must be 'auto', 'cards' or 'fast', not {mode!r}")
    loaded = load_scenario(scenario)
    parts = workers or (max_replications if dask_address else os.cpu_count() or 1)
    runner = task_runner(dask_address, workers)
    document = search_flow.with_options(task_runner=runner)(
        loaded,
        list(vary),
        probability,
        seed,
        cast(Mode, mode),
        max_replications,
        cast(Search, search),
        parts,
    )
    _artifacts(document)
    return document


def _artifacts(document: dict[str, Any]) -> None:
    best = document["best"]
    table = []
    for c in sorted(document["candidates"], key=lambda c: (c["cost"], str(c["setting"]))):
        table.append(
            {
                **c["setting"],
                "cost": c["cost"],
                "decision": c["decision"],
                "probability": None if c["probability"] is None else round(c["probability"], 3),
                "low": round(c["interval"]["low"], 3),
                "high": round(c["interval"]["high"], 3),
                "replications": c["replications"],
                "best": best is not None and c["setting"] == best["setting"],
            }
        )
    create_table_artifact(
        key="plan-candidates",
        table=table,
        description=f"Plan {document['scenario']}: every setting simulated, cheapest first",
    )
    if best is None:
        headline = "no setting in the ranges reaches the target with that probability"
    else:
        headline = (
            f"cheapest setting: cost {money(document, best['cost'])}, {probability_text(best)}"
        )
    create_markdown_artifact(
        key="plan-summary",
        markdown=(
            f"# Plan: {document['scenario']}\n\n**{headline}**\n\n```\n{plan_text(document)}\n```\n"
        ),
        description="Plan summary",
    )


__all__ = ["plan_flow", "run_outcomes", "search_flow"]
