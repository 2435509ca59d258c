"""The what-if flow: scenarios compared over replications, on this machine or a Dask cluster.

``what-if`` loads the scenarios (built-in names or paths, read where the flow runs), then runs
their replications in the subflow ``what-if-replications`` as tasks that each take a chunk of
consecutive replications of one scenario (a replication takes from a fraction of a second to
minutes; a task costs milliseconds). With ``dask_address`` the subflow runs on that Dask
scheduler (``prefect_dask.DaskTaskRunner``), else on Prefect's local thread pool. A
replication depends only on (scenario, seed, index, mode), so the figures are the same
wherever and in whatever chunks the replications ran, and the same as ``cardline simulate``
without Prefect (``sim.compare``).

With ``precision`` the subflow runs again for more replications until each target date's
interval is narrow enough (``sim.comparison.to_precision``); ``paired`` adds the paired
differences from the first scenario; ``warmup_days`` is the steady-state warm-up.

The flow records a table artifact of the per-scenario figures (``what-if-figures``) and a
markdown summary (``what-if-summary``), and returns the forecast document
(``sim.report.forecast``, schema ``cardline.forecast/1``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, cast

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows.centre import flow_entry, open_centre
from flows.names import run_name
from sim import Mode, Scenario, load_scenario, pick_mode, replicate
from sim.comparison import forecast_scenarios, paired_text, precision_text
from sim.report import forecast_text, target_text
from sim.results import RunResult

DEFAULT_SCENARIOS = ("plan-2021", "slip-march-21d")


@task(name="replications", cache_policy=NO_CACHE)
def run_replications(
    scenario: Scenario, seed: int, first: int, count: int, mode: Mode, warmup_days: float = 0.0
) -> list[dict[str, Any]]:
    """Replications ``first .. first + count - 1`` of ``scenario``, in this process."""
    runs = replicate(
        scenario, count, seed=seed, mode=mode, workers=1, first=first, warmup_days=warmup_days
    )
    return [run.to_dict() for run in runs]


def chunks(replications: int, parts: int) -> list[tuple[int, int]]:
    """``(first, count)`` of at most ``parts`` chunks of consecutive replications."""
    size = math.ceil(replications / max(1, min(parts, replications)))
    return [(first, min(size, replications - first)) for first in range(0, replications, size)]


@flow(name="what-if-replications", validate_parameters=False)
@flow_entry
def replications_flow(
    scenarios: list[Scenario],
    replications: int,
    seed: int,
    mode: Mode,
    parts: int,
    first: int = 0,
    warmup_days: float = 0.0,
) -> dict[str, list[dict[str, Any]]]:
    """Every scenario's replications ``first ..``, as chunk tasks on the flow's task runner."""
    open_centre()  # logging configured for this run, as every entry point has it
    submitted = {
        s.name: [
            run_replications.submit(s, seed, first + offset, count, mode, warmup_days)
            for offset, count in chunks(replications, parts)
        ]
        for s in scenarios
    }
    return {
        name: [run for future in futures for run in future.result()]
        for name, futures in submitted.items()
    }


def task_runner(dask_address: str | None, workers: int | None) -> Any:
    if dask_address is None:
        return ThreadPoolTaskRunner(max_workers=workers or os.cpu_count() or 1)
    from prefect_dask.task_runners import DaskTaskRunner

    return DaskTaskRunner(address=dask_address)


@flow(name="what-if", flow_run_name=run_name("what-if"))
@flow_entry
def what_if(
    scenarios: list[str] = list(DEFAULT_SCENARIOS),  # noqa: B006 (Prefect shows the default)
    replications: int = 10,
    seed: int = 1,
    mode: str = "auto",
    dask_address: str | None = None,
    workers: int | None = None,
    warmup_days: float = 0.0,
    paired: bool = False,
    precision: float | None = None,
    max_replications: int = 200,
) -> dict[str, Any]:
    """Compare ``scenarios`` (built-in names or paths) over ``replications`` with common
    random numbers; ``dask_address``: a Dask scheduler (tcp://host:8786) to run them on;
    ``workers``: chunks per scenario (default: one per core here, one per replication on
    Dask); ``paired``: differences from the first scenario, replication by replication;
    ``precision``: replications added until each target date is within that many days
    (at most ``max_replications``); ``warmup_days``: steady-state warm-up."""
    open_centre()  # logging configured for this run, as every entry point has it
    if mode not in ("auto", "cards", "fast"):
        raise ValueError(f"mode must be 'auto', 'cards' or 'fast', not {mode!r}")
    chosen = cast(Mode, mode)
    if replications < 1:
        raise ValueError(f"replications must be at least 1, not {replications}")
    loaded = [load_scenario(ref) for ref in scenarios]
    for scenario in loaded:  # a mode the scenario cannot run fails here, not in a worker
        pick_mode(scenario, chosen)
    if len({s.name for s in loaded}) != len(loaded):
        raise ValueError("two scenarios have the same name: give each its own")
    parts = workers or (replications if dask_address else os.cpu_count() or 1)
    runner = task_runner(dask_address, workers)

    def run(batch: Sequence[Scenario], first: int, count: int) -> dict[str, list[RunResult]]:
        raw = replications_flow.with_options(task_runner=runner)(
            list(batch), count, seed, chosen, parts, first, warmup_days
        )
        return {name: [RunResult.from_dict(r) for r in runs] for name, runs in raw.items()}

    figures = forecast_scenarios(
        loaded,
        run,
        replications=replications,
        requested_mode=mode,
        warmup_days=warmup_days,
        paired_with_first=paired,
        precision=precision,
        max_replications=max_replications,
    )
    _artifacts(figures, dask_address)
    return figures


def _artifacts(figures: dict[str, Any], dask_address: str | None) -> None:
    table = []
    for entry in figures["scenarios"]:
        when = entry["target"]["date"]
        table.append(
            {
                "scenario": entry["scenario"],
                "mode": entry["mode"],
                "replications": entry["replications"],
                "target_reached": f"{entry['target']['reached']}/{entry['replications']}",
                "target_date": None if when is None else when["mean"],
                "target_date_low": None if when is None else when["low"],
                "target_date_high": None if when is None else when["high"],
                "cards_per_day": round(entry["per_day"]["mean"]),
                "cumulative": round(entry["completed"]["mean"]),
                "mean_wip": round(entry["mean_wip"]["mean"]),
                "stall_days": round(entry["stall_days"]["mean"], 1),
                "chips_consumed": round(entry["chips_consumed"]["mean"]),
                "chips_spoiled": round(entry["chips_spoiled"]["mean"]),
                **{
                    f"{s['stage']}_utilisation": round(s["utilisation"]["mean"], 4)
                    for s in entry["stages"]
                },
            }
        )
    create_table_artifact(
        key="what-if-figures", table=table, description="What-if figures per scenario (means)"
    )
    where = f"on the Dask cluster at {dask_address}" if dask_address else "on this machine"
    extras = (paired_text(figures), precision_text(figures))
    lines = [f"- **{e['scenario']}**: target {target_text(e)}" for e in figures["scenarios"]]
    create_markdown_artifact(
        key="what-if-summary",
        markdown=(
            f"# What-if: {', '.join(e['scenario'] for e in figures['scenarios'])}\n\n"
            + "\n".join(lines)
            + f"\n\nReplications ran {where}.\n\n```\n{forecast_text(figures)}\n"
            + "".join(f"{extra}\n" for extra in extras if extra)
            + "```\n"
        ),
        description="What-if forecast summary",
    )
