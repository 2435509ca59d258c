"""The card side of vsmartcard's vpcd protocol: put a ``VirtualChip`` in the "Virtual PCD".

Debian's ``vsmartcard-vpcd`` loads a reader driver into ``pcscd``
(``/etc/reader.conf.d/vpcd``: ``DEVICENAME /dev/null:0x8C7B``) that *listens* on TCP port
35963 (reader "Virtual PCD 00 00"; 35964 is "Virtual PCD 00 01"). A card emulator *connects*
to it. Every message, both ways, is a 2-byte big-endian length and a payload. A 1-byte payload
from vpcd is a control message: 0 power off, 1 power on, 2 reset (no reply), 4 "send the ATR"
(reply with the ATR). Anything else is a command APDU, answered with data + SW1 SW2.

Card presence is the connection itself (vpcd's ``vicc_present``: a connected emulator that
answers the ATR request is a card in the reader). So ``serve`` stays connected while a chip is
inserted, and disconnects (the reader looks empty) when none is; when the inserted chip
changes, it disconnects and reconnects, and pcscd sees a removal then an insertion (vpcd
notices the closed socket at its next presence poll and reports the slot empty before
accepting the new connection). When vpcd drops the connection, ``serve`` reconnects.

Start it so that pyscard sees a card: run ``pcscd`` (or ``pcscd --foreground &``), then
``python -m printers.chip.vpcd`` (blank chips of a lot, see ``main``);
``smartcard.System.readers()``
lists "Virtual PCD 00 00" and connecting to it finds a card.
"""

from __future__ import annotations

import argparse
import random
import signal
import socket
import struct
import threading
from collections.abc import Callable, Sequence

import structlog

from printers.chip.vchip import VirtualChip
from printers.chip.vlot import LotExhausted, VirtualChipLot
from printers.errors import PrintersError

VPCD_HOST = "127.0.0.1"
VPCD_PORT = 35963
CTRL_OFF = 0
CTRL_ON = 1
CTRL_RESET = 2
CTRL_ATR = 4

ChipSource = Callable[[], VirtualChip | None]
"""Gives the chip currently in the reader, or None for an empty reader."""

_log = structlog.get_logger("printers.chip.vpcd")


class ChipSlot:
    """A reader slot a driver or a test inserts chips into (thread-safe); pass it to ``serve``
    as the chip source."""

    def __init__(self, chip: VirtualChip | None = None) -> None:
        self._chip = chip
        self._lock = threading.Lock()

    def insert(self, chip: VirtualChip) -> None:
        """Put ``chip`` in the slot, taking out whichever chip was there."""
        with self._lock:
            self._chip = chip

    def remove(self) -> VirtualChip | None:
        """Take the chip out; returns it."""
        with self._lock:
            chip, self._chip = self._chip, None
            return chip

    def __call__(self) -> VirtualChip | None:
        with self._lock:
            return self._chip


class LotFeeder:
    """A chip source fed from a lot, like an encoder's card hopper: the first chip goes in at
    once; when the chip in the reader is locked and powered down (the encoder finished with it
    and disconnected), the lot's next chip takes its place. Once the lot is exhausted the
    reader stays empty. ``done`` lists the chips fed out, in order."""

    def __init__(self, lot: VirtualChipLot) -> None:
        self.lot = lot
        self.done: list[VirtualChip] = []
        self._lock = threading.Lock()
        self._chip: VirtualChip | None = self._next()

    def _next(self) -> VirtualChip | None:
        try:
            return self.lot.issue()
        except LotExhausted:
            _log.warning("vpcd.lot_exhausted", lot_number=self.lot.lot_number)
            return None

    def __call__(self) -> VirtualChip | None:
        with self._lock:
            chip = self._chip
            if chip is not None and chip.locked and not chip.powered:
                self.done.append(chip)
                self._chip = self._next()
            return self._chip


def handle_message(chip: VirtualChip, payload: bytes) -> bytes | None:
    """What the card answers to one vpcd message (None: no reply)."""
    if len(payload) == 1:
        control = payload[0]
        if control == CTRL_OFF:
            chip.power_off()
        elif control == CTRL_ON:
            chip.power_on()
        elif control == CTRL_RESET:
            chip.reset()
        elif control == CTRL_ATR:
            return chip.atr
        else:
            _log.warning("vpcd.unknown_control", control=control)
        return None
    return chip.transmit(payload)


def frame(payload: bytes) -> bytes:
    """A vpcd message: 2-byte big-endian length, then the payload."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"vpcd payload of {len(payload)} bytes is too long")
    return struct.pack("!H", len(payload)) + payload


class _Closed(PrintersError):
    """vpcd closed the connection."""


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _FrameReader:
    """Reads vpcd frames from a socket with a timeout; returns None when idle.

    vpcd (3.3 as Debian ships it) writes the 2-byte length and the payload with two
    ``send`` calls on a socket with Nagle's algorithm on: the payload waits until the length
    is acknowledged, and a delayed ACK costs ~40 ms per APDU. Asking for a quick ACK after
    every read (``TCP_QUICKACK``, which Linux clears again by itself) removes that wait."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()
        self.quickack()

    def quickack(self) -> None:
        if _QUICKACK is not None:
            self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)

    def next_frame(self) -> bytes | None:
        while True:
            if len(self._buffer) >= 2:
                (size,) = struct.unpack("!H", self._buffer[:2])
                if len(self._buffer) >= 2 + size:
                    payload = bytes(self._buffer[2 : 2 + size])
                    del self._buffer[: 2 + size]
                    return payload
            try:
                received = self._sock.recv(65536)
            except TimeoutError:
                return None
            if not received:
                raise _Closed("the connection was closed")
            self.quickack()
            self._buffer += received


def serve(
    chip_source: ChipSource,
    host: str = VPCD_HOST,
    port: int = VPCD_PORT,
    *,
    stop: threading.Event | None = None,
    poll_interval: float = 0.05,
    reconnect_delay: float = 0.2,
) -> None:
    """Serve the chips of ``chip_source`` to vpcd at ``host:port`` until ``stop`` is set
    (forever if None).

    ``poll_interval`` is how often, while idle, the chip source and ``stop`` are looked at;
    ``reconnect_delay`` is the wait between attempts to reach vpcd."""
    stop = stop if stop is not None else threading.Event()
    refused_logged = False
    while not stop.is_set():
        chip = chip_source()
        if chip is None:
            stop.wait(poll_interval)
            continue
        try:
            sock = socket.create_connection((host, port), timeout=max(reconnect_delay, 1.0))
        except OSError as exc:
            if not refused_logged:
                _log.info("vpcd.unreachable", host=host, port=port, error=str(exc))
                refused_logged = True
            stop.wait(reconnect_delay)
            continue
        refused_logged = False
        _log.info("vpcd.connected", host=host, port=port, uid=chip.uid.hex().upper())
        try:
            _session(sock, chip, chip_source, stop, poll_interval)
        finally:
            sock.close()
            chip.power_off()  # out of the reader, the chip has no power
        stop.wait(poll_interval)  # no tight loop if vpcd keeps hanging up
    _log.info("vpcd.stopped", host=host, port=port)


def _session(
    sock: socket.socket,
    chip: VirtualChip,
    chip_source: ChipSource,
    stop: threading.Event,
    poll_interval: float,
) -> None:
    """Answer vpcd until it hangs up, ``stop`` is set or the inserted chip changes."""
    sock.settimeout(poll_interval)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = _FrameReader(sock)
    while True:
        try:
            payload = reader.next_frame()
        except (_Closed, OSError):
            _log.info("vpcd.disconnected", uid=chip.uid.hex().upper())
            return
        if stop.is_set():
            return
        if chip_source() is not chip:
            _log.info("vpcd.card_removed", uid=chip.uid.hex().upper())
            return
        if payload is None:
            continue
        reply = handle_message(chip, payload)
        if reply is None:
            continue
        try:
            sock.sendall(frame(reply))
            reader.quickack()  # sending may have put the socket back into delayed-ACK mode
        except OSError:
            _log.info("vpcd.disconnected", uid=chip.uid.hex().upper())
            return


def main(argv: Sequence[str] | None = None) -> int:
    """Serve blank virtual chips to vpcd until SIGINT or SIGTERM: a lot of them, the next
    one inserted each time the encoder has locked the current one and let go of it."""
    parser = argparse.ArgumentParser(prog="python -m printers.chip.vpcd", description=main.__doc__)
    parser.add_argument("--host", default=VPCD_HOST)
    parser.add_argument("--port", type=int, default=VPCD_PORT)
    parser.add_argument("--lot", default="VCHIP-0001", help="lot number")
    parser.add_argument("--first-uid", default="04000000000001", help="first UID, hex (7 bytes)")
    parser.add_argument("--count", type=int, default=1_000_000, help="chips in the lot")
    parser.add_argument("--defect-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    first = bytes.fromhex(args.first_uid)
    lot = VirtualChipLot(
        args.lot,
        int.from_bytes(first, "big"),
        args.count,
        args.defect_rate,
        random.Random(args.seed),
        uid_bytes=len(first),
    )
    serve_until_signalled(LotFeeder(lot), args.host, args.port)
    return 0


def serve_until_signalled(chip_source: ChipSource, host: str, port: int) -> None:
    """``serve`` until SIGINT or SIGTERM (from the main thread of a command)."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    serve(chip_source, host, port, stop=stop)


if __name__ == "__main__":
    raise SystemExit(main())
