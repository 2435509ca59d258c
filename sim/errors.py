"""The simulator's errors: one base, ``SimError``, under ``line.errors.CardlineError``.

A scenario file or a plan that cannot be used is also a ``line.errors.SpecError`` (it is a
line spec with overrides, and code that reports a bad spec reports a bad scenario the same
way): ``ScenarioError`` derives from both bases, and ``PlanError`` from ``ScenarioError``.
"""

from __future__ import annotations

from line.errors import CardlineError, SpecError


class SimError(CardlineError):
    """Base of every error the simulator raises on purpose."""


class ScenarioError(SimError, SpecError):
    """A scenario file that cannot be used; ``field`` is the dotted path of the culprit
    (``line.stages.print.machines`` for a field of the line spec inside it)."""

    def __init__(self, message: str, *, field: str, source: str | None = None) -> None:
        super().__init__(message, field=field, source=source)
        where = f"{source}: " if source else ""
        self.message = f"scenario {where}{field}: {message}"
        self.args = (self.message,)


class PlanError(ScenarioError):
    """A plan that cannot be made: names the option or field (``--vary``, ``target.by``)."""

    def __init__(self, message: str, *, field: str, source: str | None = None) -> None:
        super().__init__(message, field=field, source=source)
        where = f" {source}" if source else ""
        self.message = f"plan{where}: {field}: {message}"
        self.args = (self.message,)


__all__ = ["PlanError", "ScenarioError", "SimError"]
