"""Secure messaging, both ends: ICAO 9303-11 Appendix D.4 (3DES) byte for byte, gmrtd's
recorded AES sessions byte for byte, tampering, replay, refusals, and Hypothesis round trips.

Sources of the vectors:

- ICAO Doc 9303-11 Appendix D.4 (also in JMRTD-derived tests, ZeroPass dmrtd
  ``test/sm_test.dart``, gmrtd ``iso7816/nfc_session_test.go``
  ``TestNfcSessionSecureMessagingTDES``);
- AES-256: gmrtd (github.com/gmrtd/gmrtd, MIT) ``iso7816/nfc_session_test.go``
  ``TestNfcSessionSecureMessagingAES``, EF.COM read from a passport after PACE;
- AES-128: the secure messaging part of gmrtd's ``chipauth/chip_auth_test.go``
  ``TestChipAuthAT``, a recorded Austrian-passport session.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from printers.chip.sm import (
    CIPHERS,
    ChipChannel,
    CipherName,
    ReaderChannel,
    RetailMac,
    SecureMessagingError,
    SessionKeys,
    SmAborted,
    SmFormatError,
    SmMacError,
    SmSequenceError,
    SmSessionEnded,
    SmUnsupported,
    max_command_data,
    max_response_data,
    pad,
    unpad,
)


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@dataclass(frozen=True)
class Exchange:
    command: str  # plain command APDU
    protected_command: str
    data: str  # plain response data
    sw: int
    protected_response: str


# --- ICAO 9303-11 Appendix D.4 ------------------------------------------------------------

APPENDIX_D = SessionKeys(
    "3DES",
    hx("979EC13B1CBFE9DCD01AB0FED307EAE5"),
    hx("F1CB1F1FB5ADF208806B89DC579DC1F8"),
    0x887022120C06C226,
)
APPENDIX_D_EXCHANGES = (
    Exchange(  # SELECT EF.COM
        "00 A4 02 0C 02 01 1E",
        "0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800",
        "",
        0x9000,
        "990290008E08FA855A5D4C50A8ED9000",
    ),
    Exchange(  # READ BINARY of the first four bytes
        "00 B0 00 00 04",
        "0CB000000D9701048E08ED6705417E96BA5500",
        "60145F01",
        0x9000,
        "8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000",
    ),
    Exchange(  # READ BINARY of the remaining 18 bytes from offset 4
        "00 B0 00 04 12",
        "0CB000040D9701128E082EA28A70F3C7B53500",
        "04303130365F36063034303030305C026175",
        0x9000,
        "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000",
    ),
)

# --- gmrtd, AES-256 after PACE ----------------------------------------------------------------

GMRTD_AES256 = SessionKeys(
    "AES-256",
    hx("74B94F408BBB2CD92571FD5B6370A94CCE7A2FA42AE3EB4DA47B97CE6EAA24C6"),
    hx("9E28D5D9FF1D979BE752E8926BF0E1D35A440FC0AEFC4AA3BC5610055AC8B113"),
    0x20,
)
GMRTD_AES256_EXCHANGES = (
    Exchange(
        "00 A4 02 0C 02 01 1E",
        "0CA4020C1D8711011D35E7EB510E21A0DD12380D9AD2B92D8E0828CB68B81D3FAFC000",
        "",
        0x9000,
        "990290008E08E083EAA61ADABFCE9000",
    ),
    Exchange(
        "00 B0 00 00 04",
        "0CB000000D9701048E084AFC933E0CDBE5F000",
        "60185F01",
        0x9000,
        "871101D8059A9CF835105082CA2B1837E4AEC0990290008E08B36DB56761D706BB9000",
    ),
    Exchange(
        "00 B0 00 04 16",
        "0CB000040D9701168E0811F7EFC907D1F27400",
        "04303130385F36063034303030305C06617563766D6E",
        0x9000,
        "87210142E919C115FAF69350B01813D77A9E8D91912A7F717AFD073F199070E61B79C6990290008E083382E3D983F441369000",
    ),
)

# --- gmrtd, AES-128: the BAC-less (PACE) session Chip Authentication ran in -----------------

GMRTD_AES128 = SessionKeys(
    "AES-128", hx("524170DE3419B7AF2F23E45AD6EF9595"), hx("97893F5FDC29A5C13A924FE7D8ED44FD"), 0xF0
)
_GA_DATA = (
    "7C43 8041 04"
    "4827C781BE1AC7A00B351214FD783AC76D99E831A6316C8FD6DE7BD96CFA31DA"
    "06B6B57BA380789729F4A028212A768C49BF5F97D98B1DB12BEEC1A1CD324FB2"
)
GMRTD_AES128_EXCHANGES = (
    Exchange(  # MSE:Set AT, id-CA-ECDH-AES-CBC-CMAC-128, no key id
        "00 22 41 A4 0C 80 0A 04007F00070202030202",
        "0C2241A41D8711015D8F69B1EA365CCE4304970DB12421F38E085340D338128085E700",
        "",
        0x9000,
        "990290008E083F5136E82A6C34779000",
    ),
    Exchange(  # GENERAL AUTHENTICATE with the terminal's ephemeral point; answer 7C 00
        f"00 86 00 00 45 {_GA_DATA} 00",
        "0C860000608751019E18F1BA79D805379752BB560EB70AAC3CE3BC5AFE2FDD4AEB325CA8B578B4A93B9F"
        "66A5DF40005F8E878535251D33DD974AAF77FB858773E5799FA9DC1034E89B1150EC7F0BB3DB4BF37A1B9"
        "EA4458A9701008E089D204D950C0B95DB00",
        "7C00",
        0x9000,
        "8711010B0A5DFFC7432DE4DEB604291377A05B990290008E08B3384A1F5D1579739000",
    ),
)

RECORDED = [
    pytest.param(APPENDIX_D, APPENDIX_D_EXCHANGES, 0x887022120C06C22C, id="icao-appendix-d-3des"),
    pytest.param(GMRTD_AES256, GMRTD_AES256_EXCHANGES, 0x26, id="gmrtd-aes-256"),
    pytest.param(GMRTD_AES128, GMRTD_AES128_EXCHANGES, 0xF4, id="gmrtd-aes-128"),
]


@pytest.mark.parametrize(("keys", "exchanges", "final_ssc"), RECORDED)
def test_the_reader_writes_the_recorded_commands_and_reads_the_recorded_responses(
    keys: SessionKeys, exchanges: tuple[Exchange, ...], final_ssc: int
) -> None:
    reader = ReaderChannel(keys)
    for step in exchanges:
        assert reader.protect(hx(step.command)).hex().upper() == step.protected_command
        assert reader.unprotect(hx(step.protected_response)) == (hx(step.data), step.sw)
    assert reader.keys.ssc == final_ssc


@pytest.mark.parametrize(("keys", "exchanges", "final_ssc"), RECORDED)
def test_the_chip_reads_the_recorded_commands_and_writes_the_recorded_responses(
    keys: SessionKeys, exchanges: tuple[Exchange, ...], final_ssc: int
) -> None:
    chip = ChipChannel(keys)
    for step in exchanges:
        assert chip.unprotect_command(hx(step.protected_command)) == hx(step.command)
        response = chip.protect_response(hx(step.data), step.sw)
        assert response.hex().upper() == step.protected_response
    assert chip.keys.ssc == final_ssc


def test_appendix_d_counter_moves_before_each_command_and_each_response() -> None:
    reader = ReaderChannel(APPENDIX_D)
    seen = []
    for step in APPENDIX_D_EXCHANGES:
        reader.protect(hx(step.command))
        seen.append(reader.keys.ssc_bytes.hex().upper())
        reader.unprotect(hx(step.protected_response))
        seen.append(reader.keys.ssc_bytes.hex().upper())
    assert seen == [f"887022120C06C2{n:02X}" for n in range(0x27, 0x2D)]


def test_the_select_of_appendix_d_step_by_step() -> None:
    """D.4's intermediate values, computed here with ``cryptography`` directly: a second
    path to the protected SELECT, not through ``sm``'s channel."""
    ssc = hx("887022120C06C227")
    ksenc, ksmac = APPENDIX_D.ksenc, APPENDIX_D.ksmac
    des3 = Cipher(TripleDES(ksenc + ksenc[:8]), modes.CBC(bytes(8))).encryptor()
    assert des3.update(hx("011E800000000000")).hex().upper() == "6375432908C044F6"
    n = ssc + hx("0CA4020C80000000") + hx("8709016375432908C044F6") + hx("8000000000")
    k1 = Cipher(TripleDES(ksmac[:8] * 3), modes.CBC(bytes(8))).encryptor()
    h = k1.update(n)[-8:]
    k2 = Cipher(TripleDES(ksmac[8:] * 3), modes.ECB()).decryptor()
    final = Cipher(TripleDES(ksmac[:8] * 3), modes.ECB()).encryptor()
    assert final.update(k2.update(h)).hex().upper() == "BF8B92D635FF24F8"
    assert RetailMac(ksmac).mac(ssc + hx("0CA4020C80000000") + hx("8709016375432908C044F6")) == hx(
        "BF8B92D635FF24F8"
    )


def test_the_aes_select_step_by_step() -> None:
    """gmrtd's AES-256 SELECT rebuilt with ``cryptography`` directly: IV = E(KSenc, SSC) with
    the 16-byte SSC, CBC, then CMAC over the padded input, truncated to 8 bytes."""
    keys = GMRTD_AES256
    ssc = (keys.ssc + 1).to_bytes(16, "big")
    iv = Cipher(algorithms.AES(keys.ksenc), modes.ECB()).encryptor().update(ssc)
    encryptor = Cipher(algorithms.AES(keys.ksenc), modes.CBC(iv)).encryptor()
    cryptogram = encryptor.update(hx("011E80") + bytes(13))
    do87 = hx("871101") + cryptogram
    mac = cmac.CMAC(algorithms.AES(keys.ksmac))
    mac.update(pad(ssc + pad(hx("0CA4020C"), 16) + do87, 16))
    expected = hx("0CA4020C1D") + do87 + hx("8E08") + mac.finalize()[:8] + hx("00")
    assert ReaderChannel(keys).protect(hx("00A4020C02011E")) == expected
    assert expected.hex().upper() == GMRTD_AES256_EXCHANGES[0].protected_command


# --- tampering, replay, refusals ------------------------------------------------------------


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes((data[index] ^ 0x01,)) + data[index + 1 :]


@pytest.mark.parametrize("index", [0, 2, 3, 6, 12, -3])  # CLA, P1, P2, DO'87', the MAC
def test_a_tampered_command_is_refused_and_ends_the_chips_session(index: int) -> None:
    chip = ChipChannel(APPENDIX_D)
    protected = hx(APPENDIX_D_EXCHANGES[0].protected_command)
    with pytest.raises(SecureMessagingError) as caught:
        chip.unprotect_command(_flip(protected, index))
    assert caught.value.sw in ("6988", "6987")
    assert not chip.open
    with pytest.raises(SmSessionEnded):
        chip.protect_response(b"", 0x9000)
    with pytest.raises(SmSessionEnded):
        chip.unprotect_command(protected)


def test_a_wrong_mac_is_a_mac_error_answered_6988() -> None:
    chip = ChipChannel(APPENDIX_D)
    with pytest.raises(SmMacError) as caught:
        chip.unprotect_command(_flip(hx(APPENDIX_D_EXCHANGES[0].protected_command), -3))
    assert (caught.value.reason_code, caught.value.sw) == ("sm.mac", "6988")


@pytest.mark.parametrize("index", [0, 3, 5, 9, -3])  # DO'87', DO'99', the MAC, the cryptogram
def test_a_tampered_response_is_refused_and_ends_the_readers_session(index: int) -> None:
    reader = ReaderChannel(APPENDIX_D)
    reader.protect(hx(APPENDIX_D_EXCHANGES[0].command))
    reader.unprotect(hx(APPENDIX_D_EXCHANGES[0].protected_response))
    reader.protect(hx(APPENDIX_D_EXCHANGES[1].command))
    response = hx(APPENDIX_D_EXCHANGES[1].protected_response)
    with pytest.raises(SecureMessagingError):
        reader.unprotect(_flip(response, index))
    assert not reader.open
    with pytest.raises(SmSessionEnded):
        reader.protect(hx(APPENDIX_D_EXCHANGES[2].command))


def test_the_trailer_in_clear_does_not_count_the_authenticated_status_does() -> None:
    reader = ReaderChannel(APPENDIX_D)
    reader.protect(hx(APPENDIX_D_EXCHANGES[0].command))
    forged_trailer = hx(APPENDIX_D_EXCHANGES[0].protected_response)[:-2] + hx("6A82")
    assert reader.unprotect(forged_trailer) == (b"", 0x9000)


def test_a_replayed_command_fails_its_mac() -> None:
    reader, chip = ReaderChannel(APPENDIX_D), ChipChannel(APPENDIX_D)
    first = reader.protect(hx("00B0000004"))
    assert chip.unprotect_command(first) == hx("00B0000004")
    reader.unprotect(chip.protect_response(b"abcd", 0x9000))
    with pytest.raises(SmMacError):
        chip.unprotect_command(first)  # the chip's SSC has moved on


def test_a_replayed_response_fails_its_mac() -> None:
    reader, chip = ReaderChannel(APPENDIX_D), ChipChannel(APPENDIX_D)
    chip.unprotect_command(reader.protect(hx("00B0000004")))
    old = chip.protect_response(b"abcd", 0x9000)
    reader.unprotect(old)
    chip.unprotect_command(reader.protect(hx("00B0000404")))
    chip.protect_response(b"efgh", 0x9000)
    with pytest.raises(SmMacError):
        reader.unprotect(old)


def test_a_command_in_clear_during_the_session_is_answered_6987() -> None:
    chip = ChipChannel(APPENDIX_D)
    with pytest.raises(SmFormatError) as caught:
        chip.unprotect_command(hx("00A4020C02011E"))
    assert (caught.value.reason_code, caught.value.sw) == ("sm.missing", "6987")
    assert not chip.open


@pytest.mark.parametrize(
    "body",
    [
        "",  # no Lc
        "08 97 01 04 99 02 90 00",  # no DO'8E'
        "05 97 01 04 8E 00",  # a DO'8E' of no bytes
        "06 97 01 04 8E 00",  # Lc does not match
        "0D 8E 08 0102030405060708 97 01 04",  # DO'97' after DO'8E'
        "03 9F 01 00",  # a two-byte tag: no SM data object has one
        "04 97 83 00 00",  # a three-byte length field
        "03 97 05 01",  # a value running past Lc
        "02 00 00",  # a padding byte between objects
    ],
)
def test_malformed_protected_commands_are_refused(body: str) -> None:
    chip = ChipChannel(APPENDIX_D)
    with pytest.raises(SmFormatError):
        chip.unprotect_command(hx("0CB00000") + hx(body))
    assert not chip.open


def test_the_chip_refusing_in_clear_ends_the_readers_session() -> None:
    reader = ReaderChannel(APPENDIX_D)
    reader.protect(hx("00B0000004"))
    with pytest.raises(SmAborted) as caught:
        reader.unprotect(hx("6988"))
    assert (caught.value.reason_code, caught.value.sw) == ("sm.aborted", "6988")
    assert not reader.open


def test_a_response_without_do99_is_refused() -> None:
    keys = APPENDIX_D
    reader = ReaderChannel(keys)
    reader.protect(hx("00B0000004"))
    mac = RetailMac(keys.ksmac).mac((keys.ssc + 2).to_bytes(8, "big"))
    with pytest.raises(SmFormatError):
        reader.unprotect(hx("8E08") + mac + hx("9000"))


def test_each_end_takes_its_turn() -> None:
    reader = ReaderChannel(APPENDIX_D)
    with pytest.raises(SmSequenceError):
        reader.unprotect(hx(APPENDIX_D_EXCHANGES[0].protected_response))
    assert not reader.open
    reader = ReaderChannel(APPENDIX_D)
    reader.protect(hx("00B0000004"))
    with pytest.raises(SmSequenceError):
        reader.protect(hx("00B0000004"))  # the response never came: the counters differ
    chip = ChipChannel(APPENDIX_D)
    with pytest.raises(SmSequenceError):
        chip.protect_response(b"", 0x9000)


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("00 B0 00 00 00 01 00", "extended length"),
        ("10 A4 02 0C 02 01 1E", "chaining"),
        ("0C A4 02 0C 02 01 1E", "already protected"),
        ("FF CA 00 00 00", "PC/SC pseudo-APDU"),
        ("00 B1 00 00 04 54 02 00 00 00", "odd INS with data"),
        ("00 D6 00 00 F0" + "00" * 0xF0, "too long once protected"),
    ],
)
def test_the_reader_refuses_what_it_cannot_protect_and_the_session_survives(
    command: str, why: str
) -> None:
    reader, chip = ReaderChannel(APPENDIX_D), ChipChannel(APPENDIX_D)
    with pytest.raises(SmUnsupported):
        reader.protect(hx(command))
    assert reader.open and reader.keys.ssc == APPENDIX_D.ssc
    assert chip.unprotect_command(reader.protect(hx("00B0000004"))) == hx("00B0000004")


@pytest.mark.parametrize("cipher", CIPHERS)
def test_the_longest_read_fits_a_short_response_and_one_byte_more_does_not(
    cipher: CipherName,
) -> None:
    keys = _keys(cipher)
    longest = max_response_data(cipher)
    assert longest == (231 if cipher == "3DES" else 223)
    reader, chip = ReaderChannel(keys), ChipChannel(keys)
    chip.unprotect_command(reader.protect(hx("00B00000") + bytes((longest + 1,))))
    with pytest.raises(SmUnsupported):
        chip.protect_response(bytes(longest + 1), 0x9000)
    assert chip.open  # refused before the counter moved: a shorter answer can follow
    response = chip.protect_response(bytes(longest), 0x9000)
    assert len(response) <= 256 + 2
    assert reader.unprotect(response) == (bytes(longest), 0x9000)
    longest_command = max_command_data(cipher)
    assert reader.protect(
        hx("00D60000") + bytes((longest_command,)) + bytes(longest_command) + b"\x00"
    )
    with pytest.raises(SmUnsupported):
        ReaderChannel(keys).protect(
            hx("00D60000") + bytes((longest_command + 1,)) + bytes(longest_command + 1) + b"\x00"
        )


def test_padding_method_2() -> None:
    assert pad(b"", 8) == hx("8000000000000000")
    assert pad(hx("011E"), 8) == hx("011E800000000000")
    assert pad(bytes(8), 8) == bytes(8) + hx("8000000000000000")
    assert unpad(hx("011E800000000000"), 8) == hx("011E")
    assert unpad(hx("0180") + bytes(14), 16) == hx("01")
    for bad in (hx("011E000000000000"), bytes(8), hx("01") + hx("80") + bytes(8)):
        with pytest.raises(SmFormatError):
            unpad(bad, 8)


def test_session_keys_refuse_wrong_lengths_and_never_show_a_key() -> None:
    with pytest.raises(ValueError):
        SessionKeys("3DES", bytes(24), bytes(16), 0)
    with pytest.raises(ValueError):
        SessionKeys("AES-128", bytes(16), bytes(16), 1 << 128)
    with pytest.raises(ValueError):
        SessionKeys("DES", bytes(16), bytes(16), 0)  # type: ignore[arg-type]
    shown = repr(APPENDIX_D)
    assert APPENDIX_D.ksenc.hex() not in shown.lower()
    assert shown == "SessionKeys(3DES, ssc=887022120C06C226)"


def test_sm_errors_pickle_with_their_status_word() -> None:
    error = SmMacError("the command's MAC does not verify")
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.reason_code, again.sw) == (SmMacError, "sm.mac", "6988")


# --- Hypothesis: random APDUs through both ends ------------------------------------------------


def _keys(cipher: CipherName, ssc: int = 0x1234) -> SessionKeys:
    size = {"3DES": 16, "AES-128": 16, "AES-192": 24, "AES-256": 32}[cipher]
    return SessionKeys(cipher, bytes(range(size)), bytes(range(100, 100 + size)), ssc)


@st.composite
def command_apdus(draw: st.DrawFn) -> bytes:
    cla = draw(st.sampled_from([0x00, 0x01, 0x03, 0x80, 0x83]))
    ins = draw(st.integers(0, 0xFF))
    p1, p2 = draw(st.integers(0, 0xFF)), draw(st.integers(0, 0xFF))
    data = draw(st.binary(min_size=0, max_size=200)) if ins % 2 == 0 else b""
    le = draw(st.none() | st.integers(1, 256))
    out = bytes((cla, ins, p1, p2))
    if data:
        out += bytes((len(data),)) + data
    if le is not None:
        out += bytes((le & 0xFF,))
    return out


@settings(max_examples=150, deadline=None)
@given(
    cipher=st.sampled_from(CIPHERS),
    ssc=st.integers(0, (1 << 63) - 1000),
    exchanges=st.lists(
        st.tuples(command_apdus(), st.binary(max_size=223), st.integers(0, 0xFFFF)),
        min_size=1,
        max_size=4,
    ),
)
def test_random_apdus_round_trip_through_both_ends(
    cipher: CipherName, ssc: int, exchanges: list[tuple[bytes, bytes, int]]
) -> None:
    keys = _keys(cipher, ssc)
    reader, chip = ReaderChannel(keys), ChipChannel(keys)
    for command, data, sw in exchanges:
        protected = reader.protect(command)
        assert protected[0] & 0x0C == 0x0C and protected[-1] == 0x00
        if len(command) > 12:  # 8 bytes or more of data: they travel encrypted
            assert command[5:13] not in protected
        assert chip.unprotect_command(protected) == command
        assert reader.unprotect(chip.protect_response(data, sw)) == (data, sw)
    assert reader.keys.ssc == chip.keys.ssc == ssc + 2 * len(exchanges)
