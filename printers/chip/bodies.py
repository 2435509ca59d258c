"""Card bodies of the virtual line: each card serial gets the chip embedded in its card body.

A real line carries the card body from printer to encoder to QC; the virtual line keeps
the card's ``VirtualChip`` here so that encoder and QC talk to the same chip, either in
process or through pcscd and vpcd (the chip is inserted in the emulator's reader).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from printers.chip.transport import ChipTransport, InProcessTransport, NoCard, PcscTransport
from printers.chip.vchip import VirtualChip
from printers.chip.vimage import ChipImages
from printers.chip.vlot import VirtualChipLot
from printers.chip.vpcd import ChipSlot, serve

Connect = Callable[[str], AbstractContextManager[ChipTransport]]
"""Opens a connection to the chip of one card serial."""


ChipSupply = Callable[[str], VirtualChip]
"""The chip embedded in a card serial's card body (for instance, as the stock ledger says)."""


class CardBodies:
    """The chips of the cards on the line: from ``supply`` (given the card serial), or else
    issued in turn from a virtual ``lot`` as cards enter the line.

    Only the most recent ``keep`` chips are held: a card leaves the line after QC.
    """

    def __init__(
        self,
        lot: VirtualChipLot | None = None,
        *,
        supply: ChipSupply | None = None,
        keep: int = 10_000,
        images: ChipImages | None = None,
    ) -> None:
        if (lot is None) == (supply is None):
            raise ValueError("give either a lot or a supply")
        self.lot = lot
        self.supply = supply
        self.keep = keep
        self.images = images
        self._chips: OrderedDict[str, VirtualChip] = OrderedDict()
        self._saved: set[str] = set()
        self._lock = threading.Lock()

    def chip(self, card_serial: str) -> VirtualChip:
        with self._lock:
            chip = self._chips.get(card_serial)
            if chip is None and self.images is not None and self.images.has(card_serial):
                # Personalised by an earlier run that stopped before QC: the same chip.
                chip = self._chips[card_serial] = self.images.load(card_serial)
                self._saved.add(card_serial)
            if chip is None:
                if self.supply is not None:
                    chip = self.supply(card_serial)
                else:
                    assert self.lot is not None
                    chip = self.lot.issue()
                self._chips[card_serial] = chip
                while len(self._chips) > self.keep:
                    self._chips.popitem(last=False)
            else:
                self._chips.move_to_end(card_serial)
            return chip

    def personalised(self, card_serial: str, chip: VirtualChip) -> None:
        """Keep the image of a chip once it is locked (``images``: virtual chips only), so that
        the card's chip can be presented to outside readers, or read by a later run."""
        if self.images is None or not chip.locked or card_serial in self._saved:
            return
        self.images.save(card_serial, chip)
        self._saved.add(card_serial)

    @contextmanager
    def in_process(self, card_serial: str) -> Iterator[ChipTransport]:
        """A transport straight to the card's chip, in this process."""
        chip = self.chip(card_serial)
        chip.power_on()
        try:
            yield InProcessTransport(chip)
        finally:
            chip.power_off()
            self.personalised(card_serial, chip)


class PcscReader:
    """The card's chip in the vpcd emulator's reader, reached through pcscd with pyscard.

    Starts the emulator (a thread of this process, connected to vpcd on ``port``) unless
    given the ``slot`` of an emulator already running; pcscd must be running with the
    vsmartcard-vpcd driver.
    """

    def __init__(
        self,
        bodies: CardBodies,
        *,
        reader: str = "Virtual PCD 00 00",
        host: str = "127.0.0.1",
        port: int = 35963,
        timeout: float = 10.0,
        slot: ChipSlot | None = None,
    ) -> None:
        self.bodies = bodies
        self.reader = reader
        self.timeout = timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if slot is None:
            slot = ChipSlot()
            self._thread = threading.Thread(
                target=serve,
                args=(slot, host, port),
                kwargs={"stop": self._stop},
                name="vpcd-emulator",
                daemon=True,
            )
            self._thread.start()
        self.slot = slot

    @contextmanager
    def connect(self, card_serial: str) -> Iterator[ChipTransport]:
        chip = self.bodies.chip(card_serial)
        if self.slot() is not chip:
            self.slot.insert(chip)
        transport = self._connect_to(chip)
        try:
            yield transport
        finally:
            transport.close()
            self.bodies.personalised(card_serial, chip)

    def _connect_to(self, chip: VirtualChip) -> PcscTransport:
        """A connection to ``chip``: pcscd notices a swapped card only after a moment, so a
        connection that still reaches the previous card is dropped and tried again."""
        deadline = time.monotonic() + self.timeout
        reinsert_at = time.monotonic() + self.timeout / 3
        while True:
            transport = PcscTransport(self.reader, timeout=self.timeout)
            transport.connect()
            if transport.uid() == chip.uid:
                return transport
            transport.close()
            if time.monotonic() > reinsert_at:
                # pcscd polls for presence and can miss a quick swap: take the card out
                # long enough to be seen gone, then put it back.
                self.slot.remove()
                time.sleep(0.5)
                self.slot.insert(chip)
                reinsert_at = time.monotonic() + self.timeout / 3
            if time.monotonic() > deadline:
                raise NoCard(
                    f"{self.reader}: the reader still shows another card after {self.timeout:g} s",
                    device=self.reader,
                )
            time.sleep(0.02)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
