"""The searches of a goal seek, over a grid of indices: the cheapest point that is feasible.

A plan varies fields; each field's values are a ladder, index 0 the cheapest. A point is one
index per field, its cost the sum of its fields' costs (non-decreasing along each ladder).
An ``Oracle`` says whether a point is feasible (reaches the target in time with the wanted
probability). It answers in two steps, because proving feasibility is what costs
replications (35 straight successes before a 95 % interval clears 0.9) while ruling a point
out is usually quick:

- ``screen(point)``: ``INFEASIBLE`` (decided), ``FEASIBLE`` (decided) or ``LIKELY`` (its first
  replications say feasible, not yet proved);
- ``certify(point)``: finish the test of a ``LIKELY`` point: feasible or not.

Two searches:

- ``grid_search``: every point decided, the cheapest feasible one wins. Right for fields the
  target is not monotone in, and as the reference the tests hold the other against.
- ``frontier_search``: for fields in which the target is *monotone* (a step up the ladder
  never makes it harder: more machines, more chips, an earlier delivery, one more shift),
  the feasible points form an up-set and the cheapest lies on its lower frontier. The
  search enumerates the other monotone fields ("outer"), dearest column first, and in
  each column finds the lowest feasible value of the field with the longest ladder
  ("inner") by bisection, or by galloping from what the columns before left known (a
  failure in a dearer column rules out everything below it in the cheaper ones: the
  frontier of a cheaper column is never lower): about ``columns x log(values)`` points
  instead of the grid, and far fewer when most of the grid fails. (Cheapest column first,
  ``descending=False``, gallops down from a dominated success instead: on random monotone
  problems it decides about a third more points.) Known results bound the rest: a point
  below a ruled-out one is ruled out without a run; a column whose cheapest point already
  costs more than the best found is skipped.
  Non-monotone fields are enumerated, each of their values with its own frontier walk.
  Only the winner needs proof: ``LIKELY`` points steer the walk, and the cheapest one is
  certified at the end (if it fails, the walk runs again with that knowledge; runs already
  made are not repeated). Every point ruled out was decided, never merely screened.

Ties in cost go to the smaller index tuple, in both searches.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from enum import Enum
from typing import Protocol

Point = tuple[int, ...]


class Verdict(Enum):
    INFEASIBLE = "infeasible"
    LIKELY = "likely"
    FEASIBLE = "feasible"


class Oracle(Protocol):
    def screen(self, point: Point) -> Verdict: ...

    def certify(self, point: Point) -> bool: ...


class Costs:
    """Additive costs: ``field_costs[f][i]`` is what index ``i`` of field ``f`` costs."""

    def __init__(self, field_costs: Sequence[Sequence[float]]) -> None:
        self.fields = [list(c) for c in field_costs]
        for costs in self.fields:
            if any(b < a for a, b in itertools.pairwise(costs)):
                raise ValueError("a field's costs must not decrease along its ladder")

    def __call__(self, point: Point) -> float:
        return sum(c[i] for c, i in zip(self.fields, point, strict=True))

    def key(self, point: Point) -> tuple[float, Point]:
        return (self(point), point)


def all_points(sizes: Sequence[int]) -> Iterator[Point]:
    return itertools.product(*(range(n) for n in sizes))


def grid_search(sizes: Sequence[int], costs: Costs, oracle: Oracle) -> Point | None:
    """Decide every point; the cheapest feasible one (None: none is)."""
    best: Point | None = None
    for point in all_points(sizes):
        verdict = oracle.screen(point)
        feasible = verdict is Verdict.FEASIBLE or (
            verdict is Verdict.LIKELY and oracle.certify(point)
        )
        if feasible and (best is None or costs.key(point) < costs.key(best)):
            best = point
    return best


class FrontierSearch:
    """``frontier_search`` with its state (what is known of each point it met)."""

    def __init__(
        self,
        sizes: Sequence[int],
        monotone: Sequence[bool],
        costs: Costs,
        oracle: Oracle,
        *,
        descending: bool = True,
    ) -> None:
        if len(sizes) != len(monotone) or len(sizes) != len(costs.fields):
            raise ValueError("one size, monotone flag and cost ladder per field")
        self.sizes = list(sizes)
        self.costs = costs
        self.oracle = oracle
        self.known: dict[Point, Verdict] = {}
        mono = [f for f, m in enumerate(monotone) if m]
        self.grid = [f for f, m in enumerate(monotone) if not m]
        self.inner = max(mono, key=lambda f: (self.sizes[f], -f)) if mono else None
        self.outer = [f for f in mono if f != self.inner]
        self.violations = 0  # a cheaper neighbour of the winner turned out feasible
        self.descending = descending

    # -- what is known ------------------------------------------------------------------------

    def _same_grid(self, a: Point, b: Point) -> bool:
        return all(a[f] == b[f] for f in self.grid)

    def ruled_out(self, point: Point) -> bool:
        """Decided infeasible, or below (on every monotone field) a decided-infeasible point."""
        if self.known.get(point) is Verdict.INFEASIBLE:
            return True
        return any(
            verdict is Verdict.INFEASIBLE
            and self._same_grid(point, q)
            and all(point[f] <= q[f] for f in self._mono())
            for q, verdict in self.known.items()
        )

    def _mono(self) -> list[int]:
        return [*self.outer, *([self.inner] if self.inner is not None else [])]

    def feasible(self, point: Point) -> bool:
        """For the walk: ``LIKELY`` counts as feasible (only the winner must be proved)."""
        verdict = self.known.get(point)
        if verdict is None:
            if self.ruled_out(point):
                return False
            verdict = self.oracle.screen(point)
            self.known[point] = verdict
        return verdict is not Verdict.INFEASIBLE

    def _column_bounds(self, base: Point) -> tuple[int, int | None]:
        """For the column through ``base`` (inner index free): the lowest inner index not
        ruled out, and the lowest inner index known feasible (itself or from below)."""
        assert self.inner is not None
        lo, top = 0, None
        for q, verdict in self.known.items():
            if not self._same_grid(base, q):
                continue
            if verdict is Verdict.INFEASIBLE:
                if all(base[f] <= q[f] for f in self.outer):
                    lo = max(lo, q[self.inner] + 1)
            elif all(q[f] <= base[f] for f in self.outer):
                top = q[self.inner] if top is None else min(top, q[self.inner])
        return lo, top

    # -- the walk ----------------------------------------------------------------------------

    def _with(self, base: Point, field: int, index: int) -> Point:
        return tuple(index if f == field else v for f, v in enumerate(base))

    def walk(self) -> Point | None:
        """The cheapest feasible-or-likely point on the frontier, given what is known."""
        best: Point | None = None
        others = [f for f in range(len(self.sizes)) if f not in self.grid]
        for fixed in itertools.product(*(range(self.sizes[f]) for f in self.grid)):
            columns = list(itertools.product(*(range(self.sizes[f]) for f in self.outer)))
            for rest in reversed(columns) if self.descending else columns:
                base = [0] * len(self.sizes)
                for f, v in zip(self.grid, fixed, strict=True):
                    base[f] = v
                for f, v in zip(self.outer, rest, strict=True):
                    base[f] = v
                point = self._column(tuple(base), best)
                if point is not None and (
                    best is None or self.costs.key(point) < self.costs.key(best)
                ):
                    best = point
            if not others:  # grid fields only: each point is its own column
                point = tuple(fixed)
                if self.feasible(point) and (
                    best is None or self.costs.key(point) < self.costs.key(best)
                ):
                    best = point
        return best

    def _column(self, base: Point, best: Point | None) -> Point | None:
        if self.inner is None:
            return None
        inner, costs = self.inner, self.costs
        best_cost = None if best is None else costs(best)
        if best_cost is not None and costs(base) > best_cost:
            return None  # even its cheapest point costs more than the best found
        lo, top = self._column_bounds(base)
        cap = self.sizes[inner] - 1
        if lo > cap:
            return None  # the whole column is ruled out
        if best_cost is not None:
            cap = self._last_within(base, lo, cap, best_cost)
        if cap < lo:
            return None
        if top is not None and top <= cap:
            hi, known_top = top, True
        else:
            hi, known_top = cap, False
            if not self.feasible(self._with(base, inner, hi)):
                return None  # nothing in this column can beat the best (or reach the target)
        if known_top and lo == 0:  # the frontier is near the top: gallop down from it
            step = 1
            while hi - step >= lo:
                if self.feasible(self._with(base, inner, hi - step)):
                    hi -= step
                    step *= 2
                else:
                    lo = hi - step + 1
                    break
        elif lo > 0 and not known_top:  # near the bottom (a failure above): gallop up
            step, probe = 1, lo
            while probe < hi:
                if self.feasible(self._with(base, inner, probe)):
                    hi = probe
                    break
                lo = probe + 1
                probe = min(hi, lo + step)
                step *= 2
        while lo < hi:
            mid = (lo + hi) // 2
            if self.feasible(self._with(base, inner, mid)):
                hi = mid
            else:
                lo = mid + 1
        point = self._with(base, inner, hi)
        if point not in self.known:
            return None  # feasible only by implication: a cheaper known point dominates it
        return point

    def _last_within(self, base: Point, lo: int, hi: int, limit: float) -> int:
        """The highest inner index in [lo, hi] costing at most ``limit`` (lo - 1: none);
        by bisection, as a ladder of chip quantities may have millions of rungs."""
        assert self.inner is not None
        if self.costs(self._with(base, self.inner, lo)) > limit:
            return lo - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.costs(self._with(base, self.inner, mid)) > limit:
                hi = mid - 1
            else:
                lo = mid
        return lo

    # -- the whole search -------------------------------------------------------------------

    def run(self) -> Point | None:
        while True:
            best = self.walk()
            proved = [p for p, v in self.known.items() if v is Verdict.FEASIBLE]
            if proved:  # a point proved feasible the walk stepped past (see violations)
                cheapest = min(proved, key=self.costs.key)
                if best is None or self.costs.key(cheapest) < self.costs.key(best):
                    best = cheapest
            if best is None:
                return None
            if self.known[best] is Verdict.LIKELY:
                holds = self.oracle.certify(best)
                self.known[best] = Verdict.FEASIBLE if holds else Verdict.INFEASIBLE
                if not holds:
                    continue
            cheaper = self._feasible_neighbour(best)
            if cheaper is None:
                return best
            self.violations += 1  # not monotone after all (or chance): start from there

    def neighbours(self, point: Point) -> list[Point]:
        """One step cheaper in each field, where there is one."""
        return [self._with(point, f, point[f] - 1) for f in range(len(point)) if point[f] > 0]

    def _feasible_neighbour(self, best: Point) -> Point | None:
        """Decide each cheaper neighbour of ``best``; the first that is feasible, if any
        (then it is known feasible and the next walk starts from it)."""
        for point in self.neighbours(best):
            verdict = self.known.get(point)
            if verdict is None:
                verdict = self.oracle.screen(point)
            if verdict is Verdict.LIKELY:
                verdict = Verdict.FEASIBLE if self.oracle.certify(point) else Verdict.INFEASIBLE
            self.known[point] = verdict
            if verdict is Verdict.FEASIBLE:
                return point
        return None


def frontier_search(
    sizes: Sequence[int], monotone: Sequence[bool], costs: Costs, oracle: Oracle
) -> Point | None:
    """The cheapest feasible point, assuming the target is monotone in the fields flagged."""
    return FrontierSearch(sizes, monotone, costs, oracle).run()


__all__ = [
    "Costs",
    "FrontierSearch",
    "Oracle",
    "Point",
    "Verdict",
    "all_points",
    "frontier_search",
    "grid_search",
]
