"""Extended-length APDUs: only with a chip that declares them (EF.ATR/INFO's DO'7F66'), under
secure messaging as in clear; short APDUs keep working, for readers that never look."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printers.chip import secinfo
from printers.chip.apdu import LDS_AID, Apdu, read_binary, select_aid, select_fid, update_binary
from printers.chip.atrinfo import EF_ATR_INFO, atr_info, extended_lengths, read_extended_lengths
from printers.chip.personalise import (
    EF_COM,
    EF_DG1,
    EF_DG2,
    EF_DG13,
    EF_SOD,
    initialise,
    personalise,
)
from printers.chip.reader import read_chip
from printers.chip.sm import (
    ChipChannel,
    ExtendedLengths,
    ReaderChannel,
    SessionKeys,
    SmUnsupported,
)
from printers.chip.transport import InProcessTransport
from printers.chip.vchip import EXTENDED_LENGTHS, VirtualChip

UID = bytes.fromhex("04A1B2C3D4E5F7")
ACCESS = ("070751984", "700412", "300412")
LENGTHS = ExtendedLengths(command=0x1000, response=0x10002)


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- the APDU -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("apdu", "expected"),
    [
        (read_binary(0x0102, 0x1388, extended=True), "00 B0 01 02 00 13 88"),  # case 2E
        (read_binary(0, 0x10000, extended=True), "00 B0 00 00 00 00 00"),  # Le 65536
        (Apdu(0, 0xD6, 0, 0, b"\x01" * 300), "00 D6 00 00 00 01 2C" + "01" * 300),  # 3E
        (Apdu(0, 0x88, 0, 0, b"\x02" * 256, le=300), "00 88 00 00 00 01 00" + "02" * 256 + "01 2C"),
        (read_binary(0, 256), "00 B0 00 00 00"),  # short when short will do
    ],
)
def test_extended_apdus_are_written_as_iso7816_4_says(apdu: Apdu, expected: str) -> None:
    assert apdu.extended == (len(apdu.to_bytes()) > 5 and apdu.to_bytes()[4] == 0)
    assert apdu.to_bytes() == hx(expected)
    assert Apdu.from_bytes(hx(expected), extended=True) == apdu


@given(
    st.builds(
        Apdu,
        cla=st.integers(0, 255),
        ins=st.integers(0, 255),
        p1=st.integers(0, 255),
        p2=st.integers(0, 255),
        data=st.binary(max_size=600),
        le=st.none() | st.integers(1, 0x10000),
    )
)
def test_from_bytes_reads_back_every_extended_apdu(apdu: Apdu) -> None:
    assert Apdu.from_bytes(apdu.to_bytes(), extended=True) == apdu


def test_extended_apdus_are_refused_unless_asked_for() -> None:
    with pytest.raises(ValueError, match="extended"):
        Apdu.from_bytes(hx("00 B0 00 00 00 13 88"))
    with pytest.raises(ValueError):
        read_binary(0, 257)
    with pytest.raises(ValueError):
        update_binary(0, bytes(256))


# --- EF.ATR/INFO --------------------------------------------------------------------------


def test_the_extended_length_information_reads_back() -> None:
    content = atr_info(LENGTHS)
    assert content == hx("7F66 09 02 02 10 00 02 03 01 00 02")
    assert extended_lengths(content) == LENGTHS
    assert extended_lengths(hx("7F66 03 02 01 FF")) is None  # one length only
    assert extended_lengths(hx("4703 000040")) is None  # no DO'7F66'
    assert extended_lengths(b"\x7f\x66\x05") is None  # malformed


def test_a_locked_chip_shows_ef_atr_info_in_clear_and_never_lets_it_be_written() -> None:
    chip = VirtualChip(UID)
    transport = InProcessTransport(chip)
    assert chip.transmit(select_fid(EF_ATR_INFO).to_bytes()) == hx("9000")
    assert chip.transmit(update_binary(0, b"\x00").to_bytes()) == hx("6982")
    issue(transport, chip_files_for(transport))
    chip.power_off()
    transport = InProcessTransport(chip)
    assert read_extended_lengths(transport) == EXTENDED_LENGTHS
    # The application's files stay closed in clear.
    assert chip.transmit(select_aid(LDS_AID).to_bytes()) == hx("9000")
    assert chip.transmit(select_fid(EF_COM).to_bytes()) == hx("6982")


def test_a_chip_of_short_apdus_has_no_ef_atr_info_and_refuses_extended_ones() -> None:
    chip = VirtualChip(UID, extended=None)
    chip.power_on()
    assert chip.transmit(select_fid(EF_ATR_INFO).to_bytes()) == hx("6A82")
    assert read_extended_lengths(InProcessTransport(chip)) is None
    assert chip.transmit(hx("00 B0 00 00 00 13 88")) == hx("6700")


# --- secure messaging ---------------------------------------------------------------------


@pytest.mark.parametrize("cipher", ["3DES", "AES-128"])
def test_an_extended_read_binary_under_secure_messaging(cipher: str) -> None:
    keys = SessionKeys(cipher, bytes(range(16)), bytes(range(16, 32)), 7)  # type: ignore[arg-type]
    reader, chip = ReaderChannel(keys), ChipChannel(keys)
    reader.allow_extended(LENGTHS)
    chip.allow_extended(LENGTHS)
    protected = reader.protect(read_binary(0, 5000, extended=True).to_bytes())
    assert protected[:5] == hx("0C B0 00 00 00") and protected[-2:] == hx("0000")
    assert protected[7:11] == hx("97 02 13 88")  # DO'97' holds the extended Le
    assert chip.unprotect_command(protected) == hx("00 B0 00 00 00 13 88")
    data = bytes(random.Random(1).randbytes(5000))
    response = chip.protect_response(data, 0x9000)
    assert response[:2] == hx("87 82")
    assert reader.unprotect(response) == (data, 0x9000)


def test_a_short_read_whose_protected_answer_is_too_long_goes_extended() -> None:
    keys = SessionKeys("3DES", bytes(range(16)), bytes(range(16, 32)), 0)
    reader, chip = ReaderChannel(keys), ChipChannel(keys)
    reader.allow_extended(LENGTHS)
    chip.allow_extended(LENGTHS)
    protected = reader.protect(read_binary(0, 239).to_bytes())  # 258 bytes once protected
    assert protected[4] == 0 and protected[-2:] == hx("0000")
    chip.unprotect_command(protected)
    assert reader.unprotect(chip.protect_response(bytes(239), 0x9000)) == (bytes(239), 0x9000)


def test_a_chip_that_declared_no_extended_lengths_refuses_an_extended_command() -> None:
    keys = SessionKeys("AES-128", bytes(range(16)), bytes(range(16, 32)), 0)
    reader, chip = ReaderChannel(keys), ChipChannel(keys)
    reader.allow_extended(LENGTHS)
    with pytest.raises(SmUnsupported):
        chip.unprotect_command(reader.protect(read_binary(0, 5000, extended=True).to_bytes()))
    assert not chip.open


def test_a_reader_refuses_a_command_longer_than_the_chip_takes() -> None:
    keys = SessionKeys("AES-128", bytes(range(16)), bytes(range(16, 32)), 0)
    reader = ReaderChannel(keys)
    reader.allow_extended(ExtendedLengths(command=300, response=0x10002))
    with pytest.raises(SmUnsupported):
        reader.protect(Apdu(0, 0xD6, 0, 0, bytes(400)).to_bytes())
    assert reader.open


# --- a whole inspection -------------------------------------------------------------------


def chip_files_for(transport: InProcessTransport) -> dict[int, bytes]:
    """The chip's key pairs made, and files of a real card's sizes (random content) with
    the DG14 and DG15 of those keys."""
    keys = initialise(transport, *ACCESS)
    rng = random.Random(5)

    def tlv(tag: bytes, value: bytes) -> bytes:
        n = len(value)
        length = bytes([n]) if n < 0x80 else bytes([0x82, n >> 8, n & 0xFF])
        return tag + length + value

    return {
        EF_COM: tlv(b"\x60", rng.randbytes(22)),
        EF_DG1: tlv(b"\x61", rng.randbytes(93)),
        EF_DG2: tlv(b"\x75", rng.randbytes(9000)),
        EF_DG13: tlv(b"\x6d", rng.randbytes(600)),
        0x010E: secinfo.dg14(keys.ca),
        0x010F: secinfo.dg15(keys.aa),
        EF_SOD: tlv(b"\x77", rng.randbytes(1900)),
    }


def issue(transport: InProcessTransport, files: dict[int, bytes]) -> None:
    personalise(transport, files)


class Counting:
    """The chip's side of the wire: every command it was sent."""

    def __init__(self, chip: VirtualChip) -> None:
        self.commands: list[bytes] = []
        self._transmit = chip.transmit
        chip.transmit = self  # type: ignore[method-assign]

    def __call__(self, command: bytes) -> bytes:
        self.commands.append(command)
        return self._transmit(command)

    def extended(self) -> int:
        return sum(len(c) > 5 and c[4] == 0 for c in self.commands)


def inspected(chip: VirtualChip, *, transport_extended: bool) -> tuple[dict[str, bytes], Counting]:
    counting = Counting(chip)
    chip.power_off()
    transport = InProcessTransport(chip, extended_length=transport_extended)
    reading = read_chip(
        transport, document_number=ACCESS[0], date_of_birth=ACCESS[1], date_of_expiry=ACCESS[2]
    )
    assert reading.problems == ()
    del chip.transmit  # type: ignore[method-assign]
    return reading.files, counting


def test_an_inspection_reads_the_same_files_with_extended_and_with_short_apdus() -> None:
    chip = VirtualChip(UID)
    transport = InProcessTransport(chip)
    files = chip_files_for(transport)
    issue(transport, files)
    fast, extended = inspected(chip, transport_extended=True)
    slow, short = inspected(chip, transport_extended=False)  # a reader of short APDUs only
    assert fast == slow
    assert fast["DG2"] == files[EF_DG2] and fast["SOD"] == files[EF_SOD]
    assert extended.extended() > 0 and short.extended() == 0
    assert len(extended.commands) < len(short.commands) / 2
    # one protected READ BINARY per EF, by its short EF identifier (Le 00 00: to its end),
    # and no SELECT under secure messaging
    protected = [c for c in extended.commands if c[0] == 0x0C]
    reads = [c for c in protected if c[1] == 0xB0]
    assert sorted(c[2] for c in reads) == sorted(0x80 | (fid & 0x1F) for fid in files)
    assert not any(c[1] == 0xA4 for c in protected)
    # every command after BAC is protected: SM's CLA bits, in either reading
    for counted in (extended, short):
        after_bac = counted.commands[[c[1] for c in counted.commands].index(0x82) + 1 :]
        assert after_bac and all(c[0] & 0x0C == 0x0C for c in after_bac)


def test_a_chip_of_short_apdus_is_read_with_short_apdus() -> None:
    chip = VirtualChip(UID, extended=None)
    transport = InProcessTransport(chip)
    files = chip_files_for(transport)
    issue(transport, files)
    read, counted = inspected(chip, transport_extended=True)
    assert read["DG2"] == files[EF_DG2]
    assert counted.extended() == 0


@pytest.mark.parametrize(("chip_extended", "transport_extended"), [(True, True), (False, True),
                                                                   (True, False)])  # fmt: skip
def test_personalisation_writes_in_extended_apdus_only_when_both_ends_can(
    chip_extended: bool, transport_extended: bool
) -> None:
    chip = VirtualChip(UID, extended=EXTENDED_LENGTHS if chip_extended else None)
    files = chip_files_for(InProcessTransport(chip))
    counted = Counting(chip)
    personalise(InProcessTransport(chip, extended_length=transport_extended), files)
    assert chip.locked and chip.files() == files
    writes = [c for c in counted.commands if c[1] == 0xD6]
    if chip_extended and transport_extended:
        assert counted.extended() == len(writes) - sum(len(f) <= 255 for f in files.values())
        assert len(writes) == sum(-(-len(f) // 4089) for f in files.values())
    else:
        assert counted.extended() == 0
        assert len(writes) == sum(-(-len(f) // 223) for f in files.values())


class WarningChip(VirtualChip):
    """A chip that answers a READ BINARY of Le 00 00 with the end-of-file warning 6282 (as
    some do) instead of 9000: the reader reads such a chip the header's way."""

    def _read_binary(self, apdu: Apdu) -> bytes:
        answer = super()._read_binary(apdu)
        if apdu.le == 0x10000 and answer[-2:] == b"\x90\x00":
            return answer[:-2] + b"\x62\x82"
        return answer


def test_a_chip_that_warns_at_the_end_of_a_whole_read_is_read_all_the_same() -> None:
    chip = WarningChip(UID)
    transport = InProcessTransport(chip)
    files = chip_files_for(transport)
    issue(transport, files)
    read, counted = inspected(chip, transport_extended=True)
    assert read["DG2"] == files[EF_DG2] and read["SOD"] == files[EF_SOD]
    assert sum(c[0] == 0x0C and c[1] == 0xB0 for c in counted.commands) > 2 * len(files)


class NoSfiChip(VirtualChip):
    """A chip that refuses short EF identifiers (6A86): the reader selects each EF."""

    def _read_binary(self, apdu: Apdu) -> bytes:
        return b"\x6a\x86" if apdu.p1 & 0x80 else super()._read_binary(apdu)


def test_a_chip_without_short_ef_identifiers_is_read_by_selecting_each_ef() -> None:
    chip = NoSfiChip(UID)
    transport = InProcessTransport(chip)
    files = chip_files_for(transport)
    issue(transport, files)
    read, counted = inspected(chip, transport_extended=True)
    assert read["DG2"] == files[EF_DG2] and read["SOD"] == files[EF_SOD]
    protected = [c for c in counted.commands if c[0] == 0x0C]
    # tried, and refused, once a reading: DG14's before Chip Authentication, the rest's after
    assert sum(c[1] == 0xB0 and c[2] & 0x80 != 0 for c in protected) == 2
    assert sum(c[1] == 0xA4 for c in protected) == len(files)
