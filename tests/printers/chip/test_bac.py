"""Basic Access Control, both ends: ICAO 9303-11 Appendix D.1-D.3 byte for byte, then the
reader against the chip (session keys agree, secure messaging works), wrong MRZs, forged
answers, and the chip's refusals.

Appendix D's values are also in ZeroPass dmrtd ``test/bac_test.dart`` ("Test vectors taken
from Appendix D.3 to Part 11 of ICAO 9303") and JMRTD-derived tests.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from mrz.base.functions import hash_string

from printers.chip.bac import (
    ENC,
    MAC,
    PACE,
    BacAuthenticationFailed,
    BacChip,
    BacError,
    BacInputError,
    BacProtocolError,
    BacReader,
    adjust_parity,
    bac_keys,
    cccd_document_number,
    derive_key,
    get_challenge,
    key_seed,
    mrz_information,
    mutual_authenticate,
    session_keys,
)
from printers.chip.sm import ChipChannel, ReaderChannel, RetailMac, TripleDesCbc


def hx(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# ICAO 9303-11 Appendix D (document L898902C<, born 1969-08-06, expires 1994-06-23)
MRZ_INFORMATION = "L898902C<369080619406236"
KSEED = "239AB9CB282DAF66231DC5A4DF6BFBAE"
KENC = "AB94FDECF2674FDFB9B391F85D7F76F2"
KMAC = "7962D9ECE03D1ACD4C76089DCE131543"
RND_IC = "4608F91988702212"
RND_IFD = "781723860C06C226"
K_IFD = "0B795240CB7049B01C19B33E32804F0B"
K_IC = "0B4F80323EB3191CB04970CB4052790B"
S = RND_IFD + RND_IC + K_IFD
E_IFD = "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2"
M_IFD = "5F1448EEA8AD90A7"
R = RND_IC + RND_IFD + K_IC
E_IC = "46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F"
M_IC = "2F2D235D074D7449"
SESSION_SEED = "0036D272F5C350ACAC50C3F572D23600"  # K.IFD xor K.IC
KSENC = "979EC13B1CBFE9DCD01AB0FED307EAE5"
KSMAC = "F1CB1F1FB5ADF208806B89DC579DC1F8"
SSC = "887022120C06C226"
MUTUAL_AUTHENTICATE = f"0082000028{E_IFD}{M_IFD}28"


def scripted(*values: str) -> Callable[[int], bytes]:
    """A random source giving ``values`` in order (and checking the sizes asked for)."""
    pending: Iterator[bytes] = iter(hx(value) for value in values)

    def random_bytes(count: int) -> bytes:
        value = next(pending)
        assert len(value) == count
        return value

    return random_bytes


class Link:
    """``send`` to a :class:`BacChip`, recording each command and answer in hex."""

    def __init__(self, chip: BacChip) -> None:
        self.chip = chip
        self.log: list[tuple[str, str, int]] = []

    def __call__(self, command: bytes) -> tuple[bytes, int]:
        data, sw = self.chip.answer(command)
        self.log.append((command.hex().upper(), data.hex().upper(), sw))
        return data, sw


# --- D.1, D.2: MRZ_information and keys -------------------------------------------------------


def test_mrz_information_of_appendix_d() -> None:
    assert mrz_information("L898902C", "690806", "940623") == MRZ_INFORMATION
    assert mrz_information("L898902C<", date(1969, 8, 6), date(1994, 6, 23)) == MRZ_INFORMATION


def test_the_cccd_document_number_is_the_ids_last_nine_digits() -> None:
    assert cccd_document_number("079203001234") == "203001234"
    info = mrz_information(cccd_document_number("079203001234"), "030517", "280517")
    assert info.startswith("203001234") and len(info) == 24
    # check digits from the independent ``mrz`` package (its ICAO 7-3-1 hash)
    digits = [hash_string(field) for field in ("203001234", "030517", "280517")]
    assert info == f"203001234{digits[0]}030517{digits[1]}280517{digits[2]}"
    assert info == "2030012345" + "0305174" + "2805173"


def test_a_card_without_expiry_uses_the_filler_and_check_digit_0() -> None:
    assert mrz_information("203001234", "630517", None).endswith("<<<<<<0")
    assert mrz_information("203001234", "630517", "<<<<<<").endswith("<<<<<<0")


@pytest.mark.parametrize(
    ("number", "birth", "expiry", "code"),
    [
        ("079203001234", "690806", "940623", "bac.input.document_number"),  # 12 digits
        ("l898902c", "690806", "940623", "bac.input.document_number"),
        ("", "690806", "940623", "bac.input.document_number"),
        ("L898902C", "69086", "940623", "bac.input.date_of_birth"),
        ("L898902C", None, "940623", "bac.input.date_of_birth"),
        ("L898902C", "690806", "9406-3", "bac.input.date_of_expiry"),
    ],
)
def test_bad_mrz_fields_are_refused_without_showing_them(
    number: str, birth: str | None, expiry: str, code: str
) -> None:
    with pytest.raises(BacInputError) as caught:
        mrz_information(number, birth, expiry)  # type: ignore[arg-type]
    assert caught.value.reason_code == code
    for value in (number, birth, expiry):
        if value:
            assert value not in str(caught.value)
    with pytest.raises(BacInputError):
        cccd_document_number("07920300123")


def test_key_seed_and_basic_access_keys_of_appendix_d() -> None:
    assert key_seed(MRZ_INFORMATION).hex().upper() == KSEED
    kenc, kmac = bac_keys(MRZ_INFORMATION)
    assert (kenc.hex().upper(), kmac.hex().upper()) == (KENC, KMAC)


def test_the_kdf_against_hashlib_and_the_parity_rule() -> None:
    seed = hx(KSEED)
    raw = hashlib.sha1(seed + bytes((0, 0, 0, 1))).digest()[:16]
    assert raw.hex().upper() == "AB94FCEDF2664EDFB9B291F85D7F77F2"  # before parity, D.2
    assert derive_key(seed, ENC) == adjust_parity(raw) == hx(KENC)
    for key in (derive_key(seed, ENC), derive_key(seed, MAC), derive_key(seed, PACE)):
        assert all(byte.bit_count() % 2 == 1 for byte in key)
    assert derive_key(seed, PACE, "AES-128") == hashlib.sha1(seed + hx("00000003")).digest()[:16]
    assert derive_key(seed, ENC, "AES-192") == hashlib.sha256(seed + hx("00000001")).digest()[:24]
    assert derive_key(seed, MAC, "AES-256") == hashlib.sha256(seed + hx("00000002")).digest()
    with pytest.raises(ValueError):
        derive_key(seed, 0)


@pytest.mark.parametrize(
    ("shared_secret", "ksenc", "ksmac"),
    [
        # ICAO 9303-11 Appendix G (PACE ECDH GM) and I (PACE ECDH IM), as quoted by ZeroPass
        # dmrtd test/kdf_test.dart: KDF(K, 1) and KDF(K, 2) for AES-128
        (
            "28768D20701247DAE81804C9E780EDE582A9996DB4A315020B2733197DB84925",
            "F5F0E35C0D7161EE6724EE513A0D9A7F",
            "FE251C7858B356B24514B3BD5F4297D1",
        ),
        (
            "67950559D0C06B4D4B86972D14460837461087F8419FDBC36AAF6CEAAC462832",
            "0A9DA4DB03BDDE39FC5202BC44B2E89E",
            "4B1C06491ED5140CA2B537D344C6C0B1",
        ),
    ],
)
def test_the_aes_kdf_against_icao_worked_examples(
    shared_secret: str, ksenc: str, ksmac: str
) -> None:
    secret = hx(shared_secret)
    assert derive_key(secret, ENC, "AES-128").hex().upper() == ksenc
    assert derive_key(secret, MAC, "AES-128").hex().upper() == ksmac


# --- D.3: mutual authentication ---------------------------------------------------------------


def test_the_cryptograms_of_appendix_d() -> None:
    kenc, kmac = hx(KENC), hx(KMAC)
    assert TripleDesCbc(kenc).encrypt(hx(S)).hex().upper() == E_IFD
    assert RetailMac(kmac).mac(hx(E_IFD)).hex().upper() == M_IFD
    assert TripleDesCbc(kenc).decrypt(hx(E_IC)).hex().upper() == R
    assert RetailMac(kmac).mac(hx(E_IC)).hex().upper() == M_IC


def test_the_retail_mac_block_by_block() -> None:
    """MAC algorithm 3 computed a second way: single DES block by block (ECB), then the
    last block through DES^-1 with Kb and DES with Ka."""
    ka, kb = hx(KMAC)[:8], hx(KMAC)[8:]
    des_a = Cipher(TripleDES(ka * 3), modes.ECB())
    des_b = Cipher(TripleDES(kb * 3), modes.ECB())
    message = hx(E_IFD) + hx("8000000000000000")
    h = bytes(8)
    for start in range(0, len(message), 8):
        block = bytes(x ^ y for x, y in zip(h, message[start : start + 8], strict=True))
        h = des_a.encryptor().update(block)
    mac = des_a.encryptor().update(des_b.decryptor().update(h))
    assert mac.hex().upper() == M_IFD


def test_the_session_keys_of_appendix_d() -> None:
    keys = session_keys(hx(K_IFD), hx(K_IC), hx(RND_IC), hx(RND_IFD))
    assert bytes(a ^ b for a, b in zip(hx(K_IFD), hx(K_IC), strict=True)) == hx(SESSION_SEED)
    assert keys.cipher == "3DES"
    assert (keys.ksenc.hex().upper(), keys.ksmac.hex().upper()) == (KSENC, KSMAC)
    assert keys.ssc_bytes.hex().upper() == SSC


def test_the_commands() -> None:
    assert get_challenge() == hx("0084000008")
    assert mutual_authenticate(hx(E_IFD + M_IFD)) == hx(MUTUAL_AUTHENTICATE)


def test_the_reader_sends_appendix_d_and_derives_its_session_keys() -> None:
    """Against the answers Appendix D records (not this module's chip)."""
    sent = []

    def recorded_chip(command: bytes) -> tuple[bytes, int]:
        sent.append(command.hex().upper())
        if command == hx("0084000008"):
            return hx(RND_IC), 0x9000
        return hx(E_IC + M_IC), 0x9000

    reader = BacReader(hx(KENC), hx(KMAC), random_bytes=scripted(RND_IFD, K_IFD))
    keys = reader.authenticate(recorded_chip)
    assert sent == ["0084000008", MUTUAL_AUTHENTICATE]
    assert (keys.ksenc.hex().upper(), keys.ksmac.hex().upper()) == (KSENC, KSMAC)
    assert keys.ssc_bytes.hex().upper() == SSC


def test_the_chip_answers_appendix_d() -> None:
    chip = BacChip(hx(KENC), hx(KMAC), random_bytes=scripted(RND_IC, K_IC))
    assert chip.answer(hx("0084000008")) == (hx(RND_IC), 0x9000)
    assert not chip.authenticated
    assert chip.answer(hx(MUTUAL_AUTHENTICATE)) == (hx(E_IC + M_IC), 0x9000)
    keys = chip.session_keys
    assert keys is not None and chip.authenticated
    assert (keys.ksenc.hex().upper(), keys.ksmac.hex().upper(), keys.ssc_bytes.hex().upper()) == (
        KSENC,
        KSMAC,
        SSC,
    )


def test_reader_and_chip_of_appendix_d_then_secure_messaging_reads_ef_com() -> None:
    chip = BacChip.from_mrz("L898902C", "690806", "940623", random_bytes=scripted(RND_IC, K_IC))
    link = Link(chip)
    reader = BacReader.from_mrz(
        "L898902C", "690806", "940623", random_bytes=scripted(RND_IFD, K_IFD)
    )
    keys = reader.authenticate(link)
    assert link.log == [
        ("0084000008", RND_IC, 0x9000),
        (MUTUAL_AUTHENTICATE, E_IC + M_IC, 0x9000),
    ]
    assert keys == chip.session_keys
    reading, answering = ReaderChannel(keys), ChipChannel(keys)
    protected = reading.protect(hx("00A4020C02011E"))
    assert protected == hx("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800")
    assert answering.unprotect_command(protected) == hx("00A4020C02011E")
    response = answering.protect_response(b"", 0x9000)
    assert response == hx("990290008E08FA855A5D4C50A8ED9000")
    assert reading.unprotect(response) == (b"", 0x9000)


def test_random_sessions_agree_and_differ() -> None:
    rng = random.Random(20210701)
    seen = set()
    for _ in range(20):
        chip = BacChip.from_mrz("203001234", "030517", "280517", random_bytes=rng.randbytes)
        reader = BacReader.from_mrz("203001234", "030517", "280517", random_bytes=rng.randbytes)
        keys = reader.authenticate(chip.answer)
        assert keys == chip.session_keys
        seen.add(keys.ksenc)
    assert len(seen) == 20


# --- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reader_mrz", "chip_mrz"),
    [
        (("203001234", "030517", "280517"), ("203001235", "030517", "280517")),
        (("203001234", "030518", "280517"), ("203001234", "030517", "280517")),
        (("203001234", "030517", None), ("203001234", "030517", "280517")),
    ],
)
def test_a_wrong_mrz_fails_mutual_authenticate_on_both_sides(
    reader_mrz: tuple[str, str, str | None], chip_mrz: tuple[str, str, str | None]
) -> None:
    rng = random.Random(7)
    chip = BacChip.from_mrz(*chip_mrz, random_bytes=rng.randbytes)
    link = Link(chip)
    reader = BacReader.from_mrz(*reader_mrz, random_bytes=rng.randbytes)
    with pytest.raises(BacAuthenticationFailed) as caught:
        reader.authenticate(link)
    assert (caught.value.reason_code, caught.value.sw) == ("bac.authentication", "6300")
    assert link.log[-1][1:] == ("", 0x6300)
    assert not chip.authenticated and chip.session_keys is None
    assert reader_mrz[0] not in str(caught.value)
    # the challenge is used up: replaying the same MUTUAL AUTHENTICATE meets 6985
    assert chip.answer(hx(link.log[-1][0])) == (b"", 0x6985)


def test_the_chip_can_answer_like_jmrtds_applet() -> None:
    chip = BacChip.from_mrz("203001234", "030517", "280517", failure_sw=0x6982)
    reader = BacReader.from_mrz("203001234", "030517", "280518")
    with pytest.raises(BacAuthenticationFailed) as caught:
        reader.authenticate(chip.answer)
    assert caught.value.sw == "6982"


def test_a_chip_without_the_keys_is_caught_by_its_mac() -> None:
    """A chip that skips the check of M_IFD and answers with other keys (a clone that does
    not know the MRZ): the reader's check of M_IC fails."""
    other_kenc, other_kmac = bac_keys(mrz_information("999999999", "010101", "300101"))

    def clone(command: bytes) -> tuple[bytes, int]:
        if command[1] == 0x84:
            return hx(RND_IC), 0x9000
        plain = hx(RND_IC + RND_IFD + K_IC)
        cryptogram = TripleDesCbc(other_kenc).encrypt(plain)
        return cryptogram + RetailMac(other_kmac).mac(cryptogram), 0x9000

    reader = BacReader(hx(KENC), hx(KMAC), random_bytes=scripted(RND_IFD, K_IFD))
    with pytest.raises(BacAuthenticationFailed) as caught:
        reader.authenticate(clone)
    assert caught.value.reason_code == "bac.mac"


def test_an_answer_to_another_challenge_is_refused() -> None:
    """Appendix D's genuine answer, replayed to a reader that drew another RND.IFD."""

    def replaying_chip(command: bytes) -> tuple[bytes, int]:
        return (hx(RND_IC) if command[1] == 0x84 else hx(E_IC + M_IC)), 0x9000

    reader = BacReader(hx(KENC), hx(KMAC), random_bytes=scripted("0102030405060708", K_IFD))
    with pytest.raises(BacAuthenticationFailed) as caught:
        reader.authenticate(replaying_chip)
    assert caught.value.reason_code == "bac.rnd_ifd"


@pytest.mark.parametrize(
    ("challenge", "answer", "error"),
    [
        ((b"", 0x6D00), None, "GET CHALLENGE answered 6D00"),
        ((bytes(4), 0x9000), None, "gave 4 bytes"),
        ((hx(RND_IC), 0x9000), (bytes(32), 0x9000), "gave 32 bytes"),
    ],
)
def test_protocol_errors(
    challenge: tuple[bytes, int], answer: tuple[bytes, int] | None, error: str
) -> None:
    def chip(command: bytes) -> tuple[bytes, int]:
        if command[1] == 0x84:
            return challenge
        assert answer is not None
        return answer

    with pytest.raises(BacProtocolError, match=error):
        BacReader(hx(KENC), hx(KMAC)).authenticate(chip)


@pytest.mark.parametrize(
    ("command", "sw"),
    [
        (MUTUAL_AUTHENTICATE, 0x6985),  # no challenge yet
        ("0084000004", 0x6700),
        ("0084010008", 0x6A86),
        ("8084000008", 0x6E00),
        ("00B0000004", 0x6D00),
        ("0082000020" + "00" * 32 + "20", 0x6700),
        ("00", 0x6700),
    ],
)
def test_the_chip_refuses_malformed_commands(command: str, sw: int) -> None:
    chip = BacChip(hx(KENC), hx(KMAC))
    assert chip.answer(hx(command)) == (b"", sw)
    assert not chip.authenticated


def test_a_new_challenge_or_a_reset_forgets_the_session() -> None:
    rng = random.Random(3)
    chip = BacChip(hx(KENC), hx(KMAC), random_bytes=rng.randbytes)
    BacReader(hx(KENC), hx(KMAC), random_bytes=rng.randbytes).authenticate(chip.answer)
    assert chip.authenticated
    chip.answer(get_challenge())
    assert not chip.authenticated
    BacReader(hx(KENC), hx(KMAC), random_bytes=rng.randbytes).authenticate(chip.answer)
    chip.reset()
    assert chip.session_keys is None
    assert chip.answer(hx(MUTUAL_AUTHENTICATE)) == (b"", 0x6985)


def test_a_short_random_source_is_refused() -> None:
    chip = BacChip(hx(KENC), hx(KMAC), random_bytes=lambda count: bytes(count - 1))
    with pytest.raises(ValueError):
        chip.answer(get_challenge())


def test_errors_and_reprs_hold_no_keys() -> None:
    assert repr(BacReader(hx(KENC), hx(KMAC))) == "BacReader()"
    assert KENC.lower() not in repr(BacChip(hx(KENC), hx(KMAC))).lower()
    assert issubclass(BacAuthenticationFailed, BacError)
