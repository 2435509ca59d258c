"""The goal seek's searches on synthetic problems: the frontier walk finds what brute force
finds, with fewer points decided (Hypothesis: random monotone feasible sets, random costs)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.search import Costs, FrontierSearch, Point, Verdict, all_points, grid_search


@dataclass
class Threshold:
    """Feasible when the weighted sum of the indices reaches ``need`` (monotone in every
    field); ``likely`` points are screened LIKELY, feasible or not (``certify`` says which:
    first replications that all reached the target, by chance)."""

    weights: tuple[int, ...]
    need: int
    likely: frozenset[Point] = frozenset()
    screened: list[Point] = field(default_factory=list)
    certified: list[Point] = field(default_factory=list)

    def truth(self, point: Point) -> bool:
        return sum(w * i for w, i in zip(self.weights, point, strict=True)) >= self.need

    def screen(self, point: Point) -> Verdict:
        self.screened.append(point)
        if point in self.likely:
            return Verdict.LIKELY
        return Verdict.FEASIBLE if self.truth(point) else Verdict.INFEASIBLE

    def certify(self, point: Point) -> bool:
        self.certified.append(point)
        return self.truth(point)


def ladders(draw: st.DrawFn, sizes: list[int]) -> list[list[float]]:
    out = []
    for n in sizes:
        steps = draw(st.lists(st.integers(0, 5), min_size=n - 1, max_size=n - 1))
        out.append([float(x) for x in itertools.accumulate([0, *steps])])
    return out


@st.composite
def problems(draw: st.DrawFn) -> tuple[list[int], Costs, Threshold]:
    dims = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 9)) for _ in range(dims)]
    weights = tuple(draw(st.integers(0, 4)) for _ in range(dims))
    top = sum(w * (n - 1) for w, n in zip(weights, sizes, strict=True))
    need = draw(st.integers(0, top + 1))
    points = list(all_points(sizes))
    likely = frozenset(draw(st.lists(st.sampled_from(points), max_size=len(points))))
    return sizes, Costs(ladders(draw, sizes)), Threshold(weights, need, likely)


@given(problems())
@settings(max_examples=300, deadline=None)
def test_the_frontier_walk_finds_the_cheapest_feasible_point_as_brute_force_does(
    problem: tuple[list[int], Costs, Threshold],
) -> None:
    sizes, costs, problem_oracle = problem
    brute = Threshold(problem_oracle.weights, problem_oracle.need, problem_oracle.likely)
    expected = grid_search(sizes, costs, brute)
    for descending in (True, False):  # columns from the dearest, or from the cheapest
        oracle = Threshold(problem_oracle.weights, problem_oracle.need, problem_oracle.likely)
        search = FrontierSearch(sizes, [True] * len(sizes), costs, oracle, descending=descending)
        assert search.run() == expected
        assert search.violations == 0
        assert len(set(oracle.screened)) <= len(list(all_points(sizes)))
        # proof is asked only of points that looked like winners
        assert set(oracle.certified) <= oracle.likely


@given(problems(), st.data())
@settings(max_examples=150, deadline=None)
def test_a_field_marked_not_monotone_is_enumerated_and_the_answer_is_the_same(
    problem: tuple[list[int], Costs, Threshold], data: st.DataObject
) -> None:
    sizes, costs, oracle = problem
    monotone = [data.draw(st.booleans()) for _ in sizes]
    expected = grid_search(sizes, costs, Threshold(oracle.weights, oracle.need, oracle.likely))
    assert FrontierSearch(sizes, monotone, costs, oracle).run() == expected


def test_on_a_10_by_10_grid_the_walk_decides_a_fraction_of_the_points() -> None:
    sizes = [10, 10]
    costs = Costs([[3.0 * i for i in range(10)], [2.0 * j for j in range(10)]])
    oracle = Threshold((2, 3), 20)
    best = FrontierSearch(sizes, [True, True], costs, oracle).run()
    assert best == grid_search(sizes, costs, Threshold((2, 3), 20))
    assert best is not None and oracle.truth(best)
    assert len(set(oracle.screened)) <= 25  # of 100
