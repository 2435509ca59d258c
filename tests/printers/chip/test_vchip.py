"""The virtual chip's timeline, its lots, and personalisation + read-back in process."""

from __future__ import annotations

import random
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smartcard.ATR import ATR
from structlog.testing import capture_logs

from printers.chip.apdu import (
    KEY_AA,
    KEY_CA,
    LDS_AID,
    Apdu,
    ChipError,
    FileNotFound,
    MemoryFailure,
    NotEnoughMemory,
    ResponsePending,
    SecurityStatusNotSatisfied,
    WrongOffset,
    create_file,
    generate_key_pair,
    get_uid,
    lock,
    put_access_data,
    read_binary,
    select_aid,
    select_fid,
    update_binary,
)
from printers.chip.bac import BacAuthenticationFailed
from printers.chip.personalise import (
    EF_COM,
    EF_DG1,
    EF_DG2,
    EF_DG13,
    EF_SOD,
    LDS_FIDS,
    MalformedFile,
    initialise,
    personalise,
    read_back,
    tlv_size,
)
from printers.chip.reader import SecureTransport, open_session
from printers.chip.transport import (
    ApduEvent,
    BaseTransport,
    InProcessTransport,
    MetricsObserver,
    TraceObserver,
    TransportFailure,
)
from printers.chip.vchip import DEFAULT_ATR, VirtualChip
from printers.chip.vlot import LotExhausted, VirtualChipLot

UID = bytes.fromhex("04A1B2C3D4E5F6")


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def tlv(tag: int, value: bytes) -> bytes:
    """One BER-TLV object, written out by hand (not with the code under test)."""
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    elif n < 0x10000:
        length = bytes([0x82, n >> 8, n & 0xFF])
    else:
        length = bytes([0x83, n >> 16, (n >> 8) & 0xFF, n & 0xFF])
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    return tag_bytes + length + value


def lds_files(rng: random.Random, dg2_size: int = 20_000) -> dict[int, bytes]:
    """A realistic set of EFs: sizes of a real ID card, random bytes inside."""
    return {
        EF_COM: tlv(0x60, rng.randbytes(22)),
        EF_DG1: tlv(0x61, tlv(0x5F1F, rng.randbytes(90))),
        EF_DG2: tlv(0x75, rng.randbytes(dg2_size)),
        EF_DG13: tlv(0x6D, rng.randbytes(600)),
        EF_SOD: tlv(0x77, rng.randbytes(1900)),
    }


@pytest.fixture
def chip() -> VirtualChip:
    chip = VirtualChip(UID)
    chip.power_on()
    return chip


def send(chip: VirtualChip, apdu: Apdu | str) -> str:
    """The chip's answer in hex, for timelines that read like a trace."""
    raw = apdu.to_bytes() if isinstance(apdu, Apdu) else hx(apdu)
    return chip.transmit(raw).hex().upper()


# --- the card itself ----------------------------------------------------------------------


def test_atr_is_well_formed_and_offers_t1() -> None:
    atr = ATR(list(DEFAULT_ATR))
    assert atr.checksumOK
    assert atr.getSupportedProtocols() == {"T=1": True}
    assert bytes(atr.getHistoricalBytes()) == b"\x80\x56CDLINE"


ACCESS = ("070751984", "700412", "300412")  # document number, birth, expiry: as in the MRZ


def issue(transport: InProcessTransport, files: dict[int, bytes], **kwargs: Any) -> bytes:
    """Personalise as the encoder does: access data and key pairs first, then the files."""
    initialise(transport, *ACCESS)
    return personalise(transport, files, **kwargs)


def reader(transport: InProcessTransport) -> SecureTransport:
    """An inspection system's session with an issued chip: BAC with the MRZ data."""
    transport.transmit(select_aid(LDS_AID))
    return open_session(transport, ACCESS[0], ACCESS[1], ACCESS[2])


def test_timeline_personalise_lock_then_nothing_in_clear_but_select_and_bac(
    chip: VirtualChip,
) -> None:
    log = [
        send(chip, "00 A4 04 0C 07 A0 00 00 02 47 10 01"),  # SELECT LDS application
        send(chip, "00 E0 00 00 0D 62 0B 80 02 00 05 82 01 01 83 02 01 1E"),  # CREATE 011E, 5 bytes
        send(chip, "00 D6 00 00 03 60 03 AA"),  # UPDATE BINARY at 0
        send(chip, "00 D6 00 03 02 BB CC"),  # UPDATE BINARY at 3
        send(chip, "00 B0 00 00 05"),  # READ BINARY 5 (personalisation: in clear)
        send(chip, "80 01 00 00"),  # LOCK: refused, no access data nor key pairs yet
        send(chip, put_access_data(*ACCESS)),  # PUT DATA 62: the chip derives its BAC keys
        send(chip, put_access_data(*ACCESS)),  # given once
        send(chip, "80 01 00 00"),  # LOCK: still no key pairs
    ]
    assert log == ["9000", "9000", "9000", "9000", "6003AABBCC9000", "6985", "9000", "6985", "6985"]
    aa = chip.transmit(generate_key_pair(KEY_AA).to_bytes())
    assert aa[-2:] == b"\x90\x00" and aa[:2] == b"\x7f\x49"  # 7F49 { 86 04||X||Y }
    assert send(chip, generate_key_pair(KEY_AA)) == "6985"  # made once
    assert chip.transmit(generate_key_pair(KEY_AA, generate=False).to_bytes()) == aa
    assert send(chip, generate_key_pair(KEY_CA, generate=False)) == "6A88"  # not made yet
    assert send(chip, generate_key_pair(KEY_CA))[-4:] == "9000"
    log = [
        send(chip, "80 01 00 00"),  # LOCK
        send(chip, "00 D6 00 00 01 00"),  # UPDATE BINARY after lock
        send(chip, "00 E0 00 00 0D 62 0B 80 02 00 05 82 01 01 83 02 01 01"),  # CREATE after lock
        send(chip, "80 01 00 00"),  # LOCK again
        send(chip, generate_key_pair(KEY_AA, generate=False)),  # keys are read no more
        send(chip, "00 A4 04 0C 07 A0 00 00 02 47 10 01"),  # SELECT by AID: works in clear
        send(chip, "00 A4 02 0C 02 01 1E"),  # SELECT of an EF in clear: BAC first
        send(chip, "00 B0 00 01 04"),  # READ BINARY in clear: BAC first
        send(chip, "00 88 00 00 08 01 02 03 04 05 06 07 08 00"),  # INTERNAL AUTHENTICATE
        send(chip, "00 22 41 A4 0C 80 0A 04 00 7F 00 07 02 02 03 02 02"),  # MSE in clear
    ]
    assert log == ["9000", "6982", "6982", "6982", "6982", "9000", "6982", "6982", "6982", "6982"]
    assert chip.locked
    assert chip.files() == {0x011E: hx("60 03 AA BB CC")}
    # The same file under BAC and secure messaging:
    secure = reader(InProcessTransport(chip))
    assert read_back(secure, [0x011E]) == {0x011E: hx("60 03 AA BB CC")}


def test_a_wrong_mrz_is_refused_and_a_bad_mac_ends_the_session(chip: VirtualChip) -> None:
    transport = InProcessTransport(chip)
    issue(transport, {EF_COM: tlv(0x60, b"\x01\x02")})
    transport.transmit(select_aid(LDS_AID))
    with pytest.raises(BacAuthenticationFailed):
        open_session(transport, "070751985", ACCESS[1], ACCESS[2])  # one digit off
    secure = reader(transport)
    protected = bytearray(secure.channel.protect(select_fid(EF_COM).to_bytes()))
    protected[-2] ^= 0x01  # one bit of the MAC
    data, sw = transport.send(bytes(protected))
    assert (data, f"{sw:04X}") == (b"", "6988")
    assert send(chip, select_fid(EF_COM)) == "6982"  # the session is over: in clear again
    assert read_back(reader(transport), [EF_COM]) == {EF_COM: tlv(0x60, b"\x01\x02")}


@pytest.mark.parametrize(
    "write",
    [
        update_binary(0, b"\x61"),
        update_binary(0x10, b"\x00" * 10),
        create_file(0x0102, 100),
        create_file(0x011E, 5),  # an existing FID: the lock answers first
        lock(),
    ],
    ids=["update-at-0", "update-at-16", "create-new", "create-existing", "lock-again"],
)
def test_a_locked_chip_refuses_every_write(chip: VirtualChip, write: Apdu) -> None:
    """Even under BAC and secure messaging: a locked chip is written no more."""
    transport = InProcessTransport(chip)
    issue(transport, {EF_COM: tlv(0x60, b"\x01\x02")})
    before = chip.files()
    for _power_cycle in range(2):  # the lock is in EEPROM: it survives a power cycle
        secure = reader(transport)
        secure.transmit(select_fid(EF_COM))
        with pytest.raises(SecurityStatusNotSatisfied) as caught:
            secure.transmit(write)
        assert caught.value.sw == "6982"
        assert caught.value.reason_code == "encode.chip_locked"
        chip.power_off()
        chip.power_on()
    assert chip.files() == before
    assert read_back(reader(transport), [EF_COM]) == {EF_COM: tlv(0x60, b"\x01\x02")}


def test_capacity_exhaustion_answers_6a84() -> None:
    chip = VirtualChip(UID, capacity=1000)
    chip.power_on()
    send(chip, select_aid(LDS_AID))
    assert send(chip, create_file(0x0101, 600)) == "9000"
    assert send(chip, create_file(0x0102, 401)) == "6A84"
    assert send(chip, create_file(0x0102, 400)) == "9000"  # exactly full
    assert (chip.used, chip.free) == (1000, 0)
    assert send(chip, create_file(0x010D, 1)) == "6A84"


def test_personalising_more_than_the_eeprom_holds_raises_not_enough_memory() -> None:
    chip = VirtualChip(UID, capacity=16 * 1024)
    files = lds_files(random.Random(3), dg2_size=20_000)
    with pytest.raises(NotEnoughMemory) as caught:
        personalise(InProcessTransport(chip), files)
    assert caught.value.reason_code == "encode.out_of_memory"
    assert caught.value.fields["command"] == "CREATE FILE"
    assert not chip.locked


def test_offsets_past_the_end_answer_6b00(chip: VirtualChip) -> None:
    send(chip, select_aid(LDS_AID))
    send(chip, create_file(0x0101, 10))
    assert send(chip, update_binary(8, b"\x01\x02")) == "9000"
    assert send(chip, update_binary(9, b"\x01\x02")) == "6B00"  # would end past the file
    assert send(chip, update_binary(10, b"\x01")) == "6B00"
    assert send(chip, read_binary(10, 1)) == "6B00"
    assert send(chip, read_binary(0x7FFF, 1)) == "6B00"
    assert send(chip, read_binary(8, 4)) == "01026282"  # end of file before Le bytes
    with pytest.raises(WrongOffset):
        InProcessTransport(chip).transmit(read_binary(10, 1))


def test_selection_and_the_answers_to_what_a_chip_does_not_do(chip: VirtualChip) -> None:
    assert send(chip, select_fid(0x011E)) == "6A82"  # the MF has no such EF
    assert send(chip, select_aid(hx("A0 00 00 00 03 10 10"))) == "6A82"
    assert send(chip, read_binary(0, 1)) == "6986"  # no current EF
    assert send(chip, create_file(0x0101, 10)) == "6986"  # EFs are created in the application
    assert send(chip, select_aid(LDS_AID)) == "9000"
    assert send(chip, select_fid(0x0101)) == "6A82"
    assert send(chip, create_file(0x0101, 10)) == "9000"
    assert send(chip, create_file(0x0101, 10)) == "6A89"  # exists
    assert send(chip, "00 E0 00 00 04 62 02 83 00") == "6A80"  # FCP without a size
    assert send(chip, create_file(0x3F00, 10)) == "6A80"  # the MF's FID
    assert send(chip, "00 A4 02 0C 01 01") == "6700"
    assert send(chip, "00 A4 08 0C 02 01 01") == "6A86"
    assert send(chip, "00 B0 80 00 01") == "6A86"  # short EF identifier 0: none such
    assert send(chip, "00 B0 81 00 01") == "009000"  # SFI 01: EF 0101, now current
    assert send(chip, "00 B0 82 00 01") == "6A82"  # SFI 02: EF 0102 was never made
    assert send(chip, "00 20 00 00") == "6D00"
    assert send(chip, "A0 A4 00 00 02 3F 00") == "6E00"
    assert send(chip, "00 D6 00") == "6700"
    assert send(chip, "00 A4 00 0C 02 3F 00") == "9000"  # back to the MF
    assert send(chip, read_binary(0, 1)) == "6986"


def test_reset_and_power_cycles_clear_the_selection_but_not_the_eeprom(chip: VirtualChip) -> None:
    send(chip, select_aid(LDS_AID))
    send(chip, create_file(0x0101, 3))
    send(chip, update_binary(0, b"\x61\x01\x00"))
    assert chip.reset() == DEFAULT_ATR
    assert send(chip, read_binary(0, 3)) == "6986"
    send(chip, select_aid(LDS_AID))
    send(chip, select_fid(0x0101))
    chip.power_off()
    assert chip.transmit(read_binary(0, 3).to_bytes()) == b""  # unpowered: mute
    chip.power_on()
    assert send(chip, read_binary(0, 3)) == "6986"
    send(chip, select_aid(LDS_AID))
    send(chip, select_fid(0x0101))
    assert send(chip, read_binary(0, 3)) == "6101009000"


def test_a_mute_chip_is_a_transport_failure(chip: VirtualChip) -> None:
    transport = InProcessTransport(chip)
    chip.power_off()
    with pytest.raises(TransportFailure, match="mute"):
        transport.transmit(select_aid(LDS_AID))


def test_get_uid_and_the_6cxx_retry(chip: VirtualChip) -> None:
    assert send(chip, get_uid()) == UID.hex().upper() + "9000"
    assert send(chip, "FF CA 00 00 04") == "6C07"  # Le too short: the exact length is 7
    assert send(chip, "FF CA 01 00 00") == "6A81"
    metrics = MetricsObserver()
    transport = InProcessTransport(chip, observers=[metrics])
    data, sw1, sw2 = transport.transmit(Apdu(0xFF, 0xCA, 0, 0, le=4))
    assert (data, sw1, sw2) == (UID, 0x90, 0x00)
    assert transport.uid() == UID


class ScriptedT0Transport(BaseTransport):
    """A link that answers from a script, as a T=0 card does with 61xx (template test)."""

    def __init__(self, script: list[tuple[bytes, int, int]]) -> None:
        super().__init__(name="scripted")
        self.script = script
        self.sent: list[str] = []

    def _do_transmit(self, apdu: Apdu) -> tuple[bytes, int, int]:
        self.sent.append(apdu.to_bytes().hex().upper())
        return self.script.pop(0)

    def close(self) -> None:
        pass


def test_61xx_is_fetched_with_get_response() -> None:
    transport = ScriptedT0Transport([(b"", 0x61, 0x03), (b"\x01\x02\x03", 0x90, 0x00)])
    assert transport.transmit(read_binary(0, 3)) == (b"\x01\x02\x03", 0x90, 0x00)
    assert transport.sent == ["00B0000003", "00C0000003"]
    endless = ScriptedT0Transport([(b"\x00", 0x61, 0x01)] * 100)
    with pytest.raises(ResponsePending):
        endless.transmit(read_binary(0, 3))


# --- defects and lots ---------------------------------------------------------------------


def test_a_defective_chip_answers_6581_and_personalise_raises_memory_failure() -> None:
    chip = VirtualChip(UID, defective=True)
    transport = InProcessTransport(chip)
    with pytest.raises(MemoryFailure) as caught:
        personalise(transport, lds_files(random.Random(1)))
    error = caught.value
    assert (error.sw, error.reason_code) == ("6581", "encode.memory_failure")
    assert error.fields["command"] == "UPDATE BINARY"
    assert error.device == "vchip:04A1B2C3D4E5F6"
    assert not chip.locked


def test_lot_uids_are_consecutive_and_the_lot_runs_out() -> None:
    lot = VirtualChipLot("L-2021-04", 0x04000000000FFE, 3, 0.0, random.Random(0))
    uids = [lot.issue().uid.hex().upper() for _ in range(3)]
    assert uids == ["04000000000FFE", "04000000000FFF", "04000000001000"]
    assert (lot.issued, lot.remaining) == (3, 0)
    with pytest.raises(LotExhausted) as caught:
        lot.issue()
    assert isinstance(caught.value, ChipError)
    assert caught.value.reason_code == "encode.lot_exhausted"
    assert caught.value.fields["lot_number"] == "L-2021-04"
    assert "L-2021-04" in str(caught.value)


@pytest.mark.parametrize(
    ("first_uid", "count", "rate", "uid_bytes"),
    [(0, 0, 0.0, 7), (0, 1, -0.1, 7), (0, 1, 1.5, 7), (0xFFFF, 2, 0.0, 2), (-1, 1, 0.0, 7)],
)
def test_lot_validates_itself(first_uid: int, count: int, rate: float, uid_bytes: int) -> None:
    with pytest.raises(ValueError):
        VirtualChipLot("L", first_uid, count, rate, random.Random(0), uid_bytes)


def _defects(seed: int, count: int, rate: float) -> list[int]:
    lot = VirtualChipLot("L", 1, count, rate, random.Random(seed))
    return [i for i in range(count) if lot.issue().defective]


def test_defects_are_reproducible_for_a_seed_and_close_to_the_rate() -> None:
    count, rate = 10_000, 0.02
    first = _defects(seed=7, count=count, rate=rate)
    assert first == _defects(seed=7, count=count, rate=rate)
    assert first != _defects(seed=8, count=count, rate=rate)
    sigma = (rate * (1 - rate) / count) ** 0.5
    assert abs(len(first) / count - rate) < 4 * sigma  # 4 sigma: fails ~1 in 16,000 seeds


def test_no_defects_at_rate_zero_and_all_at_rate_one() -> None:
    assert _defects(seed=1, count=500, rate=0.0) == []
    assert len(_defects(seed=1, count=500, rate=1.0)) == 500


# --- personalise and read back ------------------------------------------------------------


def test_personalise_then_read_back_in_process() -> None:
    chip = VirtualChip(UID)
    files = lds_files(random.Random(42))
    transport = InProcessTransport(chip)
    assert issue(transport, files) == UID
    assert chip.locked
    assert chip.files() == files
    assert read_back(reader(transport), LDS_FIDS) == files


def test_read_back_of_a_missing_file_raises_file_not_found() -> None:
    transport = InProcessTransport(VirtualChip(UID))
    issue(transport, {EF_COM: tlv(0x60, b"\x00")})
    with pytest.raises(FileNotFound) as caught:
        read_back(reader(transport), [EF_COM, EF_SOD])
    assert caught.value.fields["command"] == "SELECT"


def test_read_back_stops_at_the_tlv_even_if_the_file_is_larger(chip: VirtualChip) -> None:
    transport = InProcessTransport(chip)
    transport.transmit(select_aid(LDS_AID))
    transport.transmit(create_file(EF_DG1, 40))
    transport.transmit(update_binary(0, tlv(0x61, b"\x01\x02")))
    assert read_back(transport, [EF_DG1]) == {EF_DG1: hx("61 02 01 02")}


def test_read_back_of_a_file_that_is_not_tlv_raises_malformed_file(chip: VirtualChip) -> None:
    transport = InProcessTransport(chip)
    transport.transmit(select_aid(LDS_AID))
    transport.transmit(create_file(EF_DG1, 40))  # zero-filled: tag 00 is not a tag
    with pytest.raises(MalformedFile) as caught:
        read_back(transport, [EF_DG1])
    assert caught.value.reason_code == "encode.malformed_file"


@pytest.mark.parametrize(
    "files",
    [
        {},
        {EF_COM: b""},
        {EF_COM: hx("60 03 01 02")},  # TLV says 5 bytes, content is 4
        {EF_COM: hx("60 01 01 02")},  # trailing byte
        {EF_COM: hx("60 80 00 00")},  # indefinite length
        {EF_DG2: tlv(0x75, bytes(0x10000))},  # too large for a 2-byte size
    ],
)
def test_personalise_refuses_bad_input_before_touching_the_chip(files: dict[int, bytes]) -> None:
    chip = VirtualChip(UID)
    with pytest.raises(ValueError):
        personalise(InProcessTransport(chip), files)
    assert chip.files() == {} and not chip.locked


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("", None),
        ("60", None),
        ("60 00", 2),
        ("60 7F", 0x81),
        ("60 81", None),
        ("60 81 80", 0x83),
        ("75 82 4E", None),
        ("75 82 4E 20", 20004),
        ("5F", None),
        ("5F 1F", None),
        ("5F 1F 05", 8),
        ("7F 61 82 01 00", 0x105),
        ("61 83 01 00 00", 0x10005),
    ],
)
def test_tlv_size_reads_the_header(header: str, size: int | None) -> None:
    assert tlv_size(hx(header)) == size


@pytest.mark.parametrize(
    "header", ["00 01", "FF 01", "60 80", "60 84 00 00 00 01", "5F 81 81 81 01"]
)
def test_tlv_size_rejects_what_is_not_ber_tlv(header: str) -> None:
    with pytest.raises(ValueError):
        tlv_size(hx(header))


lds_value_sizes = st.sampled_from([0, 1, 126, 127, 128, 255, 256, 257]) | st.integers(0, 6000)


LDS_TAGS = {EF_COM: 0x60, EF_DG1: 0x61, EF_DG2: 0x75, EF_DG13: 0x6D, EF_SOD: 0x77}


@st.composite
def lds_sets(draw: st.DrawFn) -> dict[int, bytes]:
    """Some of the LDS EFs, in any order, each a TLV around random bytes of any size."""
    fids = draw(st.lists(st.sampled_from(LDS_FIDS), min_size=1, max_size=5, unique=True))
    files = {}
    for fid in fids:
        size = draw(lds_value_sizes)
        files[fid] = tlv(LDS_TAGS[fid], draw(st.binary(min_size=size, max_size=size)))
    return files


@settings(max_examples=60, deadline=None)
@given(files=lds_sets(), chunk=st.sampled_from([1, 16, 200, 223, 255]))
def test_round_trip_of_random_payloads(files: dict[int, bytes], chunk: int) -> None:
    chip = VirtualChip(UID, capacity=10 * 6010)
    transport = InProcessTransport(chip)
    assert issue(transport, files, chunk=chunk) == UID
    assert read_back(reader(transport), list(files), chunk=min(chunk, 223)) == files


# --- observers ----------------------------------------------------------------------------


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    with capture_logs() as captured:
        yield captured


def test_trace_logs_headers_and_status_words_never_the_data(
    logs: list[MutableMapping[str, Any]],
) -> None:
    secret = b"NGUYEN<<THI<ANH<TUYET"
    files = {EF_COM: tlv(0x60, b"\x01"), EF_DG1: tlv(0x61, tlv(0x5F1F, secret))}
    transport = InProcessTransport(VirtualChip(UID), observers=[TraceObserver()])
    issue(transport, files)
    read_back(reader(transport), list(files))
    assert [(e["ins"], e["sw"]) for e in logs[:13]] == [
        ("A4", "9000"),  # SELECT the application
        ("DA", "9000"),  # PUT DATA: the access data (personal data: never in the trace)
        ("46", "9000"),  # GENERATE ASYMMETRIC KEY PAIR: AA
        ("46", "9000"),  # CA
        ("CA", "9000"),  # GET UID
        ("A4", "9000"),  # SELECT the MF
        ("A4", "9000"),  # SELECT EF.ATR/INFO
        ("B0", "6282"),  # READ BINARY of it: its extended length information, shorter than 256
        ("A4", "9000"),
        ("E0", "9000"),
        ("D6", "9000"),
        ("E0", "9000"),
        ("D6", "9000"),
    ]
    assert logs[13]["cla"] == "80" and logs[13]["ins"] == "01"
    assert all(e["event"] == "apdu" and e["log_level"] == "debug" for e in logs)
    keys = {"event", "log_level", "device", "cla", "ins", "p1p2", "lc", "le", "sw"}
    assert all(set(e) == keys | {"response_length", "elapsed_ms", "reason_code"} for e in logs)
    text = repr(logs)
    for needle in ("NGUYEN", secret.hex(), secret.hex().upper()):
        assert needle not in text


def test_metrics_count_commands_status_words_and_failures() -> None:
    metrics = MetricsObserver()
    events: list[ApduEvent] = []
    chip = VirtualChip(UID, defective=True)
    # Short APDUs only: no EF.ATR/INFO read first (test_trace_... shows that one).
    transport = InProcessTransport(chip, observers=[metrics, events.append], extended_length=False)
    with pytest.raises(MemoryFailure):
        personalise(transport, {EF_COM: tlv(0x60, b"\x01")})
    assert dict(metrics.commands) == {"CA": 1, "A4": 1, "E0": 1, "D6": 1}
    assert dict(metrics.status_words) == {"9000": 3, "6581": 1}
    assert [e.kind for e in events] == ["command", "response"] * 4
    assert all(not hasattr(e, "data") for e in events)
    chip.power_off()
    with pytest.raises(TransportFailure):
        transport.transmit(select_aid(LDS_AID))
    assert dict(metrics.errors) == {"encode.transport_failure": 1}
