"""Observers of a chip transport (``printers.chip.transport.BaseTransport`` notifies them):
each gets an ``ApduEvent`` per command, response or link failure, with its header, lengths,
status word and time, never the data bytes, which are personal data. ``TraceObserver`` logs
them with structlog; ``MetricsObserver`` counts them. Tracing and metrics are observers, not
code inside the adapters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from printers.chip.apdu import Apdu

EventKind = Literal["command", "response", "error"]


@dataclass(frozen=True, slots=True)
class ApduEvent:
    """What observers see of one exchange: no data bytes, by construction.

    ``kind`` is ``command`` (before sending), ``response`` (status word known) or ``error``
    (the link failed: ``reason_code`` set, no status word)."""

    kind: EventKind
    device: str
    cla: int
    ins: int
    p1: int
    p2: int
    lc: int
    le: int | None
    sw: str | None = None
    response_length: int | None = None
    elapsed_s: float | None = None
    reason_code: str | None = None

    @classmethod
    def of(cls, kind: EventKind, device: str, apdu: Apdu, **rest: Any) -> ApduEvent:
        """The event of ``apdu``: its header and lengths, plus ``rest``."""
        header = (apdu.cla, apdu.ins, apdu.p1, apdu.p2)
        return cls(kind, device, *header, lc=len(apdu.data), le=apdu.le, **rest)


TransportObserver = Callable[[ApduEvent], None]
"""Anything called with each ``ApduEvent`` (a function, a bound method, an object)."""


class TraceObserver:
    """Logs every response or failure: CLA INS P1 P2, Lc, Le, SW, response length, time."""

    def __init__(self, logger: Any = None, *, level: str = "debug") -> None:
        self._log = logger if logger is not None else structlog.get_logger("printers.chip.apdu")
        self._level = level

    def __call__(self, event: ApduEvent) -> None:
        if event.kind == "command":
            return
        getattr(self._log, self._level)(
            "apdu",
            device=event.device,
            cla=f"{event.cla:02X}",
            ins=f"{event.ins:02X}",
            p1p2=f"{event.p1:02X}{event.p2:02X}",
            lc=event.lc,
            le=event.le,
            sw=event.sw,
            response_length=event.response_length,
            elapsed_ms=round(event.elapsed_s * 1000, 3) if event.elapsed_s is not None else None,
            reason_code=event.reason_code,
        )


class MetricsObserver:
    """Counts exchanges by INS and by status word, and their total time."""

    def __init__(self) -> None:
        self.commands: Counter[str] = Counter()
        self.status_words: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.bytes_sent = 0
        self.seconds = 0.0

    def __call__(self, event: ApduEvent) -> None:
        if event.kind == "command":
            self.commands[f"{event.ins:02X}"] += 1
            self.bytes_sent += event.lc
            return
        if event.elapsed_s is not None:
            self.seconds += event.elapsed_s
        if event.kind == "response" and event.sw is not None:
            self.status_words[event.sw] += 1
        elif event.reason_code is not None:
            self.errors[event.reason_code] += 1
