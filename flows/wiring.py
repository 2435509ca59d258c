"""Builds the line's devices from the settings: the one place that knows which are virtual.

- printer: ``virtual`` (spooled PDFs, jams and offline batches at the spec's rates, seeded),
  ``spool`` (spooled PDFs only) or ``cups:QUEUE`` (spooled and submitted to a CUPS queue);
- chips: with the stock ledger (``CARDLINE_CHIP_STOCK=ledger``, the default) each card body's
  chip has the UID the ledger gave it from its lot, defective with the lot's measured
  defect rate (else the spec's chip-encode failure rate), seeded; without (``none``) chips
  come from a virtual lot whose UIDs continue after the highest one recorded. They are
  reached in process, or through pcscd and the vpcd virtual reader
  (``CARDLINE_CHIP_TRANSPORT=pcsc``; pcscd must be running);
- keys: the CSCA and Document Signer certificates under ``CARDLINE_KEYS_DIR`` (``cardline
  keys init``); the Document Signer's key in its PKCS#11 token (the embedded SoftHSM2 one,
  or the centre's HSM: ``CARDLINE_PKCS11_MODULE``), opened here, checked to be within its
  private key usage period before the run starts, and once more in each helper process.
"""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from flows.archive import CardArchive
from flows.errors import FlowsError
from inventory.ledger import LedgerChipStock, register_consumables
from line.controller import DEVICE_RETRIES, Devices, LineController, Screen, photo_problem
from line.db import session_scope
from line.devices import CardPrinter, ChipStock
from line.models import Card
from line.settings import Settings
from line.spec import LineSpec
from line.types import CardState, Clock, Stage, utc_now

if TYPE_CHECKING:
    from line.sealed import Sealer
    from printers.chip.bodies import CardBodies, Connect
    from printers.chip.vchip import VirtualChip

FIRST_VIRTUAL_UID = 0x04_C1_00_00_00_00_01  # 7-byte UIDs; 0x04 is NXP's manufacturer byte
VIRTUAL_LOT_SIZE = 10_000_000
UID_BYTES = 7


class WiringError(FlowsError):
    """The devices cannot be set up as the settings ask."""


@dataclass
class Line:
    devices: Devices
    archive: CardArchive
    close: Callable[[], None]
    stock: ChipStock | None = None  # None: chips are not tracked (a virtual lot feeds the line)
    screen: Screen | None = photo_problem  # what is checked before a card body is taken

    def controller(
        self,
        *,
        engine: Engine,
        spec: LineSpec,
        actor: str,
        resume_after: timedelta,
        device_retries: int = DEVICE_RETRIES,
    ) -> LineController:
        """The controller that drives these devices (the direct run retries device faults
        itself; the flow passes 0 and leaves them to its tasks' retry policy)."""
        return LineController(
            engine=engine, spec=spec, devices=self.devices, clock=utc_now, actor=actor,
            archive=self.archive, stock=self.stock, resume_after=resume_after,
            screen=self.screen, device_retries=device_retries,
        )  # fmt: skip


class StockedChips:
    """Virtual chips as the stock ledger issued them: the card's recorded UID, defective with
    the lot's measured defect rate (or the spec's chip-encode failure rate), seeded.

    The chips of every card at print (each batch's, recorded when it started) are looked up
    in one query when the first of them is asked for, not one query a card; each chip's
    defect is drawn as it is issued, as before."""

    def __init__(self, engine: Engine, spec: LineSpec, rng: random.Random) -> None:
        self.engine = engine
        self.default_rate = spec.stage(Stage.ENCODE).failure_rate
        self.rng = rng
        self._known: dict[str, tuple[str | None, float | None]] = {}  # serial -> uid, rate

    def __call__(self, card_serial: str) -> VirtualChip:
        from printers.chip.vchip import VirtualChip

        if card_serial not in self._known:
            self._known = self._look_up(card_serial)
        uid, rate = self._known.pop(card_serial, (None, None))
        if uid is None:
            raise WiringError(f"card {card_serial} took no chip from stock")
        rate = rate if rate is not None else self.default_rate
        return VirtualChip(bytes.fromhex(uid), defective=self.rng.random() < rate)

    def _look_up(self, card_serial: str) -> dict[str, tuple[str | None, float | None]]:
        """The chip UID and lot defect rate of ``card_serial`` and of every card at print."""
        from inventory.models import StockLot

        cards, lots = Card.__table__, StockLot.__table__  # type: ignore[attr-defined]
        at_print = [CardState.PRINTING.value, CardState.PRINTED.value]
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(cards.c.serial, cards.c.chip_uid, lots.c.defect_rate)
                .select_from(
                    cards.outerjoin(
                        lots, (lots.c.lot_number == cards.c.chip_lot) & (lots.c.item_code == "chip")
                    )
                )
                .where((cards.c.serial == card_serial) | cards.c.state.in_(at_print))
            ).all()
        return {serial: (uid, rate) for serial, uid, rate in rows}


def next_chip_uid(engine: Engine) -> int:
    """The first UID after every chip the database has recorded (a chip is used once, ever)."""
    table = Card.__table__  # type: ignore[attr-defined]
    uid = table.c.chip_uid
    with engine.connect() as connection:
        # Same-length upper-case hex strings sort as their numbers: the index answers this.
        top = connection.execute(
            sa.select(sa.func.max(uid)).where(sa.func.length(uid) == 2 * UID_BYTES)
        ).scalar_one_or_none()
    highest = int(top, 16) if top else FIRST_VIRTUAL_UID - 1
    return max(highest + 1, FIRST_VIRTUAL_UID)


def machine_names(settings: Settings) -> dict[str, Stage]:
    """The machines this worker drives, by name, and their stages (what ``build_line``
    names its devices): known before any device is built, e.g. to check the station."""
    kind = settings.printer
    printer = kind if kind.startswith("cups:") else f"print-{settings.station}"
    return {
        printer: Stage.PRINT,
        f"encode-{settings.station}": Stage.ENCODE,
        f"qc-{settings.station}": Stage.QC,
    }


def _printer(
    settings: Settings,
    spec: LineSpec,
    rng: random.Random,
    clock: Clock,
    render_in: Executor | None,
    sealer: Sealer | None = None,
) -> CardPrinter:
    from printers.face.printing import CupsPrinter, SpoolPrinter, VirtualPrinter

    kind = settings.printer
    if kind in ("virtual", "spool"):
        name = f"print-{settings.station}"  # as machine_names says
        spool = SpoolPrinter(
            settings.spool_dir, name=name, clock=clock, render_in=render_in, sealer=sealer
        )
        if kind == "spool":
            return spool
        return VirtualPrinter.from_spec(spec.stage(Stage.PRINT), spool, rng, name=name)
    if kind.startswith("cups:") and len(kind) > len("cups:"):
        queue = kind.removeprefix("cups:")
        return CupsPrinter(queue, settings.spool_dir, clock=clock, sealer=sealer)
    raise WiringError(f"CARDLINE_PRINTER={kind!r}: expected virtual, spool or cups:QUEUE")


def die_with_parent() -> None:
    """In a helper process: end when the line's process is gone, even killed outright,
    instead of lingering with its pipes open. (Not PR_SET_PDEATHSIG: that fires when the
    *thread* that started the helper ends, and helpers start from the printer's thread.)"""
    import os
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def build_line(*, settings: Settings, spec: LineSpec, engine: Engine, clock: Clock) -> Line:
    """The line's devices as the settings ask: keys and signer, card bodies with their chips
    (from the stock ledger or a virtual lot), the transport, the helper processes, and the
    printer, encoder and QC station; ``close`` stops what it started."""
    from printers.atrest import sealer_for
    from printers.chip.encoder import LdsEncoder
    from printers.keys import KeyPaths, load_csca, load_ds_certificate, load_signer
    from printers.pki import check_key_usage_period
    from printers.qc import Inspector

    keys = KeyPaths.from_settings(settings)
    if not keys.ds_cert.exists():
        raise WiringError(
            f"no Document Signer in {settings.keys_path}: run `cardline keys init` "
            "(test keys) or set CARDLINE_KEYS_DIR to the centre's keys"
        )
    # One clear line, before any card is taken, when the DS key may no longer sign.
    check_key_usage_period(load_ds_certificate(keys), at=clock())
    signer = load_signer(keys)
    sealer = sealer_for(keys)  # personal data at rest: the data key, unwrapped once here
    first_uid = next_chip_uid(engine)
    seed = f"{settings.seed}:{first_uid:X}"  # reproducible, yet new faults for every run
    bodies, stock = _bodies(settings, spec, engine, first_uid, seed, sealer)
    connect, reader_close = _transport(settings, bodies)
    render_in, verify_in = _helpers(settings)
    archive = CardArchive(settings.cards_dir, sealer=sealer)

    def close_all() -> None:
        reader_close()
        for pool in (render_in, verify_in):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        archive.close()
        signer.close()

    devices = Devices(
        printer=_printer(
            settings, spec, random.Random(f"{seed}:printer"), clock, render_in, sealer
        ),
        encoder=LdsEncoder(
            name=f"encode-{settings.station}",
            signer=signer,
            connect=connect,
            clock=clock,
            prepare_in=render_in,
            sign_in=verify_in,  # encode and QC take turns: one helper serves both
            keys=keys if verify_in is not None else None,
        ),
        qc=Inspector(
            name=f"qc-{settings.station}",
            connect=connect,
            csca=load_csca(keys.csca_cert),
            rng=random.Random(f"{seed}:qc"),
            qr_sample_rate=settings.qr_sample_rate,
            verify_in=verify_in,
            keys=keys,  # the face PDFs are sealed: the helper unwraps the data key once
        ),
    )
    return Line(devices=devices, archive=archive, close=close_all, stock=stock)


def _bodies(
    settings: Settings,
    spec: LineSpec,
    engine: Engine,
    first_uid: int,
    seed: str,
    sealer: Sealer | None = None,
) -> tuple[CardBodies, ChipStock | None]:
    """The card bodies and where their chips come from: the stock ledger (each card body's
    chip is the one the ledger gave it at print start) or a virtual lot."""
    from printers.chip.bodies import CardBodies
    from printers.chip.vimage import ChipImages
    from printers.chip.vlot import VirtualChipLot

    # Virtual chips keep an image of their memory once personalised: the same chip for a
    # later run (after a crash) and for outside readers (cardline chip serve --card).
    images = ChipImages(settings.chips_dir, sealer=sealer)
    if settings.chip_stock == "ledger":
        with session_scope(engine) as session:
            register_consumables(session=session, consumables=spec.consumables)
        supply = StockedChips(engine, spec, random.Random(f"{seed}:chips"))
        return CardBodies(supply=supply, images=images), LedgerChipStock(
            actor=f"line@{settings.centre}"
        )
    if settings.chip_stock == "none":
        lot = VirtualChipLot(
            f"VLOT-{first_uid:014X}",
            first_uid,
            VIRTUAL_LOT_SIZE,
            spec.stage(Stage.ENCODE).failure_rate,
            random.Random(f"{seed}:chips"),
        )
        return CardBodies(lot, images=images), None
    raise WiringError(f"CARDLINE_CHIP_STOCK={settings.chip_stock!r}: expected ledger or none")


def _transport(settings: Settings, bodies: CardBodies) -> tuple[Connect, Callable[[], None]]:
    """How the encoder and QC reach a card: in process, or through PC/SC (pcscd, vpcd)."""
    from printers.chip.bodies import PcscReader

    if settings.chip_transport == "inprocess":
        return bodies.in_process, lambda: None
    if settings.chip_transport == "pcsc":
        reader = PcscReader(bodies)
        return reader.connect, reader.close
    raise WiringError(
        f"CARDLINE_CHIP_TRANSPORT={settings.chip_transport!r}: expected inprocess or pcsc"
    )


def _helpers(
    settings: Settings,
) -> tuple[ProcessPoolExecutor | None, ProcessPoolExecutor | None]:
    """The rendering processes, and QC's verification helper (passive authentication and
    the face in a process of its own, beside the chip read here, never queued behind a
    batch's rendering); none with CARDLINE_RENDER_PROCESSES=0."""
    if not settings.render_processes:
        return None, None
    # spawn, not fork: this process may run threads (the vpcd emulator).
    render_in = ProcessPoolExecutor(
        max_workers=settings.render_processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
    )
    verify_in = ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent
    )
    return render_in, verify_in
