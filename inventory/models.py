"""Persistence of stock: items, lots, the append-only ledger of movements, chip reservations.

On-hand, reserved and available stock are never stored beside the ledger: each movement
carries the lot's balances after it (as a bank statement does), so the last movement of
a lot answers "how many now" without summing its history, and ``cardline check``
recomputes every balance from the movements themselves.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from line.models import UTCDateTime


class MovementKind(StrEnum):
    RECEIPT = "receipt"  # into stock, available
    RESERVATION = "reservation"  # available -> reserved for one application
    RELEASE = "release"  # reserved -> available
    CONSUMPTION = "consumption"  # reserved -> used by a card (a card body is taken)
    SPOILAGE = "spoilage"  # a used card body was spoiled (its chip is lost)
    ADJUSTMENT = "adjustment"  # stock count corrected, with a reason


def _kind() -> sa.Enum:
    return sa.Enum(
        MovementKind,
        native_enum=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        create_constraint=False,
    )


class StockItem(SQLModel, table=True):
    """Something the line uses up: chip card bodies, ribbons, overlay film."""

    __tablename__ = "stock_item"

    code: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=80)
    unit: str = Field(max_length=16)
    cards_per_unit: int = Field(default=1, ge=1)


class StockLot(SQLModel, table=True):
    """One delivery of an item. Chip lots carry the UID range of their chips."""

    __tablename__ = "stock_lot"
    __table_args__ = (sa.UniqueConstraint("item_code", "lot_number", name="uq_stock_lot_number"),)

    id: int | None = Field(default=None, primary_key=True)
    item_code: str = Field(foreign_key="stock_item.code", max_length=16, index=True)
    lot_number: str = Field(max_length=64)
    supplier: str = Field(max_length=120)
    quantity: int = Field(gt=0)
    received_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    first_uid: str | None = Field(default=None, max_length=32)
    last_uid: str | None = Field(default=None, max_length=32)
    defect_rate: float | None = Field(default=None, ge=0, le=1)
    purchase_order_id: int | None = Field(default=None, foreign_key="purchase_order.id")


class StockMovement(SQLModel, table=True):
    """Append-only (the database refuses UPDATE and DELETE). Balances are the lot's after it."""

    __tablename__ = "stock_movement"

    id: int | None = Field(default=None, primary_key=True)
    lot_id: int = Field(foreign_key="stock_lot.id", index=True)
    item_code: str = Field(max_length=16, index=True)
    kind: MovementKind = Field(sa_column=sa.Column(_kind(), nullable=False, index=True))
    quantity: int  # signed only for adjustments
    application_id: int | None = Field(default=None, index=True)
    card_serial: str | None = Field(default=None, max_length=32, index=True)
    reason: str | None = Field(default=None, max_length=200)
    actor: str = Field(max_length=64)
    at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False, index=True))
    on_hand_after: int  # in the store: available + reserved
    reserved_after: int
    consumed_after: int  # used by cards still good
    spoiled_after: int  # used by cards that were spoiled
    # The tamper-evident chain (``line.chain``).
    prev_hash: str | None = Field(default=None, max_length=64)
    row_hash: str | None = Field(default=None, max_length=64)


class ChipReservation(SQLModel, table=True):
    """A chip of a lot set aside for one application; at most one open per application."""

    __tablename__ = "chip_reservation"
    __table_args__ = (
        sa.Index(
            "uq_chip_reservation_open",
            "application_id",
            unique=True,
            sqlite_where=sa.text("state = 'reserved'"),
            postgresql_where=sa.text("state = 'reserved'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="application.id", index=True)
    lot_id: int = Field(foreign_key="stock_lot.id", index=True)
    state: str = Field(max_length=16)  # reserved / consumed / released
    card_serial: str | None = Field(default=None, max_length=32)
    reserved_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class PurchaseOrder(SQLModel, table=True):
    """A delivery expected from a supplier. Delayed orders keep their history in ``note``;
    a split order is a new order pointing at the one it came from."""

    __tablename__ = "purchase_order"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=64, unique=True)
    item_code: str = Field(foreign_key="stock_item.code", max_length=16)
    supplier: str = Field(max_length=120)
    quantity: int = Field(gt=0)
    expected_on: date
    status: str = Field(max_length=16)  # open / received / cancelled
    split_from_id: int | None = Field(default=None, foreign_key="purchase_order.id")
    note: str = Field(default="", max_length=2000)
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
