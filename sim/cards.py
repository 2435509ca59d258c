"""Card-by-card mode: a SimPy model of the line, one process per machine.

Built from the scenario's ``LineSpec`` only: each stage has its spec's machines and
processing-time distribution, spoils a card with its ``failure_rate`` and sends it where
``line.routing.next_stage`` says (the controller's own decision: rework to print on a new
card body, or hold past the rework limit). Print takes applications from the ``Pool`` in the
spec's allocation order, and only while a chip is in stock (every card body started takes
one, spoiled or not). Machines work in shift time and stop for their repairs
(``sim.clock``); the breakdowns, deliveries and arrivals are the replication's ``Inputs``.

Machines are processes pulling from their stage's queue rather than SimPy resources: a
machine has its own repair schedule, so it must know which machine it is. Downstream queues
are ``simpy.Store`` (first come, first served).

Events at the same instant happen in a defined order: the close of the day that ends at that
instant comes first (its figures: closing chip stock, WIP, applications waiting), then
everything else in the order SimPy scheduled it. So a delivery that arrives at exactly
midnight is the new day's: received that day and in that day's stock, never in the closing
stock of a day that was stalled for want of it. The fast mode books it the same way (its
steps start at the delivery).

Each card remembers when its application arrived (the opening backlog: at the start), so the
run reports the time in system, from arrival to dispatch, of the applications that arrived
after the warm-up.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Generator
from typing import Any

import simpy

from line.routing import Action, next_stage
from line.types import LINE_ORDER, Outcome
from sim.clock import DAY, HOUR, MachineClock
from sim.inputs import BACKLOG_SLICES, Inputs
from sim.pool import Pool
from sim.streams import Purpose, py_stream, stage_key
from sim.tally import Tally

Card = list[Any]  # [class, key, attempt, queued at]; key: arrival time (< 0: the backlog)
INF = float("inf")


class DayClose(simpy.events.Event):
    """A timeout that comes before every other event of its instant: SimPy's ``URGENT``
    priority, set the way SimPy's own ``Initialize`` and ``Interruption`` events set it."""

    def __init__(self, env: simpy.Environment, delay: float) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, simpy.events.URGENT, delay)


class CardLine:
    """One replication, card by card. ``run()`` returns the filled ``Tally``."""

    def __init__(self, inputs: Inputs, warmup: float = 0.0) -> None:
        scenario = inputs.scenario
        self.inputs = inputs
        self.spec = scenario.spec
        self.env = simpy.Environment()
        self.clock = inputs.clock
        self.tally = Tally(inputs, warmup)
        self.tally.sojourns = array("d")
        self.warmup = warmup
        self.last_day = scenario.days - 1
        self.pool = Pool(scenario.spec.allocation, inputs.classes)
        self.unlimited = scenario.chips.unlimited
        self.stock = scenario.chips.opening_stock
        self.waiters: deque[simpy.Event] = deque()
        self.stores = [simpy.Store(self.env) for _ in LINE_ORDER]  # [0] unused: print has the pool
        self.qlen = [0] * len(LINE_ORDER)
        self.qlast = [0.0] * len(LINE_ORDER)
        self.wip = 0
        self.wip_last = 0.0
        self.starved_since: float | None = None
        for i, slice_ in enumerate(inputs.backlog):
            for cls, count in enumerate(slice_):
                self.pool.add(cls, float(i - BACKLOG_SLICES), int(count), 0.0)
        self._queue(0, self.pool.size)

    # -- bookkeeping -------------------------------------------------------------------------

    def _queue(self, position: int, delta: int) -> None:
        """The queue before a stage changes by ``delta`` now (time-weighted for its mean)."""
        now = self.env.now
        if now > self.warmup:
            begin = self.qlast[position] if self.qlast[position] > self.warmup else self.warmup
            self.tally.queue_area[position] += self.qlen[position] * (now - begin)
        self.qlast[position] = now
        self.qlen[position] += delta
        if delta > 0 and now >= self.warmup:
            self.tally.entries[position] += delta

    def _wip(self, delta: int) -> None:
        now = self.env.now
        self.tally.wip_area += self.wip * (now - self.wip_last)
        self.wip_last = now
        self.wip += delta

    def _day(self) -> int:
        day = int(self.env.now // DAY)
        return day if day < self.last_day else self.last_day

    def _check_starved(self) -> None:
        starved = not self.unlimited and self.stock <= 0 and self.pool.size > 0
        if starved and self.starved_since is None:
            self.starved_since = self.env.now
        elif not starved and self.starved_since is not None:
            self.tally.add_starved(self.starved_since, self.env.now)
            self.starved_since = None

    def _wake(self, n: int) -> None:
        while n > 0 and self.waiters:
            self.waiters.popleft().succeed()
            n -= 1

    def _add_to_pool(self, cls: int, key: float, attempt: int, front: bool) -> None:
        if front:
            self.pool.add_front(cls, key, 1, self.env.now, attempt)
        else:
            self.pool.add(cls, key, 1, self.env.now, attempt)
        self._queue(0, 1)
        self._check_starved()
        if self.unlimited or self.stock > 0:
            self._wake(1)

    # -- processes ---------------------------------------------------------------------------

    def _arrivals(self) -> Generator[simpy.Event, Any, None]:
        """Each hour's arrivals at uniform random times within it (a Poisson count placed
        uniformly is a Poisson process), classes in random order."""
        rng = py_stream(self.inputs.seed, self.inputs.replication, Purpose.ARRIVAL_TIMES)
        env = self.env
        for hour, counts in enumerate(self.inputs.arrivals.tolist()):
            total = sum(counts)
            if not total:
                continue
            classes = [cls for cls, n in enumerate(counts) for _ in range(n)]
            rng.shuffle(classes)
            base = hour * HOUR
            for at, cls in zip(sorted(rng.random() for _ in classes), classes, strict=True):
                delay = base + at * HOUR - env.now
                if delay > 0:
                    yield env.timeout(delay)
                self._add_to_pool(cls, env.now, 1, front=False)

    def _deliveries(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        for delivery in self.inputs.deliveries:
            if delivery.time > env.now:
                yield env.timeout(delivery.time - env.now)
            self.stock += delivery.quantity
            self.tally.received[self._day()] += delivery.quantity
            self._check_starved()
            self._wake(min(delivery.quantity, self.pool.size))

    def _days(self) -> Generator[simpy.Event, Any, None]:
        for day in range(self.last_day):
            yield DayClose(self.env, (day + 1) * DAY - self.env.now)
            self._end_of_day(day)

    def _end_of_day(self, day: int) -> None:
        self.tally.wip_end[day] = self.wip
        self.tally.waiting_end[day] = self.pool.size
        self.tally.stock_end[day] = self.stock

    def _inactive_until(self, position: int, machine: int) -> float | None:
        """None if the machine is installed now, else when it next is (inf: never again)."""
        now = self.env.now
        steps = self.inputs.machines[LINE_ORDER[position]]
        current = max(i for i, (begin, _) in enumerate(steps) if begin <= now)
        if steps[current][1] > machine:
            return None
        return next((b for b, count in steps[current + 1 :] if count > machine), INF)

    def _take_print(self) -> tuple[int, float, int, float] | None:
        if not (self.unlimited or self.stock > 0):
            return None
        taken = self.pool.take_one()
        if taken is None:
            return None
        self._queue(0, -1)
        self.stock -= 1
        self.tally.started[self._day()] += 1
        self._wip(+1)
        self._check_starved()
        return taken

    def _machine(self, position: int, machine: int) -> Generator[simpy.Event, Any, None]:
        """One machine of a stage, as a SimPy process: idle while not installed or under
        repair, then take a card, work it in up shift time, and send it where routing says.
        Its length is that loop's (each wait must be a ``yield`` of this process); waiting
        for an application and a chip, and routing a card, are functions of their own."""
        env, clock, tally = self.env, self.clock, self.tally
        stage = LINE_ORDER[position]
        spec = self.spec.stage(stage)
        service, failure_rate = spec.service_time, spec.failure_rate
        # one stream per stage for service times and one for defects, shared by its machines
        service_rng = self.service_rngs[position]
        defect_rng = self.defect_rngs[position]
        repairs = MachineClock(self.inputs.repairs[stage][machine])
        changes = len(self.inputs.machines[stage]) > 1
        horizon = self.inputs.horizon
        store = self.stores[position]
        while True:
            idle_until = self._idle_until(position, machine, repairs, changes)
            if idle_until is not None:
                if idle_until >= horizon:
                    return
                yield env.timeout(idle_until - env.now)
                continue
            if position == 0:
                cls, key, attempt, queued = yield from self._print_card()
            else:
                cls, key, attempt, queued = yield store.get()
                self._queue(position, -1)
            if queued >= self.warmup:
                tally.wait_sum[position] += env.now - queued
                tally.waited[position] += 1
            work = service.sample(service_rng)
            done = clock.time_at(repairs.w_at(repairs.up_at(clock.work_at(env.now)) + work))
            if done >= horizon:
                yield env.event()  # still at work when the run ends
            yield env.timeout(done - env.now)
            if env.now >= self.warmup:
                tally.busy[position] += work
            tally.processed[position] += 1
            failed = failure_rate > 0 and defect_rng.random() < failure_rate
            self._route(position, cls, key, attempt, failed)

    def _idle_until(
        self, position: int, machine: int, repairs: MachineClock, changes: bool
    ) -> float | None:
        """None if the machine may take work now; else when it may next: it is not
        installed (machine counts change during the run), or it is broken (it takes no work
        while repaired: another machine may)."""
        if changes:
            until = self._inactive_until(position, machine)
            if until is not None:
                return until
        repair_end = repairs.repair_end(self.clock.work_at(self.env.now))
        if repair_end is not None:
            return self.clock.time_at(repair_end)
        return None

    def _print_card(self) -> Generator[simpy.Event, Any, tuple[int, float, int, float]]:
        """The next application for a printer, from the pool once a chip is in stock
        (waiting to be woken until then)."""
        taken = self._take_print()
        while taken is None:
            wake = self.env.event()
            self.waiters.append(wake)
            yield wake
            taken = self._take_print()
        return taken

    def _route(self, position: int, cls: int, key: float, attempt: int, failed: bool) -> None:
        """Send a finished card where ``line.routing.next_stage`` says: the next stage's
        queue, dispatch (in today's batch for its station), rework at print, or held."""
        tally = self.tally
        stage = LINE_ORDER[position]
        outcome = Outcome.FAIL if failed else Outcome.OK
        route = next_stage(stage, outcome, attempt=attempt, rework_limit=self.spec.rework_limit)
        if route.action is Action.ADVANCE and route.stage is not None:
            self.stores[position + 1].put([cls, key, attempt, self.env.now])
            self._queue(position + 1, +1)
            return
        self._wip(-1)
        day = self._day()
        if route.action is Action.ADVANCE:  # dispatched: in today's batch for its station
            tally.completed[day, cls] += 1
            arrived = key if key > 0.0 else 0.0
            if arrived >= self.warmup:
                sojourns = tally.sojourns
                assert sojourns is not None
                sojourns.append(self.env.now - arrived)
            return
        tally.spoiled_at[position] += 1
        tally.spoiled[day] += 1
        if route.action is Action.REWORK:
            self._add_to_pool(cls, key, attempt + 1, front=True)
        else:
            tally.held[day] += 1

    def run(self, until: float | None = None) -> Tally:
        """Play the replication to its end, or only ``until`` seconds (``sim.plan`` needs
        the days up to a deadline; the tally's later days stay empty)."""
        seed, rep = self.inputs.seed, self.inputs.replication
        self.service_rngs = [
            py_stream(seed, rep, Purpose.SERVICE, stage_key(s)) for s in LINE_ORDER
        ]
        self.defect_rngs = [py_stream(seed, rep, Purpose.DEFECTS, stage_key(s)) for s in LINE_ORDER]
        env = self.env
        env.process(self._arrivals())
        env.process(self._deliveries())
        env.process(self._days())
        for position, stage in enumerate(LINE_ORDER):
            for machine in range(self.inputs.scenario.max_machines(stage)):
                env.process(self._machine(position, machine))
        horizon = self.inputs.horizon if until is None else min(until, self.inputs.horizon)
        env.run(until=horizon)
        for position in range(len(LINE_ORDER)):
            self._queue(position, 0)
        self._wip(0)
        if self.starved_since is not None:
            self.tally.add_starved(self.starved_since, horizon)
        self._end_of_day(self.last_day)
        return self.tally
