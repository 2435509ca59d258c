"""The line spec: the shipped centre loads; bad specs are refused naming the field."""

from __future__ import annotations

import random
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml

from line.distributions import Deterministic, Exponential, LogNormal, Triangular, Uniform
from line.errors import SpecError
from line.spec import default_spec, default_spec_text, load_spec, parse_spec
from line.types import LINE_ORDER, Stage


def spec_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(default_spec_text())
    return data


def test_the_default_spec_describes_all_four_stages() -> None:
    spec = default_spec()
    assert list(spec.stages) == list(LINE_ORDER)
    assert spec.rework_limit == 2
    assert spec.retention_days == 90  # the documented default, written out in the file
    assert all(spec.stage(stage).source for stage in LINE_ORDER), "every stage says where from"


def test_a_spec_without_retention_days_keeps_the_default() -> None:
    data = spec_data()
    del data["retention_days"]
    assert parse_spec(data).retention_days == 90


def test_capacity_and_bottleneck_follow_from_the_numbers() -> None:
    spec = default_spec()
    printing = spec.stage(Stage.PRINT)
    assert printing.capacity_per_hour == pytest.approx(10 * 0.92 * 3600 / 3.0)
    assert spec.bottleneck is Stage.PRINT
    assert spec.capacity_per_hour == pytest.approx(printing.capacity_per_hour)


def test_calendar_counts_working_seconds_without_breaks() -> None:
    spec = default_spec()
    from datetime import date

    assert spec.calendar.working_seconds(date(2021, 6, 1)) == 2 * (8 * 3600 - 30 * 60)


def test_load_from_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "line.yaml"
    data = spec_data()
    data["stages"]["print"]["machines"] = 3
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_spec(path).stage(Stage.PRINT).machines == 3


def _refused(data: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_spec(data, source="test.yaml")
    return caught.value


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d["stages"]["print"].update(failure_rate=-0.1), "stages.print.failure_rate", "greater than or equal to 0"),
        (lambda d: d["stages"]["qc"].update(failure_rate=1.5), "stages.qc.failure_rate", "less than or equal to 1"),
        (lambda d: d["stages"]["chip-encode"].update(availability=1.2), "stages.chip-encode.availability", "less than or equal to 1"),
        (lambda d: d["stages"]["print"].update(machines=0), "stages.print.machines", "greater than or equal to 1"),
        (lambda d: d["stages"].update(laminate=d["stages"]["print"]), "stages", "unknown stage 'laminate'"),
        (lambda d: d["stages"].pop("qc"), "stages", "missing stage(s): qc"),
        (lambda d: d.update(rework_limit=-1), "rework_limit", "greater than or equal to 0"),
        (lambda d: d.update(retention_days=0), "retention_days", "greater than 0"),
        (lambda d: d.update(retention_days=-5), "retention_days", "greater than 0"),
        (lambda d: d.update(retention_days=1.5), "retention_days", "valid integer"),
        (lambda d: d.update(retention_days="90"), "retention_days", "valid integer"),
        (lambda d: d.update(retention_days=True), "retention_days", "valid integer"),
        (lambda d: d.update(retention_days=10**6), "retention_days", "less than or equal to 3650"),
        (lambda d: d["stages"]["print"].update(service_time={"kind": "exponential", "mean": -3}), "stages.print.service_time.mean", "greater than 0"),
        (lambda d: d["stages"]["print"].update(service_time={"kind": "uniform", "low": 5, "high": 2}), "stages.print.service_time", "high (2.0) must be greater than low (5.0)"),
        (lambda d: d["stages"]["print"].update(service_time={"kind": "weibull", "mean": 3}), "stages.print.service_time", "weibull"),
        (lambda d: d["stages"]["print"].update(speed=3), "stages.print.speed", "unknown field"),
        (lambda d: d["calendar"].update(working_days=["mon", "funday"]), "calendar.working_days", "unknown weekday 'funday'"),
        (lambda d: d["calendar"].update(timezone="Mars/Olympus"), "calendar.timezone", "unknown time zone"),
        (lambda d: d["consumables"]["ribbon"].update(cards_per_unit=0), "consumables.ribbon.cards_per_unit", "greater than or equal to 1"),
        (lambda d: d["consumables"].update(chip={"name": "x", "unit": "u", "cards_per_unit": 1}), "consumables", "cannot name a consumable"),
        (lambda d: d["allocation"].update(policy="lottery"), "allocation.policy", "lottery"),
    ],
)  # fmt: skip
def test_bad_specs_are_refused_naming_the_field(change: Any, field: str, words: str) -> None:
    data = spec_data()
    change(data)
    error = _refused(data)
    assert error.field == field
    assert words in str(error)
    assert str(error).startswith(f"line spec test.yaml: {field}: ")


def test_unreadable_and_non_yaml_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [unclosed", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42", encoding="utf-8")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec(scalar)


@pytest.mark.parametrize(
    "dist",
    [
        Deterministic(value=2.5),
        Exponential(mean=3.0),
        Uniform(low=1.0, high=4.0),
        Triangular(low=4.0, mode=5.5, high=8.5),
        LogNormal(mean=3.0, sd=0.4),
    ],
    ids=lambda d: d.kind,
)
def test_distributions_sample_their_analytic_mean_and_variance(dist: Any) -> None:
    rng = random.Random(7)
    samples = [dist.sample(rng) for _ in range(200_000)]
    mean = statistics.fmean(samples)
    # 200,000 samples: the standard error of the mean is sd / 447; allow 5 standard errors.
    tolerance = 5 * (dist.variance**0.5) / (len(samples) ** 0.5) + 1e-12
    assert abs(mean - dist.mean) <= tolerance
    assert statistics.pvariance(samples) == pytest.approx(dist.variance, rel=0.03, abs=1e-12)
    assert min(samples) >= 0


def test_breakdowns_give_the_availability_when_it_is_not_stated() -> None:
    data = spec_data()
    printing = data["stages"]["print"]
    del printing["availability"]
    printing["breakdowns"]["time_to_repair"] = {"kind": "deterministic", "value": 2300}
    spec = parse_spec(data)
    assert spec.stage(Stage.PRINT).availability == pytest.approx(6900 / (6900 + 2300))
    assert spec.stage(Stage.PRINT).capacity_per_hour == pytest.approx(10 * 0.75 * 3600 / 3.0)


def test_the_shipped_breakdowns_agree_with_the_shipped_availabilities() -> None:
    for stage in LINE_ORDER:
        s = default_spec().stage(stage)
        if s.breakdowns is not None:
            assert s.breakdowns.availability == pytest.approx(s.availability, abs=1e-9)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d["stages"]["print"].update(availability=0.5), "stages.print", "availability 0.5 disagrees with the breakdowns"),
        (lambda d: d["stages"]["qc"]["breakdowns"].update(time_to_repair={"kind": "exponential", "mean": 0}), "stages.qc.breakdowns.time_to_repair.mean", "greater than 0"),
        (lambda d: d["stages"]["qc"]["breakdowns"].pop("time_between_failures"), "stages.qc.breakdowns.time_between_failures", "Field required"),
    ],
)  # fmt: skip
def test_bad_breakdowns_are_refused_naming_the_field(change: Any, field: str, words: str) -> None:
    data = spec_data()
    change(data)
    error = _refused(data)
    assert error.field == field
    assert words in str(error)
