"""Random streams: one seeded generator per purpose, so scenarios share their randomness.

Common random numbers: two scenarios run with the same seed and replication index draw the
same service times, defects, breakdowns, delivery delays and arrivals wherever they share
structure. Each stream is keyed by (seed, replication, purpose, detail) through numpy's
``SeedSequence``, never by the order in which the model happens to ask for numbers, so adding
two encoders leaves the other machines' breakdowns alone, and slipping one delivery leaves the
other deliveries' delays alone. A replication's numbers depend on (seed, index) only, not on
which worker process runs it.
"""

from __future__ import annotations

import random
import zlib
from enum import IntEnum

import numpy as np

from line.types import LINE_ORDER, Stage


class Purpose(IntEnum):
    """What a stream is for. The values are part of the seeding: never renumber them."""

    SERVICE = 1
    DEFECTS = 2
    BREAKDOWNS = 3
    DELIVERIES = 4
    ARRIVALS = 5
    ARRIVAL_TIMES = 6  # card mode only: where in its hour each arrival falls


def stage_key(stage: Stage) -> int:
    return LINE_ORDER.index(stage)


def name_key(name: str) -> int:
    """A stable number for a name (Python's ``hash`` of a str changes from run to run)."""
    return zlib.crc32(name.encode("utf-8"))


def stream_seed(seed: int, replication: int, purpose: Purpose, *detail: int) -> int:
    """A 64-bit seed for one stream, a pure function of its key."""
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=(replication, int(purpose), *detail))
    return int(sequence.generate_state(1, dtype=np.uint64)[0])


def py_stream(seed: int, replication: int, purpose: Purpose, *detail: int) -> random.Random:
    """A ``random.Random`` for per-card draws (fast for one number at a time)."""
    return random.Random(stream_seed(seed, replication, purpose, *detail))


def np_stream(seed: int, replication: int, purpose: Purpose, *detail: int) -> np.random.Generator:
    """A numpy ``Generator`` for draws in bulk (arrival counts, binomial defects)."""
    return np.random.Generator(np.random.PCG64(stream_seed(seed, replication, purpose, *detail)))
