"""The what-if flow under ``prefect_test_harness`` (a temporary Prefect server, once for the
module, ~10 s): locally, and on a real local Dask cluster of two worker processes (started
here, ~3 s). Small scenarios in fast mode, three replications: the point is where they run
and that it does not change a single figure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim import compare, load_scenario
from sim.report import forecast
from tests.sim.factories import campaign

REPLICATIONS = 3
SEED = 5


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def scenario_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The small campaign (tests/sim/factories.py) and the same with its delivery 2 days late,
    as scenario files."""
    folder = tmp_path_factory.mktemp("scenarios")
    small = campaign()
    late = campaign(name="small-late", chips={"deliveries": {"first": {"slip_days": 2}}})
    paths = []
    for scenario in (small, late):
        path = folder / f"{scenario.name}.yaml"
        path.write_text(yaml.safe_dump(scenario.definition), encoding="utf-8")
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def expected(scenario_files: list[str]) -> dict[str, Any]:
    """The figures without Prefect: ``sim.compare`` in this process."""
    loaded = [load_scenario(path) for path in scenario_files]
    results = compare(loaded, REPLICATIONS, seed=SEED, mode="fast", workers=1)
    return forecast(loaded, results, requested_mode="fast")


def _artifacts() -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    async def read() -> dict[str, Any]:
        async with get_client() as client:
            found = await client.read_artifacts()
            latest = sorted((a for a in found if a.key), key=lambda a: str(a.created))
            return {str(a.key): a.data for a in latest}  # the newest of each key last, so kept

    return asyncio.run(read())


def test_the_flow_runs_chunks_of_replications_locally_and_leaves_artifacts(
    prefect_server: None, scenario_files: list[str], expected: dict[str, Any]
) -> None:
    from flows.whatif import what_if

    figures = what_if(
        scenarios=scenario_files, replications=REPLICATIONS, seed=SEED, mode="fast", workers=2
    )
    assert figures == expected  # the same draws, whatever the chunks and threads
    small, late = figures["scenarios"]
    assert (small["scenario"], late["scenario"]) == ("small-campaign", "small-late")
    assert late["stall_days"]["mean"] >= small["stall_days"]["mean"]

    stored = _artifacts()
    table = stored["what-if-figures"]
    rows = json.loads(table) if isinstance(table, str) else table
    assert [row["scenario"] for row in rows] == ["small-campaign", "small-late"]
    assert rows[0]["chips_consumed"] == round(small["chips_consumed"]["mean"])
    summary = str(stored["what-if-summary"])
    assert "small-campaign" in summary and "on this machine" in summary


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    """A real Dask cluster on this machine: a scheduler and two worker processes."""
    from distributed import LocalCluster

    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield str(cluster.scheduler_address)


def test_the_flow_on_a_dask_cluster_gives_the_same_figures_bit_for_bit(
    prefect_server: None, scenario_files: list[str], expected: dict[str, Any], dask_address: str
) -> None:
    from distributed import Client

    from flows.whatif import what_if

    figures = what_if(
        scenarios=scenario_files,
        replications=REPLICATIONS,
        seed=SEED,
        mode="fast",
        dask_address=dask_address,
    )
    with Client(dask_address) as client:  # type: ignore[no-untyped-call]
        ran = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert figures == expected
    assert any("replications" in prefix for prefix in ran), ran
    assert f"on the Dask cluster at {dask_address}" in str(_artifacts()["what-if-summary"])


def test_cardline_simulate_with_a_dask_address_runs_the_flow_there(
    prefect_server: None,
    scenario_files: list[str],
    expected: dict[str, Any],
    dask_address: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flows.cli import run

    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    capsys.readouterr()
    args = ["-n", str(REPLICATIONS), "--seed", str(SEED), "--mode", "fast", "--json"]
    code = run(["-q", "simulate", *scenario_files, *args, "--dask-address", dask_address])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == expected


def test_the_what_if_deployment_passes_the_flow_its_own_defaults() -> None:
    import inspect

    from flows.whatif import what_if

    deployments = yaml.safe_load(Path("prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    (entry,) = [d for d in deployments if d["name"] == "what-if"]
    assert entry["entrypoint"] == "flows/whatif.py:what_if"
    assert entry["work_pool"]["name"] == "cardline-line"
    signature = inspect.signature(what_if.fn)
    assert entry["parameters"] == {
        name: parameter.default for name, parameter in signature.parameters.items()
    }


# --- the plan flow ------------------------------------------------------------------------

PLAN_VARY = [
    "line.stages.print.machines=1..2",
    "chips.deliveries.first.date=2021-03-03..2021-03-06",
]
PLAN_ARGS: dict[str, Any] = {"probability": 0.8, "seed": SEED, "max_replications": 16}


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("plan") / "small-plan.yaml"
    small = campaign(name="small-plan", target={"cards": 45_000, "by": "2021-03-08"})
    path.write_text(yaml.safe_dump(small.definition), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def expected_plan(plan_file: str) -> dict[str, Any]:
    """The plan without Prefect: ``sim.plan`` in this process."""
    from sim.plan import plan

    return plan(load_scenario(plan_file), PLAN_VARY, mode="fast", workers=1, **PLAN_ARGS)


def test_the_plan_flow_gives_the_plan_and_a_table_of_the_candidates(
    prefect_server: None, plan_file: str, expected_plan: dict[str, Any]
) -> None:
    from flows.plan_flow import plan_flow

    document = plan_flow(scenario=plan_file, vary=PLAN_VARY, mode="fast", workers=2, **PLAN_ARGS)
    assert document == expected_plan  # the same replications, whatever ran them
    stored = _artifacts()
    table = stored["plan-candidates"]
    rows = json.loads(table) if isinstance(table, str) else table
    assert len(rows) == expected_plan["evaluated"]
    assert sum(1 for row in rows if row["best"]) == 1
    assert [row["cost"] for row in rows] == sorted(row["cost"] for row in rows)
    assert "cheapest setting: cost" in str(stored["plan-summary"])


def test_the_plan_flow_runs_its_candidates_as_tasks_on_a_dask_cluster(
    prefect_server: None, plan_file: str, expected_plan: dict[str, Any], dask_address: str
) -> None:
    from distributed import Client

    from flows.plan_flow import plan_flow

    document = plan_flow(
        scenario=plan_file, vary=PLAN_VARY, mode="fast", dask_address=dask_address, **PLAN_ARGS
    )
    with Client(dask_address) as client:  # type: ignore[no-untyped-call]
        ran = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert document == expected_plan
    assert any("run_outcomes" in prefix for prefix in ran), ran  # the plan-candidate task


def test_the_plan_deployment_passes_the_flow_its_own_defaults_and_they_make_a_plan() -> None:
    import inspect

    from flows.plan_flow import plan_flow
    from sim.plan import deadline_of, varied_field

    deployments = yaml.safe_load(Path("prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    (entry,) = [d for d in deployments if d["name"] == "plan"]
    assert entry["entrypoint"] == "flows/plan_flow.py:plan_flow"
    signature = inspect.signature(plan_flow.fn)
    assert entry["parameters"] == {
        name: parameter.default for name, parameter in signature.parameters.items()
    }
    scenario = load_scenario(entry["parameters"]["scenario"])
    _, _, deadline = deadline_of(scenario)
    for text in entry["parameters"]["vary"]:
        assert varied_field(scenario, text, deadline).monotone
