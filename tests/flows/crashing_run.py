"""Run the real production flow, and die by SIGKILL at a chosen point of its second batch.

    python tests/flows/crashing_run.py POINT

The environment says which Prefect server (``PREFECT_API_URL``), cardline home and database
(``CARDLINE_HOME``, ``CARDLINE_DB_URL``) to use. POINT is one of ``POINTS``, or ``none`` to
run the flow to its end (exit 0, its summary as JSON on the last line of stdout). A kill
wraps the real function, so everything up to the chosen moment really happened: rows
flushed, PDFs written, chips personalised. Batches are counted as they start
(``start_prints``); a device call belongs to the batch of the card it handles.

A process that never reaches its point runs to the end and exits 0: the test sees that.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KILL_IN_BATCH = 2

POINTS: dict[str, str] = {
    "start": "chips being taken: the ledger's consume_all of the batch booked (start transaction "
    "open)",
    "printed": "the printer wrote the batch's PDF; the print is not recorded yet",
    "encode": "the encoder wrote 2 chips of the batch; the encoding is not recorded yet",
    "qc": "QC inspected 2 cards of the batch; the verdicts are not recorded yet",
    "record-print": "inside the print record: finish_stages flushed, not committed",
    "record-qc": "inside the QC record: finish_stages flushed, not committed",
}


def die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class Batches:
    """Which batch each card started in: ``start_prints`` runs once per batch started (the
    flow pipelines batches, so calls of the devices interleave across batches: a device
    call counts for the batch of the card it handles)."""

    number = 0
    of_card_id: dict[int, int] = {}
    of_serial: dict[str, int] = {}
    calls: dict[str, int] = {}

    @classmethod
    def count(cls, name: str, batch: int | None) -> int:
        """How many calls of ``name`` on cards of the kill batch so far (this one
        included); 0 for a call on other cards."""
        if batch != KILL_IN_BATCH:
            return 0
        cls.calls[name] = cls.calls.get(name, 0) + 1
        return cls.calls[name]


Kill = Callable[[tuple[Any, ...], dict[str, Any]], bool]


def after(owner: Any, attribute: str, *, kill: Kill) -> None:
    """Wrap ``owner.attribute``: call the real one, then die if ``kill(args, kwargs)``."""
    real = getattr(owner, attribute)

    @functools.wraps(real)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if kill(args, kwargs):
            die()
        return result

    setattr(owner, attribute, wrapper)


def after_each(owner: Any, attribute: str, *, serial_of: Callable[[Any], str], name: str,
               n: int) -> None:  # fmt: skip
    """Wrap the generator ``owner.attribute`` (a batch call yielding card by card): die
    once it has produced its ``n``th item for a card of the kill batch, before the line
    records it."""
    real = getattr(owner, attribute)

    @functools.wraps(real)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for item in real(*args, **kwargs):
            if Batches.count(name, Batches.of_serial.get(serial_of(item))) == n:
                die()
            yield item

    setattr(owner, attribute, wrapper)


def install(point: str) -> None:
    import line.controller
    import line.operations
    from inventory.ledger import LedgerChipStock
    from line.card import CardData
    from line.types import Stage
    from printers.chip.encoder import LdsEncoder
    from printers.face.printing import SpoolPrinter
    from printers.qc import Inspector

    real_start_prints = line.operations.start_prints  # the controller imported this one

    def start_prints(**kwargs: Any) -> Any:
        cards = real_start_prints(**kwargs)
        if cards:
            Batches.number += 1
            for card in cards:
                assert card.id is not None
                Batches.of_card_id[card.id] = Batches.number
                Batches.of_serial[card.serial] = Batches.number
        return cards

    vars(line.controller)["start_prints"] = start_prints

    def nth_card(name: str, n: int) -> Kill:
        """The ``n``th call of the kill batch, the card found in the call's arguments."""

        def kill(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
            serial = kwargs.get("card_serial")
            for arg in args:
                if isinstance(arg, CardData):
                    serial = arg.card_serial
                elif isinstance(arg, list) and arg and isinstance(arg[0], CardData):
                    serial = arg[0].card_serial
            return Batches.count(name, Batches.of_serial.get(str(serial))) == n

        return kill

    def batch_call(name: str) -> Kill:
        """The first call of the kill batch, the batch found by its first card's serial."""

        def kill(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
            takes = kwargs.get("takes") or []
            serial = str(takes[0][1]) if takes else ""
            return Batches.count(name, Batches.of_serial.get(serial)) == 1

        return kill

    if point == "start":
        # The batch's chips are taken in one call: die once it has booked them all.
        after(LedgerChipStock, "consume_all", kill=batch_call("consume_all"))
    elif point == "printed":
        after(SpoolPrinter, "print_cards", kill=nth_card("print", 1))
    elif point == "encode":  # the line encodes a batch through encode_all, card by card
        after_each(LdsEncoder, "encode_all", serial_of=lambda item: str(item[0].card_serial),
                   name="encode", n=2)  # fmt: skip
    elif point == "qc":  # and inspects it through inspect_all
        after_each(Inspector, "inspect_all", serial_of=lambda verdict: str(verdict.card_serial),
                   name="inspect", n=2)  # fmt: skip
    elif point in ("record-print", "record-qc"):
        stage = Stage.PRINT if point == "record-print" else Stage.QC

        def of_stage(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
            results = kwargs.get("results") or []
            if not results or results[0].stage is not stage:
                return False
            return Batches.count(point, Batches.of_card_id.get(results[0].card_id)) == 1

        # The controller calls the name it imported; the module's own is wrapped alike.
        after(line.controller, "finish_stages", kill=of_stage)
        line.operations.finish_stages = vars(line.controller)["finish_stages"]
    elif point != "none":
        raise SystemExit(f"unknown point {point!r}: expected one of {sorted(POINTS)} or none")


def main(point: str) -> int:
    install(point)
    from flows.production import production

    summary = production(batch_size=5, resume_after_seconds=0)
    print(json.dumps({"point": point, "batches_seen": Batches.number, "summary": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
