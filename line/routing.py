"""Routing: one pure decision, shared by the real line and the simulated one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from line.reasons import find
from line.types import LINE_ORDER, Outcome, Stage


class Action(StrEnum):
    ADVANCE = "advance"  # the card goes on to ``stage`` (None: the line is done with it)
    REWORK = "rework"  # the card is spoiled; a new card body goes back to print
    HOLD = "hold"  # the card is spoiled and the rework limit is reached: a manager decides


@dataclass(frozen=True, slots=True)
class Route:
    action: Action
    stage: Stage | None


def holds_at_once(reason_code: str | None) -> bool:
    """Whether a failure with ``reason_code`` is the application's data at fault (a photo
    gone or changed, a field no card can carry: ``line.reasons``' kind ``data``): a new card
    body would fail the same way, so the application goes to a manager at once instead of
    using more chips."""
    reason = find(reason_code) if reason_code else None
    return reason is not None and reason.holds


def next_stage(
    stage: Stage,
    outcome: Outcome,
    *,
    attempt: int,
    rework_limit: int,
    reason_code: str | None = None,
) -> Route:
    """Decide where a card goes after ``stage`` ended with ``outcome``.

    ``attempt`` is the card's number for its application (1 for the first card body);
    ``rework_limit`` is how many replacement cards an application may get. With a limit
    of 2, the first and second spoiled cards are reworked and the third is held. A failure
    whose ``reason_code`` is the application's data at fault is held at once
    (:func:`holds_at_once`).
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    if rework_limit < 0:
        raise ValueError(f"rework_limit must be >= 0, got {rework_limit}")
    if outcome is Outcome.OK:
        position = LINE_ORDER.index(stage)
        following = LINE_ORDER[position + 1] if position + 1 < len(LINE_ORDER) else None
        return Route(Action.ADVANCE, following)
    if attempt <= rework_limit and not holds_at_once(reason_code):
        return Route(Action.REWORK, Stage.PRINT)
    return Route(Action.HOLD, None)
