"""Chip Authentication (ECDH, AES): two recorded passport sessions replayed byte for byte,
the key derivation checked independently, then the reader against the chip over a BAC
session, clones, and the chip's refusals.

ICAO publishes no worked example for Chip Authentication. The recorded sessions come from
gmrtd (github.com/gmrtd/gmrtd, MIT licence), ``chipauth/chip_auth_test.go``:
``TestChipAuthAT`` (an Austrian passport, brainpoolP256r1, no key id) and
``TestChipAuthDE`` (a German one, key id 195), each with the terminal's ephemeral private
key, the secure messaging keys the session ran under, every protected APDU, the keys after
CA and the verifying SELECT of EF.DG14 under them.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from printers.chip import tlv
from printers.chip.bac import BacChip, BacReader
from printers.chip.ca import (
    ID_CA_ECDH_3DES_CBC_CBC,
    ID_CA_ECDH_AES_CBC_CMAC_128,
    ID_CA_ECDH_AES_CBC_CMAC_256,
    CaChip,
    CaError,
    ca_session_keys,
    chip_authenticate,
    encode_point,
    general_authenticate,
    mse_set_at,
    oid_content,
)
from printers.chip.secinfo import dg14
from printers.chip.secread import parse_dg14
from printers.chip.sm import (
    ChipChannel,
    ReaderChannel,
    SecureMessagingError,
    SessionKeys,
    SmMacError,
    SmSessionEnded,
)


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@dataclass(frozen=True)
class Recorded:
    dg14: str
    keys: SessionKeys  # the secure messaging session CA ran under
    terminal_private: str
    key_id: int | None
    exchanges: tuple[tuple[str, str], ...]  # protected command, protected response
    new_ksenc: str
    new_ksmac: str

    def chip_public_key(self) -> ec.EllipticCurvePublicKey:
        # The DG14s give the curve as explicit parameters: brainpoolP256r1's (p =
        # A9FB57DB...1F6E5377). The public point is the BIT STRING 03 42 00 04 X Y.
        start = self.dg14.index("03420004") + 6
        point = hx(self.dg14[start : start + 130])
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.BrainpoolP256R1(), point)


_BRAINPOOL_DOMAIN = (
    "3081EC06072A8648CE3D02013081E0020101302C06072A8648CE3D0101022100A9FB57DBA1EEA9BC3E660A909D"
    "838D726E3BF623D52620282013481D1F6E5377304404207D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC"
    "5C6CE94A4B44F330B5D9042026DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B604"
    "41048BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262547EF835C3DAC4FD97F846"
    "1A14611DC9C27745132DED8E545C1D54C72F046997022100A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B5"
    "61A6F7901E0E82974856A7020101"
)

AUSTRIA = Recorded(
    dg14="6E82017E3182017A300D060804007F0007020202020101300F060A04007F000702020302020201013012"
    "060A04007F0007020204020202010202010D30820142060904007F00070202010230820133"
    + _BRAINPOOL_DOMAIN
    + "034200041983917269AC877C0B61544C2C022000D2A5ABA723E2D80141E648B40911DC3459761F27480E4B"
    "57181A53D8FE1190EA86C939AC14363178CAFFC621F0F905C3",
    keys=SessionKeys(
        "AES-128",
        hx("524170DE3419B7AF2F23E45AD6EF9595"),
        hx("97893F5FDC29A5C13A924FE7D8ED44FD"),
        0xF0,
    ),
    terminal_private="80EBAFC8A51BECD4D90BB640EE38C9FD5C12748D28AAA37096B98C4533C4F5F5",
    key_id=None,
    exchanges=(
        (
            "0C2241A41D8711015D8F69B1EA365CCE4304970DB12421F38E085340D338128085E700",
            "990290008E083F5136E82A6C34779000",
        ),
        (
            "0C860000608751019E18F1BA79D805379752BB560EB70AAC3CE3BC5AFE2FDD4AEB325CA8B578B4A93B9F"
            "66A5DF40005F8E878535251D33DD974AAF77FB858773E5799FA9DC1034E89B1150EC7F0BB3DB4BF37A1B9"
            "EA4458A9701008E089D204D950C0B95DB00",
            "8711010B0A5DFFC7432DE4DEB604291377A05B990290008E08B3384A1F5D1579739000",
        ),
        (  # SELECT EF.DG14 under the new keys
            "0CA4020C1D8711011B2EE500E84960DF7F37AFE7ADFF53838E084500F3B43E192A5700",
            "990290008E0803C4B125B4218CEF9000",
        ),
    ),
    new_ksenc="C8E27260EFD3F318D18C080CBF11C7E6",
    new_ksmac="A942190365204A21409EB28B52BF9160",
)

GERMANY = Recorded(
    dg14="6E82019A31820196300D060804007F00070202020201013012060A04007F0007020204020202010202010D"
    "3012060A04007F0007020204060202010202010D3013060A04007F00070202030202020101020200C33082014606"
    "0904007F00070202010230820133"
    + _BRAINPOOL_DOMAIN
    + "034200047036BC5D0BCF31913B59103BB6F2C0C98C99EF4C19B9517340B76BFE4EE2194C76C3F3314E021D4B"
    "092DB5A32AB7D6E297F2FBEAE45AA28DEFC4DA750FEAD54E020200C3",
    keys=SessionKeys(
        "AES-128",
        hx("CC86415F2ED7E8FD663B754265695AE1"),
        hx("581E84B8EE06C4D3EEE30461498D7FB3"),
        0xBA,
    ),
    terminal_private="84A5145885678EE9307C28C52736896267511203B7B8009C5FE27ABCBAECDCAA",
    key_id=195,
    exchanges=(
        (
            "0C2241A41D871101980953D37F67558690045D78A853B18A8E08929767A2CEF172E200",
            "990290008E08FC873EBB62219C8A9000",
        ),
        (
            "0C8600006087510161912C367A6322D24AA1D4522DC47A7345369257672DF1D1163D506EB6489395D808"
            "3FAD393A394297CE8703C42F22C864C1F4C8E70EE1CF9B497ACF6579190D90F36CF9E16FE2149FF572472"
            "85D9E1E9701008E08A1D7A16EFBFD932C00",
            "87110123E7159AC9B0EF92CE1F6755B89697E3990290008E088972F1595E1508C29000",
        ),
        (
            "0CA4020C1D871101FAD37EADBCDE7E6A0833035A9FFF5B708E0836560BBCE1FECD5F00",
            "990290008E0829D0E1EBBB61BE7A9000",
        ),
    ),
    new_ksenc="AF0EEDB52E87B945FC5503B1C6875C1C",
    new_ksmac="CEB85BEDCECFF1DD1E25DFB672C4A5BF",
)


def fixed_key(private_hex: str) -> Callable[[ec.EllipticCurve], ec.EllipticCurvePrivateKey]:
    def generate(curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
        return ec.derive_private_key(int(private_hex, 16), curve)

    return generate


class Replay:
    """``send`` that checks each command against the recording and answers its response."""

    def __init__(self, exchanges: tuple[tuple[str, str], ...]) -> None:
        self.pending: Iterator[tuple[str, str]] = iter(exchanges)
        self.sent: list[str] = []

    def __call__(self, command: bytes) -> tuple[bytes, int]:
        expected, response = next(self.pending)
        self.sent.append(command.hex().upper())
        assert self.sent[-1] == expected
        raw = hx(response)
        return raw[:-2], int.from_bytes(raw[-2:], "big")


@pytest.mark.parametrize("recorded", [AUSTRIA, GERMANY], ids=["AT", "DE"])
def test_the_reader_replays_a_recorded_passport_session_byte_for_byte(recorded: Recorded) -> None:
    old = ReaderChannel(recorded.keys)
    link = Replay(recorded.exchanges)
    keys = chip_authenticate(
        link,
        old,
        recorded.chip_public_key(),
        key_id=recorded.key_id,
        generate_key=fixed_key(recorded.terminal_private),
    )
    assert link.sent == [command for command, _ in recorded.exchanges[:2]]
    assert keys.cipher == "AES-128" and keys.ssc == 0
    assert (keys.ksenc.hex().upper(), keys.ksmac.hex().upper()) == (
        recorded.new_ksenc,
        recorded.new_ksmac,
    )
    assert not old.open  # the BAC/PACE session is over
    new = ReaderChannel(keys)
    select, response = recorded.exchanges[2]
    assert new.protect(hx("00A4020C02010E")).hex().upper() == select
    assert new.unprotect(hx(response)) == (b"", 0x9000)


@pytest.mark.parametrize("recorded", [AUSTRIA, GERMANY], ids=["AT", "DE"])
def test_the_recorded_commands_in_clear(recorded: Recorded) -> None:
    """The old session's chip end reads the recorded commands back to this module's MSE:Set
    AT and GENERAL AUTHENTICATE, and writes the chip's recorded answers (``7C 00``)."""
    chip = ChipChannel(recorded.keys)
    terminal = fixed_key(recorded.terminal_private)(ec.BrainpoolP256R1()).public_key()
    plain = [mse_set_at(key_id=recorded.key_id), general_authenticate(encode_point(terminal))]
    answers = [b"", hx("7C00")]
    for (command, response), expected, answer in zip(
        recorded.exchanges, plain, answers, strict=False
    ):
        assert chip.unprotect_command(hx(command)) == expected
        assert chip.protect_response(answer, 0x9000).hex().upper() == response


def test_the_kdf_of_the_recorded_session_computed_with_hashlib() -> None:
    """K = x of d_terminal * Q_chip (a second computation: cryptography's ECDH), then
    SHA-1(K || 00000001)[:16] and SHA-1(K || 00000002)[:16] by hand."""
    terminal = fixed_key(AUSTRIA.terminal_private)(ec.BrainpoolP256R1())
    secret = terminal.exchange(ec.ECDH(), AUSTRIA.chip_public_key())
    assert len(secret) == 32
    assert hashlib.sha1(secret + hx("00000001")).digest()[:16] == hx(AUSTRIA.new_ksenc)
    assert hashlib.sha1(secret + hx("00000002")).digest()[:16] == hx(AUSTRIA.new_ksmac)
    keys = ca_session_keys(secret)
    assert (keys.ksenc, keys.ksmac) == (hx(AUSTRIA.new_ksenc), hx(AUSTRIA.new_ksmac))
    aes256 = ca_session_keys(secret, ID_CA_ECDH_AES_CBC_CMAC_256)
    assert aes256.ksenc == hashlib.sha256(secret + hx("00000001")).digest()


def test_the_commands_in_clear() -> None:
    assert oid_content(ID_CA_ECDH_AES_CBC_CMAC_128) == hx("04007F00070202030202")
    assert mse_set_at() == hx("002241A40C800A04007F00070202030202")
    assert mse_set_at(key_id=195) == hx("002241A40F800A04007F00070202030202 8401C3")
    point = bytes((0x04,)) + bytes(64)
    assert general_authenticate(point) == hx("0086000045 7C43 8041") + point + hx("00")


# --- reader and chip ------------------------------------------------------------------------


def bac_session(rng: random.Random) -> tuple[ReaderChannel, ChipChannel]:
    chip = BacChip.from_mrz("203001234", "030517", "280517", random_bytes=rng.randbytes)
    reader = BacReader.from_mrz("203001234", "030517", "280517", random_bytes=rng.randbytes)
    keys = reader.authenticate(chip.answer)
    assert chip.session_keys == keys
    return ReaderChannel(keys), ChipChannel(keys)


class Card:
    """The chip end of the link: CA commands to :class:`CaChip`, anything else answered
    9000 with the INS echoed; an SM error answered in clear with its status word."""

    def __init__(self, ca: CaChip, channel: ChipChannel) -> None:
        self.ca, self.channel = ca, channel
        self.responses: list[bytes] = []

    def __call__(self, command: bytes) -> tuple[bytes, int]:
        try:
            if command[1] in (0x22, 0x86):
                response, self.channel = self.ca.exchange(self.channel, command)
            else:
                plain = self.channel.unprotect_command(command)
                response = self.channel.protect_response(plain[1:2], 0x9000)
        except SecureMessagingError as error:
            assert error.sw is not None
            response = hx(error.sw)
        self.responses.append(response)
        return response[:-2], int.from_bytes(response[-2:], "big")


def _exchange(channel: ReaderChannel, card: Card, command: str) -> tuple[bytes, int]:
    data, sw = card(channel.protect(hx(command)))
    return channel.unprotect(data + sw.to_bytes(2, "big"))


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.BrainpoolP256R1()], ids=lambda c: c.name)
def test_chip_authentication_end_to_end_over_bac(curve: ec.EllipticCurve) -> None:
    rng = random.Random(14)
    reader_bac, chip_bac = bac_session(rng)
    bac_keys = reader_bac.keys
    ca = CaChip(ec.derive_private_key(rng.getrandbits(200) + 1, curve))
    card = Card(ca, chip_bac)
    assert _exchange(reader_bac, card, "00B0000004") == (b"\xb0", 0x9000)  # BAC works
    keys = chip_authenticate(card, reader_bac, ca.public_key)
    assert keys.cipher == "AES-128" and keys.ssc == 0
    assert card.channel.keys == keys  # the chip switched too
    assert not chip_bac.open and not reader_bac.open
    # the answer to GENERAL AUTHENTICATE was protected under the BAC keys, not the new
    # ones: a copy of the BAC session at the counter the GA command took (READ BINARY and
    # MSE:Set AT, two steps each, then GA's own) reads it
    ga_response = card.responses[-1]
    late = ReaderChannel(SessionKeys("3DES", bac_keys.ksenc, bac_keys.ksmac, bac_keys.ssc + 4))
    late.protect(hx("00B0000001"))  # takes SSC + 5, as the GA command did
    assert late.unprotect(ga_response) == (hx("7C00"), 0x9000)
    reader = ReaderChannel(keys)
    assert _exchange(reader, card, "00A4020C02010E") == (b"\xa4", 0x9000)
    assert reader.keys.ssc == card.channel.keys.ssc == 2


def test_the_ca_key_from_dg14_as_secinfo_writes_it() -> None:
    """DG14 built and parsed by printers.chip.secinfo gives the key and OID CA needs."""
    rng = random.Random(15)
    reader_bac, chip_bac = bac_session(rng)
    ca = CaChip(ec.derive_private_key(rng.getrandbits(250) + 1, ec.SECP256R1()), key_id=7)
    found = parse_dg14(dg14(ca.public_key, ca_key_id=7)).chip_authentication_for(7)
    assert found is not None
    protocol, key = found
    assert protocol.protocol == ID_CA_ECDH_AES_CBC_CMAC_128 and key.public_key is not None
    card = Card(ca, chip_bac)
    keys = chip_authenticate(card, reader_bac, key.public_key, oid=protocol.protocol, key_id=7)
    assert _exchange(ReaderChannel(keys), card, "00B0000001") == (b"\xb0", 0x9000)


def test_a_clone_without_the_private_key_fails_the_first_command_under_the_new_keys() -> None:
    """Chip Authentication is implicit: a chip holding another key answers the two CA
    commands, but derives other keys, so the next protected command does not verify."""
    rng = random.Random(16)
    reader_bac, chip_bac = bac_session(rng)
    genuine = ec.derive_private_key(rng.getrandbits(250) + 1, ec.SECP256R1())
    clone = CaChip(ec.derive_private_key(rng.getrandbits(250) + 1, ec.SECP256R1()))
    card = Card(clone, chip_bac)
    keys = chip_authenticate(card, reader_bac, genuine.public_key())
    reader = ReaderChannel(keys)
    with pytest.raises(SecureMessagingError) as caught:
        _exchange(reader, card, "00A4020C02010E")
    assert caught.value.reason_code == "sm.aborted" and caught.value.sw == "6988"
    assert not card.channel.open and not reader.open


def test_a_tampered_general_authenticate_ends_the_session() -> None:
    rng = random.Random(17)
    reader_bac, chip_bac = bac_session(rng)
    ca = CaChip(ec.derive_private_key(rng.getrandbits(250) + 1, ec.SECP256R1()))
    card = Card(ca, chip_bac)

    def tampering(command: bytes) -> tuple[bytes, int]:
        if command[1] == 0x86:
            command = command[:20] + bytes((command[20] ^ 1,)) + command[21:]
        return card(command)

    with pytest.raises(SecureMessagingError):
        chip_authenticate(tampering, reader_bac, ca.public_key)
    assert not card.channel.open
    with pytest.raises(SmSessionEnded):
        card.channel.protect_response(b"", 0x9000)


def _answer(ca: CaChip, command: bytes) -> tuple[bytes, int]:
    result = ca.answer(command)
    return result.data, result.sw


def test_the_chip_refuses_out_of_order_and_wrong_commands() -> None:
    key = ec.derive_private_key(12345, ec.SECP256R1())
    ca = CaChip(key, key_id=3)
    point = encode_point(ec.derive_private_key(999, ec.SECP256R1()).public_key())
    assert _answer(ca, general_authenticate(point)) == (b"", 0x6985)  # no MSE:Set AT
    assert _answer(ca, mse_set_at(ID_CA_ECDH_AES_CBC_CMAC_256)) == (b"", 0x6A80)
    assert _answer(ca, mse_set_at(key_id=4)) == (b"", 0x6A88)
    assert _answer(ca, hx("002241A60C800A04007F00070202030202")) == (b"", 0x6A86)
    assert _answer(ca, hx("002241A403 800100")) == (b"", 0x6A80)
    assert _answer(ca, mse_set_at(key_id=3)) == (b"", 0x9000)
    off_curve = bytes((0x04,)) + bytes(31) + b"\x01" + bytes(31) + b"\x01"
    assert _answer(ca, general_authenticate(off_curve)) == (b"", 0x6A80)
    assert _answer(ca, general_authenticate(point)) == (b"", 0x6985)  # one attempt per MSE
    assert _answer(ca, mse_set_at()) == (b"", 0x9000)  # no key id: the chip's only key
    compressed = ec.derive_private_key(999, ec.SECP256R1()).public_key()
    short = compressed.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    assert _answer(ca, general_authenticate(short)) == (b"", 0x6A80)
    assert _answer(ca, mse_set_at()) == (b"", 0x9000)
    result = ca.answer(general_authenticate(point))
    assert (result.data, result.sw) == (hx("7C00"), 0x9000) and result.keys is not None
    terminal = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    assert result.keys == ca_session_keys(key.exchange(ec.ECDH(), terminal))
    assert tlv.decode_single(result.data, 0x7C) == b""


def test_a_refusal_is_protected_and_leaves_the_session_usable() -> None:
    rng = random.Random(18)
    reader_bac, chip_bac = bac_session(rng)
    ca = CaChip(ec.derive_private_key(rng.getrandbits(250) + 1, ec.SECP256R1()), key_id=1)
    card = Card(ca, chip_bac)
    with pytest.raises(CaError) as caught:
        chip_authenticate(card, reader_bac, ca.public_key, key_id=2)
    assert (caught.value.reason_code, caught.value.sw) == ("ca.refused", "6A88")
    assert reader_bac.open and card.channel is chip_bac
    assert _exchange(reader_bac, card, "00B0000001") == (b"\xb0", 0x9000)


def test_unsupported_protocols_are_refused_before_anything_is_sent() -> None:
    rng = random.Random(19)
    reader_bac, _ = bac_session(rng)
    key = ec.derive_private_key(5, ec.SECP256R1()).public_key()

    def never(command: bytes) -> tuple[bytes, int]:
        raise AssertionError("nothing may be sent")

    before = reader_bac.keys.ssc
    with pytest.raises(CaError) as caught:
        chip_authenticate(never, reader_bac, key, oid=ID_CA_ECDH_3DES_CBC_CBC)
    assert caught.value.reason_code == "ca.unsupported"
    assert reader_bac.open and reader_bac.keys.ssc == before
    with pytest.raises(CaError):
        CaChip(ec.derive_private_key(5, ec.SECP256R1()), oid=ID_CA_ECDH_3DES_CBC_CBC)


def test_a_chip_answering_version_2_data_is_refused() -> None:
    rng = random.Random(20)
    reader_bac, chip_bac = bac_session(rng)
    key = ec.derive_private_key(rng.getrandbits(250) + 1, ec.SECP256R1())

    def version_2(command: bytes) -> tuple[bytes, int]:
        plain = chip_bac.unprotect_command(command)
        data = hx("7C0A 8108 0102030405060708") if plain[1] == 0x86 else b""
        response = chip_bac.protect_response(data, 0x9000)
        return response[:-2], 0x9000

    with pytest.raises(CaError) as caught:
        chip_authenticate(version_2, reader_bac, key.public_key())
    assert caught.value.reason_code == "ca.protocol"


def test_a_replayed_ca_exchange_fails_under_the_new_session() -> None:
    rng = random.Random(21)
    reader_bac, chip_bac = bac_session(rng)
    ca = CaChip(ec.derive_private_key(rng.getrandbits(250) + 1, ec.SECP256R1()))
    sent: list[bytes] = []
    card = Card(ca, chip_bac)

    def recording(command: bytes) -> tuple[bytes, int]:
        sent.append(command)
        return card(command)

    chip_authenticate(recording, reader_bac, ca.public_key)
    with pytest.raises(SmMacError):
        card.channel.unprotect_command(sent[-1])  # old keys, old counter
