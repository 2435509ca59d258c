"""What a run of the line did: counters per stage and reason, folded from each stage's part.

Each stage of a batch records into a summary of its own (``RunSummary()``) and returns it;
whoever drives the stages (the controller's ``run``, the production flow) folds the parts
into the run's summary with ``add``, in the thread that drives them: a part is never
written by two threads, so no lock is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from line.logsetup import get_logger

log = get_logger(__name__)

_COUNTERS = ("batches", "started", "printed", "encoded", "passed", "held")
_TALLIES = ("spoiled", "held_for", "device_faults", "supplies_missing")


@dataclass(slots=True)
class RunSummary:
    """What one run of the line did (or one stage of one batch, before it is folded in).

    Counters and tallies add up. ``waiting_for_chips``, ``waiting_for_supplies``,
    ``stopped_for`` and the units of a supply found missing before a batch starts are
    readings (``gauge``): a later reading replaces an earlier one."""

    batches: int = 0
    started: int = 0
    printed: int = 0
    encoded: int = 0
    passed: int = 0
    spoiled: dict[str, int] = field(default_factory=dict)  # reason code -> cards
    held: int = 0
    held_for: dict[str, int] = field(default_factory=dict)  # reason code -> applications held
    device_faults: dict[str, int] = field(default_factory=dict)  # reason code -> faults
    waiting_for_chips: int = 0  # approved applications left without a chip when it stopped
    # Approved applications left waiting when ribbon or film ran out (print.supplies_out),
    # and the units of each item needed but not in stock.
    waiting_for_supplies: int = 0
    supplies_missing: dict[str, int] = field(default_factory=dict)  # item -> units not in stock
    stopped_for: str | None = None  # why the printer got no more cards (supplies), if it did
    # The readings this part took (field names, "supplies_missing:<item>"), for ``add``.
    _gauged: set[str] = field(default_factory=set, repr=False, compare=False)

    def spoil(self, reason: str) -> None:
        self.spoiled[reason] = self.spoiled.get(reason, 0) + 1

    def hold(self, reason: str) -> None:
        """An application went to a manager (its data is at fault, or the rework limit)."""
        self.held += 1
        self.held_for[reason] = self.held_for.get(reason, 0) + 1

    def fault(self, reason: str) -> None:
        self.device_faults[reason] = self.device_faults.get(reason, 0) + 1

    def count(self, name: str, number: int) -> None:
        """Add ``number`` to the counter ``name`` (``printed``, ``passed``...)."""
        if name not in _COUNTERS:
            raise ValueError(f"not a counter of the run: {name!r}")
        setattr(self, name, getattr(self, name) + number)

    def gauge(self, name: str, value: int | str | None) -> None:
        """Take a reading (``waiting_for_chips``...): it replaces the run's earlier one."""
        setattr(self, name, value)
        self._gauged.add(name)

    def missing(self, item: str, units: int) -> None:
        """A reading of the units of ``item`` a start needs and the store lacks."""
        self.supplies_missing[item] = units
        self._gauged.add(f"supplies_missing:{item}")

    def add(self, part: RunSummary) -> None:
        """Fold a stage's part into this summary: counters and tallies add up, its
        readings replace this summary's."""
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(part, name))
        for name in _TALLIES:
            mine: dict[str, int] = getattr(self, name)
            for key, number in getattr(part, name).items():
                read = name == "supplies_missing" and f"{name}:{key}" in part._gauged
                mine[key] = number if read else mine.get(key, 0) + number
        for name in ("waiting_for_chips", "waiting_for_supplies", "stopped_for"):
            if name in part._gauged:
                self.gauge(name, getattr(part, name))
        self._gauged.update(g for g in part._gauged if g.startswith("supplies_missing:"))

    def as_dict(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "started": self.started,
            "printed": self.printed,
            "encoded": self.encoded,
            "passed": self.passed,
            "spoiled": dict(self.spoiled),
            "held": self.held,
            "held_for": dict(self.held_for),
            "device_faults": dict(self.device_faults),
            "waiting_for_chips": self.waiting_for_chips,
            "waiting_for_supplies": self.waiting_for_supplies,
            "supplies_missing": dict(self.supplies_missing),
            "stopped_for": self.stopped_for,
        }


def log_batch(stage: str, machine: str, cards: int, summary: RunSummary, left: int = 0) -> None:
    """One line per batch and stage (``qc.batch: machine=qc-01, cards=50, good=49, ...``):
    what a manager reads in a run's logs, in the Prefect UI and in cardline.jsonl."""
    good = {"print": summary.printed, "chip-encode": summary.encoded, "qc": summary.passed}
    log.info(
        f"{stage}.batch",
        machine=machine,
        cards=cards,
        good=good[stage],
        spoiled=sum(summary.spoiled.values()),
        held=summary.held,
        **({"left_for_retry": left} if left else {}),
    )
