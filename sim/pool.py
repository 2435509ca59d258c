"""The approved applications waiting for a chip and a printer, given out by the spec's policy.

``line.allocation.next_in_line`` orders applications in the database; this is the same
policy (its ranks built from the same ``line.allocation.RANK_KEYS``) over counts, since the
simulator cannot keep 50 million rows. Applications of one ``DemandClass`` (group x
destination) are alike but for their intake order, so each class
keeps a queue of runs ``[key, attempt, count, entry]``: ``key`` is the intake order (smaller
is older), ``attempt`` the number of the card the application will get next, ``entry`` when it
started waiting (for the wait at print). The policies, as in ``AllocationPolicy``:

- ``fifo``: the oldest key first, whatever the class;
- ``earliest_due``: the class with the earliest due date first (none: last), then the key;
- ``priority``: the classes of ``priority_groups`` in their order, then the rest, then the key;
- ``fair_share``: provinces (first three characters of the destination) take turns; within
  one, the oldest key first.

A spoiled card's application goes back to the front of its class (it is older than anything
waiting there, as it was taken first), with its next attempt number.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence

from line.allocation import rank_of
from line.spec import AllocationPolicy
from sim.inputs import DemandClass

Run = list[float]  # [key, attempt, count, entry]; a list so a partial take edits it in place
Taken = tuple[int, int, int, float]  # (class index, attempt, count, entry time)


def class_ranks(policy: AllocationPolicy, classes: Sequence[DemandClass]) -> list[float]:
    """Each class's rank under the policy (smaller goes first; the key breaks ties): the
    place of its ``line.allocation.rank_of`` among the classes' distinct ranks, so that the
    database's order and the simulator's are one definition, and a rank is one float to
    compare in the hot loop."""
    ranks = [rank_of(policy, group=c.group, due=c.due) for c in classes]
    place = {rank: float(i) for i, rank in enumerate(sorted(set(ranks)))}
    return [place[rank] for rank in ranks]


class Pool:
    """Waiting applications by class; ``take_one`` and ``take`` hand them out by policy."""

    def __init__(self, policy: AllocationPolicy, classes: Sequence[DemandClass]) -> None:
        self.queues: list[deque[Run]] = [deque() for _ in classes]
        self.counts = [0] * len(classes)
        self.size = 0
        self.ranks = class_ranks(policy, classes)
        self.fair = policy.policy == "fair_share"
        provinces: dict[str, list[int]] = {}
        for c in classes:
            provinces.setdefault(c.province, []).append(c.index)
        self.provinces = list(provinces.values())
        self.turn = 0

    def add(self, cls: int, key: float, count: int, entry: float, attempt: int = 1) -> None:
        if count > 0:
            self.queues[cls].append([key, float(attempt), float(count), entry])
            self.counts[cls] += count
            self.size += count

    def add_front(self, cls: int, key: float, count: int, entry: float, attempt: int) -> None:
        if count > 0:
            self.queues[cls].appendleft([key, float(attempt), float(count), entry])
            self.counts[cls] += count
            self.size += count

    def _best(self, candidates: Sequence[int]) -> int:
        best, best_rank, best_key = -1, 0.0, 0.0
        for cls in candidates:
            if self.counts[cls]:
                rank, key = self.ranks[cls], self.queues[cls][0][0]
                if best < 0 or rank < best_rank or (rank == best_rank and key < best_key):
                    best, best_rank, best_key = cls, rank, key
        return best

    def _next_class(self) -> int:
        if not self.fair:
            return self._best(range(len(self.queues)))
        for step in range(len(self.provinces)):
            province = (self.turn + step) % len(self.provinces)
            cls = self._best(self.provinces[province])
            if cls >= 0:
                self.turn = province + 1
                return cls
        return -1

    def take_one(self) -> tuple[int, float, int, float] | None:
        """The next application: ``(class, key, attempt, entry)``, or None if none waits."""
        if not self.size:
            return None
        cls = self._next_class()
        run = self.queues[cls][0]
        key, attempt, entry = run[0], int(run[1]), run[3]
        if run[2] == 1:
            self.queues[cls].popleft()
        else:
            run[2] -= 1
        self.counts[cls] -= 1
        self.size -= 1
        return cls, key, attempt, entry

    def _take_class(self, cls: int, n: int, out: list[Taken]) -> int:
        """Up to ``n`` from the front of one class; returns how many were taken."""
        taken = 0
        queue = self.queues[cls]
        while taken < n and queue:
            run = queue[0]
            k = min(int(run[2]), n - taken)
            out.append((cls, int(run[1]), k, run[3]))
            taken += k
            if k == run[2]:
                queue.popleft()
            else:
                run[2] -= k
        self.counts[cls] -= taken
        self.size -= taken
        return taken

    def take(self, n: int) -> list[Taken]:
        """Up to ``n`` applications in policy order, as ``(class, attempt, count, entry)``."""
        out: list[Taken] = []
        n = min(n, self.size)
        if self.fair:
            self._take_fair(n, out)
            return out
        # the class heads in a heap, ordered as _best orders them (rank, key, then the lower
        # class index): the same order, without scanning every class for every run taken
        queues, ranks = self.queues, self.ranks
        heads = [(ranks[c], q[0][0], c) for c, q in enumerate(queues) if self.counts[c]]
        heapq.heapify(heads)
        while n > 0:
            _, _, cls = heapq.heappop(heads)
            queue = queues[cls]
            n -= self._take_class(cls, min(n, int(queue[0][2])), out)
            if self.counts[cls]:
                heapq.heappush(heads, (ranks[cls], queue[0][0], cls))
        return out

    def _take_fair(self, n: int, out: list[Taken]) -> None:
        # equal turns per province, as many as each has, the rest shared by the others
        avail = [sum(self.counts[c] for c in members) for members in self.provinces]
        quota = [0] * len(avail)
        left = n
        while left > 0:
            open_ = [p for p, a in enumerate(avail) if a > quota[p]]
            share, extra = divmod(left, len(open_))
            for i, p in enumerate(open_):
                give = min(avail[p] - quota[p], share + (1 if i < extra else 0))
                quota[p] += give
                left -= give
        for p, members in enumerate(self.provinces):
            want = quota[p]
            while want > 0:
                cls = self._best(members)
                want -= self._take_class(cls, min(want, int(self.queues[cls][0][2])), out)
