"""What a calibration gives: the calibrated spec (``Calibration.spec``, validated), the spec
file to write (``to_yaml``), and the report behind it, stage by stage (``StageCalibration``:
what the record showed, what went into the spec, what was kept from the base and why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from line.spec import LineSpec
from line.types import Stage
from sim.calibrate_fits import BreakdownFit, DefectFit, ServiceFit


@dataclass(frozen=True, slots=True)
class StageCalibration:
    """What the record showed at one stage, what went into the spec, what was kept and why."""

    stage: Stage
    events: int  # events of the stage in the period (start markers included)
    service: ServiceFit
    defects: DefectFit
    breakdowns: BreakdownFit
    machines_seen: tuple[str, ...]
    machines_in_spec: int
    kept: tuple[str, ...]  # one sentence per figure kept from the base spec
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage.value,
            "events": self.events,
            "service": _plain(self.service),
            "defects": _plain(self.defects),
            "breakdowns": _plain(self.breakdowns),
            "machines_seen": list(self.machines_seen),
            "machines_in_spec": self.machines_in_spec,
            "kept": list(self.kept),
            "notes": list(self.notes),
        }


def _plain(record: ServiceFit | DefectFit | BreakdownFit) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


@dataclass(frozen=True)
class Calibration:
    """A calibrated spec (validated through ``parse_spec``) and the report behind it."""

    spec: LineSpec
    base: LineSpec
    report: list[StageCalibration]
    since: datetime | None
    until: datetime | None
    first_event: datetime | None
    last_event: datetime | None
    data: dict[str, Any] = field(repr=False, default_factory=dict)

    def stage(self, stage: Stage) -> StageCalibration:
        return next(r for r in self.report if r.stage is stage)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
            "first_event": _iso(self.first_event),
            "last_event": _iso(self.last_event),
            "base": self.base.name,
            "stages": [r.as_dict() for r in self.report],
        }

    def to_yaml(self) -> str:
        """The calibrated spec as a full line spec file (loads back with ``load_spec``)."""
        header = (
            f"# Calibrated by cardline from the stage event record "
            f"({_iso(self.first_event) or '-'} .. {_iso(self.last_event) or '-'}),\n"
            f"# over the base spec {self.base.name!r}. Figures the record could not support\n"
            "# are the base spec's; each stage's `source` says which.\n"
        )
        body = yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True, width=100)
        return header + body

    def summary(self) -> str:
        """A human summary, one block per stage."""
        span = f"{_iso(self.first_event) or '-'} .. {_iso(self.last_event) or '-'}"
        lines = [f"calibrated from stage events {span} over base spec {self.base.name!r}"]
        for r in self.report:
            lines.append(f"{r.stage.value}: {r.events} events")
            s = r.service
            if s.mean is not None and s.sd is not None:
                batch = f", {s.batch_records} batch records" if s.batch_records else ""
                lines.append(
                    f"  service time: mean {s.mean:.3f} s, sd {s.sd:.3f} s over {s.cards} "
                    f"cards ({s.groups} records{batch})"
                )
            d = r.defects
            if d.rate is not None and d.low is not None and d.high is not None:
                reasons = ", ".join(f"{k} {v}" for k, v in sorted(d.reasons.items())) or "none"
                lines.append(
                    f"  failure rate: {d.rate:.4f} ({d.failures}/{d.outcomes}; 95 % "
                    f"{d.low:.4f}-{d.high:.4f}); reasons: {reasons}"
                )
            b = r.breakdowns
            if b.repair_mean is not None and b.between_failures_mean is not None:
                lines.append(
                    f"  breakdowns: {b.stoppages} stoppages in {b.machine_hours:.1f} machine "
                    f"shift hours; repair mean {b.repair_mean:.0f} s, between failures "
                    f"{b.between_failures_mean:.0f} s, availability {b.availability:.3f}"
                )
            if r.machines_seen:
                lines.append(
                    f"  machines seen: {len(r.machines_seen)} ({', '.join(r.machines_seen)}); "
                    f"spec keeps {r.machines_in_spec}"
                )
            lines.extend(f"  kept from base: {k}" for k in r.kept)
            lines.extend(f"  note: {n}" for n in r.notes)
        return "\n".join(lines)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


__all__ = ["Calibration", "StageCalibration"]
