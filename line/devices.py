"""The ports of the line's devices: what the controller asks of a printer, an encoder, a QC station.

``printers`` implements them (real and virtual devices alike); the controller and the flows
only know these protocols, so they never know whether a device is real.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple, Protocol

from sqlmodel import Session

from line.card import CardData
from line.errors import DeviceError
from line.types import ApplicationId, CardSerial


@dataclass(frozen=True, slots=True)
class PrintedFace:
    """Where one card's printed faces are: pages of a batch's print-ready PDF (0-based)."""

    card_serial: CardSerial
    pdf: Path
    front_page: int
    back_page: int


class SpoiledCard(NamedTuple):
    """A card the printer spoiled, and why (a ``print.*`` reason code of ``line.reasons``)."""

    card_serial: CardSerial
    reason_code: str


@dataclass(frozen=True, slots=True)
class PrintJob:
    """The result of printing a batch: the PDF, the cards printed, the cards spoiled (with why)."""

    pdf: Path | None
    printed: tuple[PrintedFace, ...]
    spoiled: tuple[SpoiledCard, ...] = ()

    @property
    def serials(self) -> list[CardSerial]:
        """Every card the job handled: printed, then spoiled."""
        return [face.card_serial for face in self.printed] + [s.card_serial for s in self.spoiled]


class PrinterStopped(DeviceError):
    """A printer that stopped part-way through a batch (ribbon out): ``job`` is what it did
    before it stopped (cards printed and spoiled), ``None`` when it did nothing. The line
    records that part and leaves the other cards of the batch at print."""

    job: PrintJob | None = None


@dataclass(frozen=True, slots=True)
class ChipRecord:
    """A personalised, locked chip."""

    card_serial: CardSerial
    chip_uid: str  # hex


@dataclass(frozen=True, slots=True)
class QcVerdict:
    """QC of one card: passed, or the reason codes of every failed check; the chip as read back."""

    card_serial: CardSerial
    passed: bool
    reasons: tuple[str, ...] = ()
    chip_uid: str | None = None
    readback: Mapping[str, bytes] = field(default_factory=dict)  # EF.COM, DG1, DG2, DG13, SOD


class CardPrinter(Protocol):
    """Prints card faces. A card that the printer damages is listed as spoiled in the job;
    a fault that stops the printer (ribbon out, offline) raises ``line.errors.DeviceError``
    and the cards not yet printed stay at the print stage."""

    name: str

    def print_cards(self, cards: Sequence[CardData]) -> PrintJob: ...


class ChipEncoder(Protocol):
    """Writes the citizen's data to the card's chip, signs it and locks it.
    A defective chip raises ``line.errors.DeviceError`` with the reason code."""

    name: str

    def prepare(self, cards: Sequence[CardData]) -> None:
        """Called when a batch enters the line, so that an encoder that prepares its data
        ahead (signing on another core) does it while the batch is printed; an encoder
        with nothing to prepare does nothing (``EncodesOneByOne``'s default)."""
        ...

    def encode(self, card: CardData) -> ChipRecord: ...

    def encode_all(
        self, cards: Sequence[CardData]
    ) -> Iterator[tuple[CardData, ChipRecord | DeviceError]]:
        """``encode`` of each card as each is done: its chip, or the fault that spoiled it
        (a ``DeviceError`` naming the card); a fault of the encoder itself is raised."""
        ...


class QcStation(Protocol):
    """Reads the card back and inspects chip and face; never raises for a bad card."""

    name: str

    def inspect(self, card: CardData, face: PrintedFace, chip: ChipRecord) -> QcVerdict: ...

    def inspect_all(
        self, cards: Iterable[tuple[CardData, PrintedFace, ChipRecord]]
    ) -> Iterator[QcVerdict]:
        """``inspect`` of each card, in order (a station may overlap one card's checks with
        the next card's read-back)."""
        ...


class ChipStock(Protocol):
    """The chip card bodies (and the printer's consumables) in stock, as the line uses them
    (``inventory`` implements it).

    Every call works inside the caller's transaction (``session``). A stock that tracks no
    consumables subclasses this protocol and inherits ``supplies_left`` and ``use_supplies``
    as they are here: nothing tracked, nothing missing."""

    def supplies_left(self, *, session: Session) -> dict[str, int]:
        """Cards each tracked consumable (ribbon, film) can still print, checked before a
        batch starts: the line starts no more cards than the least of them."""
        return {}

    def use_supplies(self, *, session: Session, at: datetime) -> dict[str, int]:
        """The consumables a batch just started uses up: returns the units of each item
        needed but not in stock."""
        return {}

    def reserve(
        self, *, session: Session, application_ids: Sequence[ApplicationId], at: datetime
    ) -> set[ApplicationId]:
        """Reserve a chip for each application in the order given; returns those that hold
        one (those already holding one included). Stock may run out part-way."""
        ...

    def consume(
        self, *, session: Session, application_id: int, card_serial: str, at: datetime
    ) -> tuple[str, str]:
        """The application's reserved card body is taken for ``card_serial``: returns its
        lot number and its chip's UID."""
        ...

    def consume_all(
        self, *, session: Session, takes: Sequence[tuple[ApplicationId, str]], at: datetime
    ) -> list[tuple[str, str]]:
        """``consume`` for each (application id, card serial) of a batch just started, in
        order: a stock may book them in one pass. Here, card by card."""
        return [
            self.consume(session=session, application_id=app, card_serial=serial, at=at)
            for app, serial in takes
        ]

    def spoil(self, *, session: Session, card_serial: str, reason: str, at: datetime) -> None:
        """The card body taken for ``card_serial`` was spoiled."""
        ...


class EncodesOneByOne:
    """``encode_all`` for an encoder that does one card at a time (``encode``), with
    nothing to ``prepare``."""

    def prepare(self, cards: Sequence[CardData]) -> None:
        """Nothing to prepare: each card's data is made as it is encoded."""

    def encode(self, card: CardData) -> ChipRecord:
        raise NotImplementedError

    def encode_all(
        self, cards: Sequence[CardData]
    ) -> Iterator[tuple[CardData, ChipRecord | DeviceError]]:
        for card in cards:
            try:
                yield card, self.encode(card)
            except DeviceError as fault:
                if fault.card_serial != card.card_serial:
                    raise
                yield card, fault


class InspectsOneByOne:
    """``inspect_all`` for a QC station that does one card at a time (``inspect``)."""

    def inspect(self, card: CardData, face: PrintedFace, chip: ChipRecord) -> QcVerdict:
        raise NotImplementedError

    def inspect_all(
        self, cards: Iterable[tuple[CardData, PrintedFace, ChipRecord]]
    ) -> Iterator[QcVerdict]:
        return (self.inspect(card, face, chip) for card, face, chip in cards)
