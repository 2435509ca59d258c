"""End to end through real PC/SC: pyscard -> pcscd -> vsmartcard's vpcd -> ``printers.chip.vpcd``
-> ``VirtualChip``.

What the fixtures start, once per test session:

- ``pcscd --foreground`` as a subprocess, unless a pcscd already answers (then that one is
  reused and left running). It loads the vpcd driver from Debian's ``vsmartcard-vpcd``
  package (``/etc/reader.conf.d/vpcd``), which listens on 127.0.0.1:35963 ("Virtual PCD 00
  00") and 35964 ("Virtual PCD 00 01"). The fixture waits (bounded) until pyscard lists the
  readers, and stops the pcscd it started (SIGTERM) at the end.
- ``printers.chip.vpcd.serve`` in a thread, connected to port 35963, serving whatever chip the
  tests put in a ``ChipSlot``; stopped through its ``stop`` event at the end.

Readiness is polled with bounded timeouts; nothing waits on a fixed sleep. Nothing is timed
here: the per-card time over PC/SC is measured by ``bench/line.py``. The first tests drive
``printers.chip.vpcd`` against a stand-in listener instead of vpcd, to check the protocol and
reconnection without a daemon.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from printers.chip.apdu import (
    LDS_AID,
    ChipError,
    SecurityStatusNotSatisfied,
    create_file,
    lock,
    read_binary,
    select_aid,
    select_fid,
    update_binary,
)
from printers.chip.personalise import (
    EF_COM,
    EF_DG1,
    EF_DG2,
    EF_DG13,
    EF_SOD,
    initialise,
    personalise,
    read_back,
)
from printers.chip.reader import SecureTransport, open_session
from printers.chip.transport import (
    MetricsObserver,
    NoCard,
    PcscTransport,
    ReaderNotFound,
    ReaderUnavailable,
    TransportFailure,
)
from printers.chip.vchip import DEFAULT_ATR, VirtualChip
from printers.chip.vlot import VirtualChipLot
from printers.chip.vpcd import CTRL_ATR, CTRL_OFF, CTRL_ON, ChipSlot, LotFeeder, frame, serve
from tests.printers.helpers import (
    READER,
    READER_2,
    READY_TIMEOUT,
    VPCD_PORT,
    eventually,
    reader_names,
)


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    length = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else b"\x82" + n.to_bytes(2)
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big") + length + value


def lds_files(rng: random.Random, dg2_size: int = 20_000) -> dict[int, bytes]:
    return {
        EF_COM: tlv(0x60, rng.randbytes(22)),
        EF_DG1: tlv(0x61, tlv(0x5F1F, rng.randbytes(90))),
        EF_DG2: tlv(0x75, rng.randbytes(dg2_size)),
        EF_DG13: tlv(0x6D, rng.randbytes(600)),
        EF_SOD: tlv(0x77, rng.randbytes(1900)),
    }


# --- the vpcd protocol against a stand-in listener (no daemon) ----------------------------


class StandInVpcd:
    """A listening socket that speaks vpcd's side of the protocol, for one test."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(5.0)
        self.port: int = self.server.getsockname()[1]
        self.client: socket.socket | None = None

    def accept(self, timeout: float = 5.0) -> None:
        self.server.settimeout(timeout)
        self.client, _ = self.server.accept()
        self.client.settimeout(5.0)

    def send(self, payload: bytes) -> None:
        assert self.client is not None
        self.client.sendall(frame(payload))

    def receive(self) -> bytes:
        assert self.client is not None
        header = self._exactly(2)
        return self._exactly(struct.unpack("!H", header)[0])

    def ask(self, payload: bytes) -> bytes:
        self.send(payload)
        return self.receive()

    def _exactly(self, n: int) -> bytes:
        assert self.client is not None
        out = b""
        while len(out) < n:
            chunk = self.client.recv(n - len(out))
            if not chunk:
                raise ConnectionError("emulator hung up")
            out += chunk
        return out

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.server.close()


@pytest.fixture
def stand_in() -> Iterator[tuple[StandInVpcd, ChipSlot]]:
    vpcd = StandInVpcd()
    slot = ChipSlot()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        args=(slot, "127.0.0.1", vpcd.port),
        kwargs={"stop": stop, "poll_interval": 0.02, "reconnect_delay": 0.02},
        daemon=True,
    )
    thread.start()
    yield vpcd, slot
    stop.set()
    thread.join(5)
    vpcd.close()
    assert not thread.is_alive(), "serve() did not stop"


def test_vpcd_protocol_control_messages_and_apdus(stand_in: tuple[StandInVpcd, ChipSlot]) -> None:
    vpcd, slot = stand_in
    chip = VirtualChip(hx("04 01 02 03 04 05 06"))
    slot.insert(chip)
    vpcd.accept()
    vpcd.send(bytes([CTRL_ON]))  # no reply to power on
    assert vpcd.ask(bytes([CTRL_ATR])) == DEFAULT_ATR
    assert vpcd.ask(hx("FF CA 00 00 00")) == hx("04 01 02 03 04 05 06 90 00")
    assert vpcd.ask(select_aid(LDS_AID).to_bytes()) == hx("90 00")
    vpcd.send(bytes([CTRL_OFF]))
    assert vpcd.ask(hx("00 A4 02 0C 02 01 1E")) == b""  # unpowered: mute
    vpcd.send(bytes([CTRL_ON]))
    assert vpcd.ask(hx("00 A4 02 0C 02 01 1E")) == hx("6A 82")  # power-on cleared selection


def test_vpcd_reconnects_switches_chips_and_empties_the_reader(
    stand_in: tuple[StandInVpcd, ChipSlot],
) -> None:
    vpcd, slot = stand_in
    first, second = VirtualChip(hx("04 00 00 00 00 00 01")), VirtualChip(hx("04 00 00 00 00 00 02"))
    with pytest.raises(TimeoutError):  # empty slot: the emulator does not connect
        vpcd.accept(timeout=0.3)
    slot.insert(first)
    vpcd.accept()
    vpcd.send(bytes([CTRL_ON]))
    assert vpcd.ask(hx("FF CA 00 00 00"))[:-2] == first.uid
    assert vpcd.client is not None
    vpcd.client.close()  # vpcd drops the connection: the emulator comes back
    vpcd.accept()
    vpcd.send(bytes([CTRL_ON]))
    assert vpcd.ask(hx("FF CA 00 00 00"))[:-2] == first.uid
    slot.insert(second)  # another card: the emulator hangs up and reconnects with it
    with pytest.raises(ConnectionError):
        vpcd.receive()
    vpcd.accept()
    vpcd.send(bytes([CTRL_ON]))
    assert vpcd.ask(hx("FF CA 00 00 00"))[:-2] == second.uid
    assert not first.powered  # out of the reader
    slot.remove()
    with pytest.raises(ConnectionError):
        vpcd.receive()
    with pytest.raises(TimeoutError):
        vpcd.accept(timeout=0.3)


# --- real pcscd ---------------------------------------------------------------------------


def uid_in(reader: str) -> bytes | None:
    """The UID of the card in ``reader`` now, or None if there is none (yet)."""
    try:
        with PcscTransport(reader, timeout=0.0) as transport:
            return transport.uid()
    except ChipError:
        return None


def insert(slot: ChipSlot, chip: VirtualChip) -> None:
    """Put ``chip`` in the reader and wait until PC/SC sees that very chip.

    pcscd polls the vpcd reader for presence: a swap faster than its poll can go unseen
    for a while. If the chip has not shown after a third of the timeout, it is taken out
    until the reader looks empty and put in again (a person would do the same)."""
    for _ in range(3):
        slot.insert(chip)
        deadline = time.monotonic() + READY_TIMEOUT / 3
        while time.monotonic() < deadline:
            if uid_in(READER) == chip.uid:
                return
            time.sleep(0.05)
        slot.remove()
        empty_by = time.monotonic() + READY_TIMEOUT / 3
        while uid_in(READER) is not None and time.monotonic() < empty_by:
            time.sleep(0.05)
    pytest.fail(f"chip {chip.uid.hex()} never showed in '{READER}'", pytrace=False)


def test_pyscard_lists_the_virtual_reader(pcscd: str) -> None:
    names = reader_names()
    assert names is not None and READER in names


def test_no_reader_of_that_name_is_a_typed_error(pcscd: str) -> None:
    with pytest.raises(ReaderNotFound, match="no PC/SC reader matching 'Card Printer 9000'"):
        PcscTransport("Card Printer 9000", timeout=0.0).uid()


def test_an_empty_reader_says_no_card(slot: ChipSlot) -> None:
    slot.remove()

    def no_card() -> NoCard | None:
        try:
            with PcscTransport(READER, timeout=0.0) as transport:
                transport.uid()
        except NoCard as exc:
            return exc
        except ReaderUnavailable:  # the card on its way out: present but unpowered
            return None
        return None

    error = eventually(no_card, timeout=READY_TIMEOUT, what=f"'{READER}' to look empty")
    assert error.reason_code == "encode.no_card"
    assert f"no card in reader '{READER}'" in str(error)


ACCESS = ("070751984", "700412", "300412")  # document number, birth, expiry: as in an MRZ


def bac(transport: PcscTransport) -> SecureTransport:
    """An inspection system's session with an issued chip: BAC with its MRZ data."""
    transport.transmit(select_aid(LDS_AID))
    return open_session(transport, *ACCESS)


def test_personalise_and_read_back_over_pcsc(slot: ChipSlot) -> None:
    chip = VirtualChip(hx("04 5A 11 22 33 44 01"))
    insert(slot, chip)
    files = lds_files(random.Random(2021), dg2_size=20_000)
    metrics = MetricsObserver()
    with PcscTransport(READER, observers=[metrics]) as transport:
        assert transport.atr() == DEFAULT_ATR
        initialise(transport, *ACCESS)
        assert personalise(transport, files) == chip.uid
    with PcscTransport(READER) as transport:
        assert transport.uid() == chip.uid
        assert read_back(bac(transport), list(files)) == files  # BAC over vpcd
    assert chip.locked
    assert chip.files() == files
    assert dict(metrics.status_words) == {"9000": sum(metrics.commands.values())}


def test_a_locked_chip_refuses_writes_over_pcsc(slot: ChipSlot) -> None:
    chip = VirtualChip(hx("04 5A 11 22 33 44 02"))
    insert(slot, chip)
    files = {EF_COM: tlv(0x60, b"\x01\x07"), EF_DG1: tlv(0x61, bytes(93))}
    with PcscTransport(READER) as transport:
        initialise(transport, *ACCESS)
        personalise(transport, files)
    refused = []
    with PcscTransport(READER) as transport:
        transport.transmit(select_aid(LDS_AID))
        with pytest.raises(SecurityStatusNotSatisfied):  # in clear: BAC first
            transport.transmit(select_fid(EF_DG1))
        secure = bac(transport)
        secure.transmit(select_fid(EF_DG1))
        for write in (update_binary(0, b"\x62"), create_file(EF_DG2, 100), lock()):
            with pytest.raises(SecurityStatusNotSatisfied) as caught:
                secure.transmit(write)
            refused.append(caught.value.sw)
        data, _, _ = secure.transmit(read_binary(0, 2))
    assert refused == ["6982", "6982", "6982"]
    assert data == b"\x61\x5d"
    assert chip.files() == files


def test_switching_chips_between_connections(slot: ChipSlot) -> None:
    chips = [VirtualChip(hx(f"04 5A 11 22 33 45 {n:02X}")) for n in range(3)]
    seen = []
    for chip in chips:
        insert(slot, chip)
        with PcscTransport(READER) as transport:
            initialise(transport, *ACCESS)
            seen.append(personalise(transport, {EF_COM: tlv(0x60, chip.uid)}))
    assert seen == [chip.uid for chip in chips]
    assert [chip.files()[EF_COM][2:] for chip in chips] == seen


def test_a_card_swapped_mid_session_is_a_transport_failure(slot: ChipSlot) -> None:
    insert(slot, VirtualChip(hx("04 5A 11 22 33 46 01")))
    with PcscTransport(READER) as transport:
        transport.transmit(select_aid(LDS_AID))
        slot.insert(VirtualChip(hx("04 5A 11 22 33 46 02")))

        def failed() -> TransportFailure | None:
            try:
                transport.transmit(select_aid(LDS_AID))
            except TransportFailure as exc:
                return exc
            return None

        error = eventually(failed, timeout=READY_TIMEOUT, what="the swap to be noticed")
    assert error.reason_code in {"encode.card_removed", "encode.transport_failure"}


def test_a_lot_feeds_the_next_chip_once_the_encoder_lets_go_of_a_locked_one(pcscd: str) -> None:
    lot = VirtualChipLot("L-TEST", 0x04AA000000F000, 3, 0.0, random.Random(5))
    feeder = LotFeeder(lot)
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, args=(feeder, "127.0.0.1", VPCD_PORT + 1), kwargs={"stop": stop}, daemon=True
    )
    thread.start()
    try:
        uids = []
        for _ in range(3):
            with PcscTransport(READER_2, timeout=READY_TIMEOUT) as transport:
                initialise(transport, *ACCESS)
                uids.append(personalise(transport, {EF_COM: tlv(0x60, b"\x01")}))
        assert [uid.hex().upper() for uid in uids] == [
            "04AA000000F000",
            "04AA000000F001",
            "04AA000000F002",
        ]
        done = eventually(
            lambda: feeder.done if len(feeder.done) == 3 else None,
            timeout=READY_TIMEOUT,
            what="the last chip to be fed out",
        )
        assert [chip.uid for chip in done] == uids
        assert all(chip.locked for chip in done)
        with pytest.raises(NoCard), PcscTransport(READER_2, timeout=2.0) as transport:
            transport.uid()  # the lot is used up: the reader stays empty
    finally:
        stop.set()
        thread.join(5)
