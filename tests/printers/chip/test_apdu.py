"""APDU builders against hand-written ISO 7816-4 hex; the status-word checking chain."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from line.errors import CardlineError, DeviceError
from printers.chip.apdu import (
    DEFAULT_CHAIN,
    LDS_AID,
    Apdu,
    AuthenticationFailed,
    ChipError,
    ClassNotSupported,
    CommandNotAllowed,
    ConditionsNotSatisfied,
    EndOfFile,
    ErrorCheckingChain,
    ExactSw,
    FileExists,
    FileNotFound,
    InstructionNotSupported,
    MemoryFailure,
    NotEnoughMemory,
    ReferenceNotFound,
    ResponsePending,
    SecurityStatusNotSatisfied,
    SmObjectsIncorrect,
    SmObjectsMissing,
    StatusWordError,
    UnexpectedStatus,
    WrongData,
    WrongLe,
    WrongLength,
    WrongOffset,
    WrongParameters,
    create_file,
    get_response,
    get_uid,
    lock,
    read_binary,
    select_aid,
    select_fid,
    update_binary,
)


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# --- builders -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("apdu", "expected"),
    [
        (select_aid(LDS_AID), "00 A4 04 0C 07 A0 00 00 02 47 10 01"),
        (select_fid(0x011E), "00 A4 02 0C 02 01 1E"),
        (select_fid(0x0102), "00 A4 02 0C 02 01 02"),
        (read_binary(0, 4), "00 B0 00 00 04"),
        (read_binary(0x1234, 0xDF), "00 B0 12 34 DF"),
        (read_binary(0x7FFF, 256), "00 B0 7F FF 00"),
        (update_binary(0, hx("60 03 5F 01 00")), "00 D6 00 00 05 60 03 5F 01 00"),
        (update_binary(0x0100, b"\xaa"), "00 D6 01 00 01 AA"),
        (create_file(0x0102, 20000), "00 E0 00 00 0D 62 0B 80 02 4E 20 82 01 01 83 02 01 02"),
        (create_file(0x011E, 0x16), "00 E0 00 00 0D 62 0B 80 02 00 16 82 01 01 83 02 01 1E"),
        (lock(), "80 01 00 00"),
        (get_uid(), "FF CA 00 00 00"),
        (get_response(0x10), "00 C0 00 00 10"),
        (get_response(0), "00 C0 00 00 00"),
    ],
)
def test_builders_write_the_iso7816_bytes(apdu: Apdu, expected: str) -> None:
    assert apdu.to_bytes() == hx(expected)


@pytest.mark.parametrize(
    "build",
    [
        lambda: read_binary(0x8000, 1),  # b8 of P1 would mean a short EF identifier
        lambda: read_binary(-1, 1),
        lambda: read_binary(0, 0),
        lambda: read_binary(0, 257),
        lambda: update_binary(0, b""),
        lambda: update_binary(0, bytes(256)),  # needs extended length
        lambda: update_binary(0x8000, b"\x00"),
        lambda: create_file(0x0101, 0),
        lambda: create_file(0x0101, 0x10000),
        lambda: create_file(0x10000, 10),
        lambda: select_fid(-1),
        lambda: select_aid(b"\xa0\x00"),
        lambda: Apdu(0x100, 0, 0, 0),
        lambda: Apdu(0, 0, 0, 0, le=0),
    ],
)
def test_builders_refuse_what_a_short_apdu_cannot_say(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_repr_and_header_show_no_data() -> None:
    apdu = update_binary(0, b"NGUYEN<<VAN<A")
    assert "NGUYEN" not in repr(apdu)
    assert apdu.header == "00 D6 00 00"
    assert repr(apdu) == "Apdu(00 D6 00 00, lc=13, le=None)"
    assert apdu.name == "UPDATE BINARY"
    assert lock().name == "LOCK"
    assert Apdu(0x00, 0x20, 0, 0).name == "INS 20"


apdus = st.builds(
    Apdu,
    cla=st.integers(0, 255),
    ins=st.integers(0, 255),
    p1=st.integers(0, 255),
    p2=st.integers(0, 255),
    data=st.binary(max_size=255),
    le=st.none() | st.integers(1, 256),
)


@given(apdus)
def test_from_bytes_reads_back_to_bytes(apdu: Apdu) -> None:
    assert Apdu.from_bytes(apdu.to_bytes()) == apdu


@pytest.mark.parametrize(
    "raw",
    ["00 A4 04", "00 D6 00 00 00 00 05", "00 D6 00 00 05 01 02", "00 D6 00 00 02 01 02 03 04"],
)
def test_from_bytes_rejects_malformed_and_extended_apdus(raw: str) -> None:
    with pytest.raises(ValueError):
        Apdu.from_bytes(hx(raw))


# --- the checking chain -------------------------------------------------------------------

SW_TABLE = [
    (0x6A82, FileNotFound, "encode.file_not_found"),
    (0x6982, SecurityStatusNotSatisfied, "encode.chip_locked"),
    (0x6B00, WrongOffset, "encode.wrong_offset"),
    (0x6A84, NotEnoughMemory, "encode.out_of_memory"),
    (0x6581, MemoryFailure, "encode.memory_failure"),
    (0x6700, WrongLength, "encode.wrong_length"),
    (0x6D00, InstructionNotSupported, "encode.ins_not_supported"),
    (0x6E00, ClassNotSupported, "encode.cla_not_supported"),
    (0x6A89, FileExists, "encode.file_exists"),
    (0x6A80, WrongData, "encode.wrong_data"),
    (0x6A86, WrongParameters, "encode.wrong_parameters"),
    (0x6986, CommandNotAllowed, "encode.no_current_file"),
    (0x6282, EndOfFile, "encode.end_of_file"),
    (0x6C07, WrongLe, "encode.wrong_le"),
    (0x6C00, WrongLe, "encode.wrong_le"),
    (0x6110, ResponsePending, "encode.response_pending"),
    (0x6F00, UnexpectedStatus, "encode.unexpected_status"),
    (0x6A83, UnexpectedStatus, "encode.unexpected_status"),
    (0x9001, UnexpectedStatus, "encode.unexpected_status"),
    (0x6301, UnexpectedStatus, "encode.unexpected_status"),
    (0x6300, AuthenticationFailed, "encode.authentication_failed"),
    (0x6985, ConditionsNotSatisfied, "encode.conditions_not_satisfied"),
    (0x6987, SmObjectsMissing, "encode.sm_missing"),
    (0x6988, SmObjectsIncorrect, "encode.sm_incorrect"),
    (0x6A88, ReferenceNotFound, "encode.reference_not_found"),
]


@pytest.mark.parametrize(("sw", "error", "reason"), SW_TABLE)
def test_every_status_word_maps_to_its_typed_error(
    sw: int, error: type[StatusWordError], reason: str
) -> None:
    command = update_binary(0x10, b"secret")
    with pytest.raises(error) as caught:
        DEFAULT_CHAIN.check(sw >> 8, sw & 0xFF, command=command, device="pcsc:Virtual PCD 00 00")
    exc = caught.value
    assert type(exc) is error
    assert isinstance(exc, ChipError)
    assert isinstance(exc, DeviceError)
    assert isinstance(exc, CardlineError)
    assert exc.sw == f"{sw:04X}"
    assert exc.reason_code == reason
    assert exc.device == "pcsc:Virtual PCD 00 00"
    assert exc.fields["sw"] == f"{sw:04X}"
    assert exc.fields["reason_code"] == reason
    assert f"UPDATE BINARY answered {sw:04X}" in str(exc)
    assert "secret" not in str(exc)


def test_9000_passes() -> None:
    DEFAULT_CHAIN.check(0x90, 0x00, command=select_fid(0x0101))


def test_a_chain_is_made_of_small_checkers_tried_in_order() -> None:
    class Mine(StatusWordError):
        reason = "encode.mine"

    chain = ErrorCheckingChain([ExactSw(0x6A82, Mine), *DEFAULT_CHAIN.checkers])
    with pytest.raises(Mine):
        chain.check(0x6A, 0x82)
    with pytest.raises(MemoryFailure):
        chain.check(0x65, 0x81)
    with pytest.raises(UnexpectedStatus, match=r"command answered 6A82"):
        ErrorCheckingChain([]).check(0x6A, 0x82)


def test_chip_error_carries_structured_fields() -> None:
    error = ChipError("reader gone", device="pcsc:X", reader="X")
    assert error.reason_code == "encode.chip_error"
    assert error.sw is None
    assert error.fields == {
        "device": "pcsc:X",
        "reason_code": "encode.chip_error",
        "card_serial": None,
        "sw": None,
        "reader": "X",
    }
    assert str(error) == "reader gone"
