"""Fast mode: the line as flows of whole cards over time steps of at most an hour.

No card is simulated on its own. Each step, a stage can finish as many cards as its machines
have up time (the same shift calendar, the same repair schedules as card mode, ``sim.clock``)
divided by the mean processing time, plus a normal term for the spread of processing times
(the number of cards a busy machine finishes in time ``U`` has variance about
``U * var / mean**3``). Print takes that many from the ``Pool`` in the spec's allocation order,
no more than the chips in stock; every stage spoils a binomial share of what it finishes and
routes it with ``line.routing.next_stage``, as the controller does. Deliveries and arrivals are
the replication's ``Inputs``, so both modes see the same ones.

Steps end on the hour, at every delivery and at every change of machine counts. A card can
cross the whole line within a step: processing times are seconds, steps an hour.

What it gets only approximately: WIP (cards in service are estimated by Little's law) and the
waits before print's downstream stages. Those are the stock left over in the stage's buffer
at the end of each step (the fluid queue of a saturated stage), plus, when the stage keeps up,
the Allen-Cunneen approximation of a G/G/c queue with Poisson-like arrivals.
"""

from __future__ import annotations

import math

import numpy as np

from line.routing import Action, next_stage
from line.types import LINE_ORDER, Outcome
from sim.clock import DAY, HOUR, MachineClock
from sim.inputs import BACKLOG_SLICES, Inputs
from sim.pool import Pool
from sim.streams import Purpose, np_stream, stage_key
from sim.tally import Tally

REWORK_KEY = -math.inf
"""A spoiled card's application goes to the front of its class (see ``sim.pool``)."""


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with ``load`` = lambda / mu."""
    if load >= servers:
        return 1.0
    term, total = 1.0, 1.0  # a^k / k!, summed for k < c
    for k in range(1, servers):
        term *= load / k
        total += term
    last = term * load / servers / (1.0 - load / servers)
    return last / (total + last)


def allen_cunneen_wait(rate: float, mean: float, scv: float, servers: float) -> float:
    """Mean wait in a G/G/c queue (arrival SCV 1): Erlang C times (1 + scv) / 2."""
    c = max(1, round(servers))
    load = rate * mean
    if rate <= 0 or load >= c:
        return 0.0
    return erlang_c(c, load) / (c / mean - rate) * (1.0 + scv) / 2.0


def _boundaries(inputs: Inputs, warmup: float) -> np.ndarray:
    horizon = inputs.horizon
    points = {float(t) for t in np.arange(0.0, horizon, HOUR)}
    points.update(d.time for d in inputs.deliveries if d.time < horizon)
    for steps in inputs.machines.values():
        points.update(t for t, _ in steps if t < horizon)
    if 0 < warmup < horizon:
        points.add(warmup)
    points.add(horizon)
    return np.array(sorted(points))


def _taken_proportionally(buffer: np.ndarray, n: int) -> np.ndarray:
    """``n`` cards out of a buffer of counts, in proportion (largest remainder)."""
    total = int(buffer.sum())
    if n >= total:
        return buffer.copy()
    exact = buffer * (n / total)
    whole = np.floor(exact).astype(np.int64)
    short = n - int(whole.sum())
    if short:
        flat = np.argsort(-(exact - whole), axis=None, kind="stable")[:short]
        np.add.at(whole.reshape(-1), flat, 1)
    return whole


class FastLine:
    """One replication in time steps. ``run()`` returns the filled ``Tally``."""

    def __init__(self, inputs: Inputs, warmup: float = 0.0) -> None:
        self.inputs = inputs
        self.scenario = inputs.scenario
        self.spec = inputs.scenario.spec
        self.warmup = warmup
        self.tally = Tally(inputs, warmup)
        self.pool = Pool(self.spec.allocation, inputs.classes)
        for i, slice_ in enumerate(inputs.backlog):
            for cls, count in enumerate(slice_):
                self.pool.add(cls, float(i - BACKLOG_SLICES), int(count), 0.0)
        self.bounds = _boundaries(inputs, warmup)
        self.work = inputs.clock.work_at_many(self.bounds)
        self.up_machines: dict[int, np.ndarray] = {}
        self.attempts = self.spec.rework_limit + 1
        self.means = [self.spec.stage(s).service_time.mean for s in LINE_ORDER]
        self.scvs = [
            self.spec.stage(s).service_time.variance / m**2
            for s, m in zip(LINE_ORDER, self.means, strict=True)
        ]
        self.rates = [self.spec.stage(s).failure_rate for s in LINE_ORDER]
        self.routes = {
            (i, a): next_stage(
                LINE_ORDER[i], Outcome.FAIL, attempt=a, rework_limit=self.spec.rework_limit
            )
            for i in range(len(LINE_ORDER))
            for a in range(1, self.attempts + 1)
        }
        self.buffers = [
            np.zeros((len(inputs.classes), self.attempts), dtype=np.int64) for _ in LINE_ORDER
        ]
        self.credit = [0.0] * len(LINE_ORDER)  # capacity left over from whole cards
        self.stock = self.scenario.chips.opening_stock
        self.deliveries = list(inputs.deliveries)
        self.last_hour = -1

    def _capacity(self, position: int) -> np.ndarray:
        """Cards each step's up time lets the stage finish (with the spread of times)."""
        stage = LINE_ORDER[position]
        inputs, bounds, work = self.inputs, self.bounds, self.work
        shift = np.diff(work)
        steps = inputs.machines[stage]
        up = np.zeros(len(shift))
        for machine, repairs in enumerate(inputs.repairs[stage]):
            active = np.zeros(len(shift), dtype=bool)
            for i, (begin, count) in enumerate(steps):
                end = steps[i + 1][0] if i + 1 < len(steps) else math.inf
                if count > machine:
                    active |= (bounds[:-1] >= begin) & (bounds[:-1] < end)
            down = np.diff(MachineClock(repairs).down_at_many(work))
            up += np.where(active, shift - down, 0.0)
        service = self.spec.stage(stage).service_time
        mean, var = service.mean, service.variance
        rng = np_stream(
            self.inputs.seed, self.inputs.replication, Purpose.SERVICE, stage_key(stage)
        )
        noise = rng.standard_normal(len(up)) * np.sqrt(up * var / mean**3)
        self.up_machines[position] = up
        return np.maximum(0.0, up / mean + noise)

    def run(self, until: float | None = None) -> Tally:
        """Play the replication to its end, or only ``until`` seconds (see ``CardLine``)."""
        stop = math.inf if until is None else until
        inputs = self.inputs
        self.capacity = [self._capacity(i) for i in range(len(LINE_ORDER))]
        self.defect_rngs = [
            np_stream(inputs.seed, inputs.replication, Purpose.DEFECTS, stage_key(s))
            for s in LINE_ORDER
        ]
        if self.warmup <= 0:
            self.tally.entries[0] += self.pool.size
        for k in range(len(self.bounds) - 1):
            if float(self.bounds[k]) >= stop:
                break
            self._step(k)
        self._fluid_waits()
        return self.tally

    def _step(self, k: int) -> None:
        """Step ``k``: arrivals and deliveries at its start, the stages' work in its shift
        time (a card may cross the whole line), then the figures weighted by its length."""
        t0, t1 = float(self.bounds[k]), float(self.bounds[k + 1])
        dt, shift = t1 - t0, float(self.work[k + 1] - self.work[k])
        day = min(int(t0 // DAY), self.scenario.days - 1)
        counting = t0 >= self.warmup
        self._arrivals(int(t0 // HOUR), counting)
        while self.deliveries and self.deliveries[0].time <= t0:
            delivery = self.deliveries.pop(0)
            self.stock += delivery.quantity
            self.tally.received[day] += delivery.quantity
        waiting_before = self.pool.size
        moved = [0] * len(LINE_ORDER)
        if shift > 0:
            t_mid = self.inputs.clock.time_at(float(self.work[k]) + shift / 2)
            inflow = self._print_starts(k, shift, day, t_mid)
            for i in range(len(LINE_ORDER)):
                done = inflow if i == 0 else self._stage_takes(i, k, inflow, shift, counting)
                moved[i] = int(done.sum())
                inflow = self._finish(i, done, day, t_mid, counting)
        self._step_figures(t1, dt, moved, waiting_before, counting)

    def _arrivals(self, hour: int, counting: bool) -> None:
        """The applications of ``hour`` into the pool, once, at the hour's first step."""
        if hour == self.last_hour:
            return
        self.last_hour = hour
        arrivals = self.inputs.arrivals
        for arriving in np.flatnonzero(arrivals[hour]).tolist():
            count = int(arrivals[hour, arriving])
            self.pool.add(arriving, hour * HOUR, count, hour * HOUR + HOUR / 2)
            if counting:
                self.tally.entries[0] += count

    def _print_starts(self, k: int, shift: float, day: int, t_mid: float) -> np.ndarray:
        """Cards print starts in step ``k``: as many as its capacity, the work waiting and
        the chips allow, taken from the pool in allocation order (class x attempt counts)."""
        tally, pool = self.tally, self.pool
        unlimited = self.scenario.chips.unlimited
        possible = self.credit[0] + self.capacity[0][k]
        want = min(int(possible), pool.size)
        n = want if unlimited else min(want, self.stock)
        if not unlimited and pool.size > 0 and self.stock < want:
            tally.starved[day] += shift * (1.0 - self.stock / max(possible, 1e-9))
        elif not unlimited and pool.size > 0 and self.stock <= 0:
            tally.starved[day] += shift
        self.credit[0] = possible - n if n >= int(possible) else 0.0
        inflow = np.zeros((len(self.inputs.classes), self.attempts), dtype=np.int64)
        for taken, attempt, count, entry in pool.take(n):
            inflow[taken, attempt - 1] += count
            if entry >= self.warmup:
                tally.wait_sum[0] += count * (t_mid - entry)
                tally.waited[0] += count
        if not unlimited:
            self.stock -= n
        tally.started[day] += n
        return inflow

    def _stage_takes(
        self, i: int, k: int, inflow: np.ndarray, shift: float, counting: bool
    ) -> np.ndarray:
        """What downstream stage ``i`` finishes in step ``k`` out of its buffer (``inflow``
        added), in proportion, with the Allen-Cunneen wait of those it takes."""
        buffer = self.buffers[i]
        buffer += inflow
        available = int(buffer.sum())
        possible = self.credit[i] + self.capacity[i][k]
        m = min(int(possible), available)
        self.credit[i] = possible - m if m >= int(possible) else 0.0
        done = _taken_proportionally(buffer, m)
        buffer -= done
        if counting:
            tally = self.tally
            c = self.up_machines[i][k] / shift
            wait = allen_cunneen_wait(m / shift, self.means[i], self.scvs[i], c)
            tally.wait_sum[i] += m * wait
            tally.waited[i] += m
            tally.queue_area[i] += (m / shift) * wait * shift
        return done

    def _finish(
        self, i: int, done: np.ndarray, day: int, t_mid: float, counting: bool
    ) -> np.ndarray:
        """Stage ``i``'s finished cards: a binomial share spoiled and routed, the good ones
        passed on (returned) or, at the last stage, counted as completed."""
        tally = self.tally
        processed = int(done.sum())
        tally.processed[i] += processed
        if counting:
            tally.busy[i] += processed * self.means[i]
        rate = self.rates[i]
        spoiled = self.defect_rngs[i].binomial(done, rate) if rate > 0 else 0 * done
        good: np.ndarray = done - spoiled
        nspoiled = int(spoiled.sum())
        if nspoiled:
            tally.spoiled_at[i] += nspoiled
            tally.spoiled[day] += nspoiled
            self._route_spoiled(i, spoiled, day, t_mid, counting)
        if i + 1 < len(LINE_ORDER):
            if counting:
                tally.entries[i + 1] += int(good.sum())
        else:
            tally.completed[day] += good.sum(axis=1)
        return good

    def _route_spoiled(
        self, i: int, spoiled: np.ndarray, day: int, t_mid: float, counting: bool
    ) -> None:
        """Spoiled cards by attempt: reworked (their applications to the front of their
        class) or held, as ``line.routing.next_stage`` decides."""
        for a in range(1, self.attempts + 1):
            column = spoiled[:, a - 1]
            if not column.any():
                continue
            if self.routes[(i, a)].action is Action.REWORK:
                for cls in np.flatnonzero(column):
                    self.pool.add_front(int(cls), REWORK_KEY, int(column[cls]), t_mid, a + 1)
                    if counting:
                        self.tally.entries[0] += int(column[cls])
            else:
                self.tally.held[day] += int(column.sum())

    def _step_figures(
        self, t1: float, dt: float, moved: list[int], waiting_before: int, counting: bool
    ) -> None:
        """The time-weighted figures over a step (WIP, queues), and the day's end figures
        when the step ends a day."""
        tally, buffers = self.tally, self.buffers
        in_line = sum(int(b.sum()) for b in buffers[1:])
        in_service = sum(moved[i] * self.means[i] for i in range(len(LINE_ORDER)))
        tally.wip_area += in_line * dt + in_service
        if counting:
            tally.queue_area[0] += (waiting_before + self.pool.size) / 2 * dt
            for i in range(1, len(LINE_ORDER)):
                tally.queue_area[i] += int(buffers[i].sum()) * dt
        if t1 % DAY == 0 or t1 >= self.inputs.horizon:
            end_day = min(int(t1 // DAY) - 1, self.scenario.days - 1)
            tally.wip_end[end_day] = in_line
            tally.waiting_end[end_day] = self.pool.size
            tally.stock_end[end_day] = self.stock

    def _fluid_waits(self) -> None:
        """Leftover fluid queue waits: by Little's law over the run's buffers."""
        tally = self.tally
        for i in range(1, len(LINE_ORDER)):
            if tally.waited[i]:
                fluid = tally.queue_area[i] - tally.wait_sum[i]
                tally.wait_sum[i] += max(0.0, fluid)
