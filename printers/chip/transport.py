"""Chip transports: how APDUs reach a chip.

``ChipTransport`` is the port personalisation and read-back talk to. ``BaseTransport`` is its
template method (after pyscard's ``CardConnection.transmit``): notify observers of the
command, call the subclass's ``_do_transmit``, fetch ``61xx`` remainders and retry ``6Cxx``,
notify observers of the response, then run the status-word checking chain, which raises a
typed ``ChipError`` for anything but ``9000``. Subclasses only move bytes and translate their
own failures:

- ``InProcessTransport`` hands the bytes to a ``VirtualChip`` in this process;
- ``PcscTransport`` goes through pyscard to ``pcscd`` and a reader (a real one, or vsmartcard's
  "Virtual PCD" forwarding to ``printers.chip.vpcd``), turning PC/SC failures into
  ``ReaderUnavailable`` / ``ReaderNotFound`` / ``NoCard`` / ``CardRemoved`` /
  ``TransportFailure``.

Observers get an ``ApduEvent``: header, lengths, status word and time, never the data bytes,
which are personal data. ``TraceObserver`` logs them with structlog; ``MetricsObserver``
counts them (both in :mod:`printers.chip.observers`, re-exported here).
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, Protocol, Self

from printers.chip.apdu import (
    DEFAULT_CHAIN,
    Apdu,
    ChipError,
    ErrorCheckingChain,
    get_response,
    get_uid,
)
from printers.chip.observers import ApduEvent as ApduEvent
from printers.chip.observers import EventKind as EventKind
from printers.chip.observers import MetricsObserver as MetricsObserver
from printers.chip.observers import TraceObserver as TraceObserver
from printers.chip.observers import TransportObserver as TransportObserver
from printers.chip.vchip import VirtualChip

_MAX_GET_RESPONSE = 64  # 61xx rounds before giving up (64 x 256 bytes is far beyond any EF)


class ChipTransport(Protocol):
    """Sends APDUs to one chip. ``transmit`` returns (data, SW1, SW2) and raises a typed
    ``ChipError`` for any status word but ``9000`` and for any failure of the link;
    ``send`` moves raw command bytes and returns (data, status word) whatever it is."""

    name: str

    def transmit(self, apdu: Apdu) -> tuple[bytes, int, int]: ...

    def send(self, command: bytes) -> tuple[bytes, int]: ...

    def uid(self) -> bytes: ...


# --- the template -------------------------------------------------------------------------


class BaseTransport(ABC):
    """Template method for ``ChipTransport``; subclasses implement ``_do_transmit`` only.

    ``extended_length``: whether the link carries extended-length APDUs (a reader uses
    them only with a chip that declares them too: ``printers.chip.atrinfo``)."""

    extended_length: bool = False

    def __init__(
        self,
        *,
        name: str,
        observers: Iterable[TransportObserver] = (),
        chain: ErrorCheckingChain = DEFAULT_CHAIN,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.name = name
        self.chain = chain
        self._observers: list[TransportObserver] = list(observers)
        self._clock = clock

    def add_observer(self, observer: TransportObserver) -> None:
        self._observers.append(observer)

    def remove_observer(self, observer: TransportObserver) -> None:
        self._observers.remove(observer)

    def _notify(self, event: ApduEvent) -> None:
        for observer in self._observers:
            observer(event)

    def transmit(self, apdu: Apdu) -> tuple[bytes, int, int]:
        """Send ``apdu``; return (data, SW1, SW2) with SW ``9000``, or raise a ``ChipError``."""
        data, sw1, sw2 = self._observed(apdu)
        self.chain.check(sw1, sw2, command=apdu, device=self.name)
        return data, sw1, sw2

    def send(self, command: bytes) -> tuple[bytes, int]:
        """Send raw command bytes and return the response data and status word, whatever the
        status word: for the protocols that read it themselves (BAC, secure messaging, whose
        status word is inside the protected response). Link failures still raise."""
        if not self._observers:  # the hot path of secure messaging: bytes straight through
            data, sw1, sw2 = self._do_send(command)
            if sw1 not in (0x61, 0x6C):
                return data, (sw1 << 8) | sw2
        try:
            apdu = Apdu.from_bytes(command, extended=self.extended_length)
        except ValueError as exc:
            raise TransportFailure(
                f"{self.name}: not a short APDU: {exc}", device=self.name
            ) from None
        data, sw1, sw2 = self._observed(apdu)
        return data, (sw1 << 8) | sw2

    def _do_send(self, command: bytes) -> tuple[bytes, int, int]:
        """Move raw command bytes (``_do_transmit`` of the parsed APDU unless a subclass
        moves bytes itself)."""
        try:
            apdu = Apdu.from_bytes(command, extended=self.extended_length)
        except ValueError as exc:
            raise TransportFailure(
                f"{self.name}: not a short APDU: {exc}", device=self.name
            ) from None
        return self._do_transmit(apdu)

    def _observed(self, apdu: Apdu) -> tuple[bytes, int, int]:
        if not self._observers:  # nobody watches: no events to make (the line's hot path)
            return self._exchange(apdu)
        self._notify(ApduEvent.of("command", self.name, apdu))
        started = self._clock()
        try:
            data, sw1, sw2 = self._exchange(apdu)
        except ChipError as error:
            elapsed = self._clock() - started
            self._notify(
                ApduEvent.of(
                    "error", self.name, apdu, elapsed_s=elapsed, reason_code=error.reason_code
                )
            )
            raise
        elapsed = self._clock() - started
        sw = f"{sw1:02X}{sw2:02X}"
        self._notify(
            ApduEvent.of(
                "response", self.name, apdu, sw=sw, response_length=len(data), elapsed_s=elapsed
            )
        )
        return data, sw1, sw2

    def _exchange(self, apdu: Apdu) -> tuple[bytes, int, int]:
        """One command, with the T=0 conventions handled: ``6Cxx`` resends with Le=xx once;
        ``61xx`` fetches the rest with GET RESPONSE."""
        data, sw1, sw2 = self._do_transmit(apdu)
        if sw1 == 0x6C and apdu.le is not None:
            retry = Apdu(apdu.cla, apdu.ins, apdu.p1, apdu.p2, apdu.data, le=sw2 or 256)
            data, sw1, sw2 = self._do_transmit(retry)
        rounds = 0
        while sw1 == 0x61 and rounds < _MAX_GET_RESPONSE:
            more, sw1, sw2 = self._do_transmit(get_response(sw2))
            data += more
            rounds += 1
        return data, sw1, sw2

    def uid(self) -> bytes:
        """The chip's UID, from the PC/SC GET DATA pseudo-APDU ``FF CA 00 00 00``."""
        data, _, _ = self.transmit(get_uid())
        return data

    @abstractmethod
    def _do_transmit(self, apdu: Apdu) -> tuple[bytes, int, int]:
        """Move the bytes: return (data, SW1, SW2) as the chip answered; raise a
        ``ChipError`` (not a status word one) if the link failed."""

    @abstractmethod
    def close(self) -> None:
        """Release the link; the card is powered down."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class TransportFailure(ChipError):
    """The link to the chip failed: no usable response."""

    reason = "encode.transport_failure"


class ReaderUnavailable(TransportFailure):
    """The PC/SC service or the reader is not available."""

    reason = "encode.reader_unavailable"


class ReaderNotFound(TransportFailure):
    """No reader's name matches."""

    reason = "encode.reader_not_found"


class NoCard(TransportFailure):
    """The reader is there but holds no card."""

    reason = "encode.no_card"


class CardRemoved(TransportFailure):
    """The card left the reader (or was reset by someone else) during the session."""

    reason = "encode.card_removed"


def _split(response: bytes | list[int], device: str) -> tuple[bytes, int, int]:
    if len(response) < 2:
        raise TransportFailure(f"{device}: chip is mute (no status word)", device=device)
    raw = bytes(response)
    return raw[:-2], raw[-2], raw[-1]


class InProcessTransport(BaseTransport):
    """Talks to a ``VirtualChip`` in this process, as if it sat in a reader (powers it on).
    It carries extended-length APDUs unless ``extended_length`` is False (a reader of
    short APDUs only)."""

    def __init__(
        self,
        chip: VirtualChip,
        *,
        observers: Iterable[TransportObserver] = (),
        chain: ErrorCheckingChain = DEFAULT_CHAIN,
        clock: Callable[[], float] = time.perf_counter,
        extended_length: bool = True,
    ) -> None:
        super().__init__(
            name=f"vchip:{chip.uid.hex().upper()}", observers=observers, chain=chain, clock=clock
        )
        self.extended_length = extended_length
        self.chip = chip
        if not chip.powered:
            chip.power_on()

    def _do_transmit(self, apdu: Apdu) -> tuple[bytes, int, int]:
        return _split(self.chip.transmit(apdu.to_bytes()), self.name)

    def _do_send(self, command: bytes) -> tuple[bytes, int, int]:
        return _split(self.chip.transmit(command), self.name)

    def close(self) -> None:
        """Take the chip out of the (virtual) reader: it is powered down."""
        self.chip.power_off()


class PcscTransport(BaseTransport):
    """Talks PC/SC through pyscard to the first reader whose name contains
    ``reader_name_substring`` and holds a card.

    It connects on first use (or ``connect()``), waiting up to ``timeout`` seconds for such a
    reader and card; ``exclusive`` keeps other PC/SC clients off the card while it is used.
    One transport serves one card: after the card is swapped, open a new one."""

    def __init__(
        self,
        reader_name_substring: str = "Virtual PCD",
        *,
        timeout: float = 5.0,
        poll_interval: float = 0.05,
        exclusive: bool = True,
        observers: Iterable[TransportObserver] = (),
        chain: ErrorCheckingChain = DEFAULT_CHAIN,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            name=f"pcsc:{reader_name_substring}", observers=observers, chain=chain, clock=clock
        )
        self.reader_name_substring = reader_name_substring
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.exclusive = exclusive
        self.reader: str | None = None
        self._sleep = sleep
        self._connection: Any = None

    def connect(self) -> None:
        """Connect to the card, waiting up to ``timeout`` seconds for a reader and a card."""
        if self._connection is not None:
            return
        deadline = self._clock() + self.timeout
        while True:
            try:
                self._connect_once()
                return
            except (ReaderUnavailable, ReaderNotFound, NoCard):
                if self._clock() >= deadline:
                    raise
            self._sleep(self.poll_interval)

    def _connect_once(self) -> None:
        from smartcard.Exceptions import NoCardException, SmartcardException
        from smartcard.pcsc.PCSCExceptions import BaseSCardException
        from smartcard.scard import SCARD_SHARE_EXCLUSIVE, SCARD_SHARE_SHARED
        from smartcard.System import readers

        wanted = self.reader_name_substring
        try:
            found = [reader for reader in readers() if wanted in str(reader)]
        except BaseSCardException as exc:
            raise ReaderUnavailable(
                f"PC/SC service not available for reader '{wanted}' (is pcscd running?): {exc}",
                device=self.name,
                reader=wanted,
            ) from exc
        if not found:
            raise ReaderNotFound(
                f"no PC/SC reader matching '{wanted}'", device=self.name, reader=wanted
            )
        mode = SCARD_SHARE_EXCLUSIVE if self.exclusive else SCARD_SHARE_SHARED
        empty: list[str] = []
        for reader in found:
            connection = None
            try:
                connection = reader.createConnection()
                connection.connect(mode=mode)
            except NoCardException:
                empty.append(str(reader))
                _release(connection)
                continue
            except SmartcardException as exc:
                _release(connection)
                raise ReaderUnavailable(
                    f"reader '{reader}' unavailable: {exc}",
                    device=f"pcsc:{reader}",
                    reader=str(reader),
                ) from exc
            self._connection = connection
            self.reader = str(reader)
            self.name = f"pcsc:{reader}"
            return
        names = ", ".join(f"'{name}'" for name in empty)
        raise NoCard(f"no card in reader {names}", device=self.name, readers=empty)

    def _do_transmit(self, apdu: Apdu) -> tuple[bytes, int, int]:
        from smartcard.Exceptions import CardConnectionException
        from smartcard.scard import (
            SCARD_E_NO_SMARTCARD,
            SCARD_E_READER_UNAVAILABLE,
            SCARD_W_REMOVED_CARD,
            SCARD_W_RESET_CARD,
        )

        self.connect()
        try:
            data, sw1, sw2 = self._connection.transmit(list(apdu.to_bytes()))
        except CardConnectionException as exc:
            code = getattr(exc, "hresult", None)
            self.close()
            if code in (SCARD_W_REMOVED_CARD, SCARD_W_RESET_CARD, SCARD_E_NO_SMARTCARD):
                raise CardRemoved(
                    f"card left reader '{self.reader}' during {apdu.name}", device=self.name
                ) from exc
            if code == SCARD_E_READER_UNAVAILABLE:
                raise ReaderUnavailable(
                    f"reader '{self.reader}' became unavailable", device=self.name
                ) from exc
            raise TransportFailure(
                f"reader '{self.reader}': {apdu.name} failed: {exc}", device=self.name
            ) from exc
        return bytes(data), sw1, sw2

    def atr(self) -> bytes:
        """The ATR of the card in the reader."""
        self.connect()
        return bytes(self._connection.getATR())

    def close(self) -> None:
        """Disconnect (the card is powered down) and release the PC/SC context."""
        connection, self._connection = self._connection, None
        if connection is not None:
            _release(connection)


def _release(connection: Any) -> None:
    from smartcard.Exceptions import SmartcardException

    if connection is None:
        return
    with contextlib.suppress(SmartcardException):
        connection.disconnect()
    release = getattr(connection, "release", None)
    if release is not None:
        with contextlib.suppress(SmartcardException):
            release()
