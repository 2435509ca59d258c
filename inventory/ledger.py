"""The stock ledger, as the rest of cardline uses it: its functions under one name, and
:class:`LedgerChipStock`, the controller's chip-stock port over them.

The books live in :mod:`inventory.books` (balances, movements), :mod:`inventory.receipts`
(deliveries, items, stock-take adjustments), :mod:`inventory.chips` (reservation,
consumption, spoilage, release of chips) and :mod:`inventory.supplies` (consumables). Every
function takes a keyword-only ``session`` and commits nothing; the caller owns the
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from inventory.books import CHIP, Balance, LotStock, balance_of, stock
from inventory.chips import (
    chip_uid_of,
    consume_chip,
    consume_chips,
    release_chip,
    reserve_chips,
    spoil_card,
    spoil_chip,
)
from inventory.errors import InventoryError, StockError
from inventory.receipts import adjust, receive, register_consumables, uid_range
from inventory.supplies import SupplyUse, supplies, use_consumables

__all__ = [
    "CHIP",
    "Balance",
    "InventoryError",
    "LedgerChipStock",
    "LotStock",
    "StockError",
    "SupplyUse",
    "adjust",
    "balance_of",
    "chip_uid_of",
    "consume_chip",
    "consume_chips",
    "receive",
    "register_consumables",
    "release_chip",
    "reserve_chips",
    "spoil_card",
    "spoil_chip",
    "stock",
    "supplies",
    "uid_range",
    "use_consumables",
]


class LedgerChipStock:
    """``line.devices.ChipStock`` over the ledger: what the controller uses. Before a batch
    starts, ``supplies_left`` says how many cards the ribbon and film can still print (the
    line starts no more); after it starts, ``use_supplies`` mounts the rolls its cards need."""

    def __init__(self, *, actor: str) -> None:
        self.actor = actor

    def supplies_left(self, *, session: Session) -> dict[str, int]:
        """Cards each tracked consumable can still print (mounted rolls, then those in
        store); its lots stay locked to the end of the transaction."""
        return {code: use.cards_left for code, use in supplies(session=session, lock=True).items()}

    def use_supplies(self, *, session: Session, at: datetime) -> dict[str, int]:
        return use_consumables(session=session, at=at, actor=self.actor)

    def reserve(
        self, *, session: Session, application_ids: Sequence[int], at: datetime
    ) -> set[int]:
        return set(
            reserve_chips(session=session, application_ids=application_ids, at=at, actor=self.actor)
        )

    def consume(
        self, *, session: Session, application_id: int, card_serial: str, at: datetime
    ) -> tuple[str, str]:
        lot = consume_chip(
            session=session,
            application_id=application_id,
            card_serial=card_serial,
            at=at,
            actor=self.actor,
        )
        after = balance_of(session=session, lot_id=lot.id or 0)
        return lot.lot_number, chip_uid_of(lot, after.consumed + after.spoiled)

    def consume_all(
        self, *, session: Session, takes: Sequence[tuple[int, str]], at: datetime
    ) -> list[tuple[str, str]]:
        """``consume`` for each (application id, card serial) of a batch, in one pass of
        the ledger (``consume_chips``)."""
        taken = consume_chips(session=session, takes=takes, at=at, actor=self.actor)
        return [
            (lot.lot_number, chip_uid_of(lot, after.consumed + after.spoiled))
            for lot, after in taken
        ]

    def spoil(self, *, session: Session, card_serial: str, reason: str, at: datetime) -> None:
        spoil_card(session=session, card_serial=card_serial, reason=reason, at=at, actor=self.actor)
