"""The lifecycle tables and the routing decision, without a database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from line.errors import IllegalTransition
from line.routing import Action, Route, next_stage
from line.states import (
    APPLICATION_TRANSITIONS,
    CARD_TRANSITIONS,
    check_application_transition,
    check_card_transition,
)
from line.types import LINE_ORDER, Outcome, Stage
from line.types import ApplicationState as A
from line.types import CardState as C


def test_the_happy_path_is_allowed_step_by_step() -> None:
    path = [A.APPROVED, A.PRINTING, A.PRINTED, A.ENCODED, A.QC_PASSED, A.DISPATCHED, A.DELIVERED]
    for current, target in zip(path, path[1:], strict=False):
        check_application_transition(current, target)
    cards = [None, C.PRINTING, C.PRINTED, C.ENCODED, C.QC_PASSED, C.DISPATCHED, C.DELIVERED]
    for current_card, target_card in zip(cards, cards[1:], strict=False):
        check_card_transition(current_card, target_card)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "target"),
    [(A.APPROVED, A.PRINTED), (A.PRINTED, A.QC_PASSED), (A.DELIVERED, A.PRINTING), (A.CANCELLED, A.APPROVED), (A.DISPATCHED, A.PRINTED)],
)  # fmt: skip
def test_skipping_or_leaving_a_final_state_is_illegal(current: A, target: A) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_application_transition(current, target, entity_id=7)
    assert str(caught.value) == f"application 7: illegal transition {current} -> {target}"


def test_a_spoiled_card_is_never_reused() -> None:
    assert CARD_TRANSITIONS[C.SPOILED] == frozenset()
    for target in C:
        with pytest.raises(IllegalTransition):
            check_card_transition(C.SPOILED, target)


def test_final_states_have_no_way_out() -> None:
    # A delivered card may still come back from its station (returned: spoiled, remade).
    assert APPLICATION_TRANSITIONS[A.DELIVERED] == frozenset({A.APPROVED, A.HELD})
    assert CARD_TRANSITIONS[C.DELIVERED] == frozenset({C.SPOILED})
    assert APPLICATION_TRANSITIONS[A.CANCELLED] == frozenset()


def test_good_cards_advance_through_the_line_in_order() -> None:
    assert [next_stage(s, Outcome.OK, attempt=1, rework_limit=2) for s in LINE_ORDER] == [
        Route(Action.ADVANCE, Stage.ENCODE),
        Route(Action.ADVANCE, Stage.QC),
        Route(Action.ADVANCE, Stage.DISPATCH),
        Route(Action.ADVANCE, None),
    ]


def test_rework_until_the_limit_then_hold() -> None:
    # rework limit 2: the first and second spoiled cards are remade, the third is held.
    assert [next_stage(Stage.QC, Outcome.FAIL, attempt=n, rework_limit=2).action for n in (1, 2, 3, 4)] == [
        Action.REWORK, Action.REWORK, Action.HOLD, Action.HOLD,
    ]  # fmt: skip
    assert next_stage(Stage.PRINT, Outcome.FAIL, attempt=1, rework_limit=0) == Route(
        Action.HOLD, None
    )


@given(st.sampled_from(list(LINE_ORDER)), st.integers(1, 50), st.integers(0, 50))
def test_a_failure_reworks_exactly_while_attempts_remain(
    stage: Stage, attempt: int, limit: int
) -> None:
    route = next_stage(stage, Outcome.FAIL, attempt=attempt, rework_limit=limit)
    assert route.action is (Action.REWORK if attempt <= limit else Action.HOLD)
    assert route.stage is (Stage.PRINT if attempt <= limit else None)


def test_nonsense_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        next_stage(Stage.PRINT, Outcome.OK, attempt=0, rework_limit=2)
    with pytest.raises(ValueError, match="rework_limit"):
        next_stage(Stage.PRINT, Outcome.OK, attempt=1, rework_limit=-1)
