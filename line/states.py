"""The lifecycle as explicit transition tables, and the check that guards every change."""

from __future__ import annotations

from collections.abc import Mapping

from line.errors import IllegalTransition
from line.types import ApplicationState as A
from line.types import CardState as C
from line.types import Stage

APPLICATION_TRANSITIONS: Mapping[A, frozenset[A]] = {
    # Held before a card is started: its data cannot make a card (a photo gone or changed).
    A.APPROVED: frozenset({A.PRINTING, A.HELD, A.CANCELLED}),
    # A spoiled card sends the application back to print (approved) or, past the
    # rework limit, to a manager (held).
    A.PRINTING: frozenset({A.PRINTED, A.APPROVED, A.HELD}),
    A.PRINTED: frozenset({A.ENCODED, A.APPROVED, A.HELD}),
    A.ENCODED: frozenset({A.QC_PASSED, A.APPROVED, A.HELD}),
    A.QC_PASSED: frozenset({A.DISPATCHED, A.APPROVED, A.HELD}),
    # A card that comes back from the station (damaged, refused), before or after the
    # station confirmed its delivery, is spoiled and remade.
    A.DISPATCHED: frozenset({A.DELIVERED, A.APPROVED, A.HELD}),
    A.DELIVERED: frozenset({A.APPROVED, A.HELD}),
    A.HELD: frozenset({A.APPROVED, A.CANCELLED}),
    A.CANCELLED: frozenset(),
}

CARD_TRANSITIONS: Mapping[C | None, frozenset[C]] = {
    None: frozenset({C.PRINTING}),
    C.PRINTING: frozenset({C.PRINTED, C.SPOILED}),
    C.PRINTED: frozenset({C.ENCODED, C.SPOILED}),
    C.ENCODED: frozenset({C.QC_PASSED, C.SPOILED}),
    C.QC_PASSED: frozenset({C.DISPATCHED, C.SPOILED}),
    C.DISPATCHED: frozenset({C.DELIVERED, C.SPOILED}),
    C.DELIVERED: frozenset({C.SPOILED}),  # returned: see line.operations.return_card
    C.SPOILED: frozenset(),
}

STAGE_INPUT: Mapping[Stage, C] = {
    Stage.PRINT: C.PRINTING,
    Stage.ENCODE: C.PRINTED,
    Stage.QC: C.ENCODED,
    Stage.DISPATCH: C.QC_PASSED,
    Stage.DELIVERY: C.DISPATCHED,
}
"""The card state a stage works on (delivery: a dispatched card the station confirms)."""

STAGE_OUTPUT: Mapping[Stage, C] = {
    Stage.PRINT: C.PRINTED,
    Stage.ENCODE: C.ENCODED,
    Stage.QC: C.QC_PASSED,
    Stage.DISPATCH: C.DISPATCHED,
    Stage.DELIVERY: C.DELIVERED,
}
"""The card state a stage leaves a good card in."""


def check_application_transition(current: A, target: A, *, entity_id: object = None) -> None:
    if target not in APPLICATION_TRANSITIONS[current]:
        raise IllegalTransition("application", current, target, entity_id=entity_id)


def check_card_transition(current: C | None, target: C, *, entity_id: object = None) -> None:
    if target not in CARD_TRANSITIONS[current]:
        raise IllegalTransition("card", current, target, entity_id=entity_id)


def application_state_for(card_state: C) -> A:
    """The application state that mirrors a live card's state."""
    return A(card_state.value)
