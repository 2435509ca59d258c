"""Lots of virtual chips: ``VirtualChipLot`` issues the chips of one delivered lot, with
consecutive UIDs, a seeded fraction of them defective."""

from __future__ import annotations

import random

from printers.chip.apdu import ChipError
from printers.chip.vchip import DEFAULT_CAPACITY, VirtualChip


class LotExhausted(ChipError):
    """Every chip of the lot has been issued."""

    reason = "encode.lot_exhausted"


class VirtualChipLot:
    """The chips of one delivered lot: consecutive UIDs from ``first_uid``, each one defective
    with probability ``defect_rate``, drawn from ``rng`` as the chip is issued (the same seed
    and the same issue order give the same defective chips)."""

    def __init__(
        self,
        lot_number: str,
        first_uid: int,
        count: int,
        defect_rate: float,
        rng: random.Random,
        uid_bytes: int = 7,
        *,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        if count <= 0:
            raise ValueError(f"lot {lot_number}: count {count} must be positive")
        if not 0.0 <= defect_rate <= 1.0:
            raise ValueError(f"lot {lot_number}: defect rate {defect_rate} is outside 0..1")
        if uid_bytes <= 0 or first_uid < 0 or first_uid + count > 1 << (8 * uid_bytes):
            raise ValueError(f"lot {lot_number}: UIDs do not fit in {uid_bytes} bytes")
        self.lot_number = lot_number
        self.first_uid = first_uid
        self.count = count
        self.defect_rate = defect_rate
        self.uid_bytes = uid_bytes
        self.capacity = capacity
        self._rng = rng
        self._issued = 0

    @property
    def issued(self) -> int:
        return self._issued

    @property
    def remaining(self) -> int:
        return self.count - self._issued

    def issue(self) -> VirtualChip:
        """The next chip of the lot; raises ``LotExhausted`` when none is left."""
        if self._issued >= self.count:
            raise LotExhausted(
                f"lot {self.lot_number}: all {self.count} chips issued",
                device=f"lot {self.lot_number}",
                lot_number=self.lot_number,
            )
        uid = (self.first_uid + self._issued).to_bytes(self.uid_bytes, "big")
        self._issued += 1
        defective = self._rng.random() < self.defect_rate
        return VirtualChip(uid, capacity=self.capacity, defective=defective)

    def __repr__(self) -> str:
        return f"VirtualChipLot({self.lot_number}, issued {self._issued}/{self.count})"
