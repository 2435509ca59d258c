"""Active Authentication with ECDSA P-256: the chip's plain signature verifies with DG15's
key, a cloned chip's and another challenge's do not, OpenSSL agrees on what is signed (the
8 challenge bytes with SHA-256), RFC 6979's published P-256 signatures verify, and every
way verification fails has its reason code."""

from __future__ import annotations

import pickle
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from printers.chip import aa, apdu, secinfo, secread, tlv
from tests.printers.chip.helpers import BSI_DG15, ca_info, ca_key

CHALLENGE = bytes.fromhex("0123456789ABCDEF")
OTHER_CHALLENGE = bytes.fromhex("0123456789ABCDEE")

# RFC 6979 A.2.5: P-256 key, and the signatures of "sample" and "test" (k per RFC 6979).
RFC6979_X = int("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721", 16)
RFC6979_UX = int("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6", 16)
RFC6979_UY = int("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299", 16)
RFC6979_SIGNATURES = [
    (secinfo.ECDSA_PLAIN_SHA256, b"sample",
     "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
     "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"),
    (secinfo.ECDSA_PLAIN_SHA256, b"test",
     "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367"
     "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083"),
    (secinfo.ECDSA_PLAIN_SHA224, b"sample",
     "53B2FFF5D1752B2C689DF257C04C40A587FABABB3F6FC2702F1343AF7CA9AA3F"
     "B9AFB64FDC03DC1A131C7D2386D11E349F070AA432A4ACC918BEA988BF75C74C"),
]  # fmt: skip


class Chip:
    """What one card holds for Active Authentication: its key and its DG14/DG15."""

    def __init__(self, secret: int) -> None:
        self.key = ec.derive_private_key(secret, ec.SECP256R1())
        self.dg15 = secinfo.dg15(self.key.public_key())
        ca = ec.derive_private_key(secret + 1, ec.SECP256R1()).public_key()
        self.dg14 = secinfo.dg14(ca)


@pytest.fixture(scope="module")
def chip() -> Chip:
    return Chip(0x5EED)


def reason(dg15: bytes | None, dg14: bytes | None, challenge: bytes, signature: bytes) -> str:
    with pytest.raises(aa.AaError) as caught:
        aa.verify_active_authentication(dg15, dg14, challenge, signature)
    assert aa.inspect_active_authentication(dg15, dg14, challenge, signature) is not None
    return caught.value.reason_code


def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("the openssl command is needed for the independent check", pytrace=False)
    return path


def dg14_with(*infos: bytes) -> bytes:
    body = b"".join(infos)
    return tlv.encode(0x6E, b"\x31" + tlv.encode_length(len(body)) + body)


def aa_info(algorithm: str) -> bytes:
    value = {"protocol": secinfo.ID_AA, "version": 1, "signature_algorithm": algorithm}
    return bytes(secinfo.ActiveAuthenticationInfo(value).dump())


# --- the exchange --------------------------------------------------------------------------


def test_the_chips_signature_verifies_with_dg15(chip: Chip) -> None:
    signature = aa.internal_authenticate(chip.key, CHALLENGE)
    assert len(signature) == aa.SIGNATURE_LENGTH == 64
    aa.verify_active_authentication(chip.dg15, chip.dg14, CHALLENGE, signature)
    assert aa.inspect_active_authentication(chip.dg15, chip.dg14, CHALLENGE, signature) is None


def test_a_cloned_chip_fails(chip: Chip) -> None:
    """A clone copies every file (DG15, DG14, so the SOD still verifies) but cannot copy
    the private key: its own key's signature does not verify with DG15."""
    clone = ec.derive_private_key(0xC10E, ec.SECP256R1())
    signature = aa.internal_authenticate(clone, CHALLENGE)
    assert reason(chip.dg15, chip.dg14, CHALLENGE, signature) == "qc.aa.signature"


def test_a_signature_of_another_challenge_fails(chip: Chip) -> None:
    """A replayed answer (a signature recorded for another challenge) does not pass."""
    signature = aa.internal_authenticate(chip.key, OTHER_CHALLENGE)
    assert reason(chip.dg15, chip.dg14, CHALLENGE, signature) == "qc.aa.signature"


def test_a_damaged_signature_fails(chip: Chip) -> None:
    signature = bytearray(aa.internal_authenticate(chip.key, CHALLENGE))
    for at in (0, 31, 32, 63):
        damaged = signature.copy()
        damaged[at] ^= 0x01
        assert reason(chip.dg15, chip.dg14, CHALLENGE, bytes(damaged)) == "qc.aa.signature"
    zero = bytes(64)
    assert reason(chip.dg15, chip.dg14, CHALLENGE, zero) == "qc.aa.signature"


@given(st.binary(min_size=8, max_size=8))
@settings(max_examples=100)
def test_every_challenge_gets_a_64_byte_signature_that_verifies(challenge: bytes) -> None:
    chip = Chip(0xABCDEF)
    signature = aa.internal_authenticate(chip.key, challenge)
    assert len(signature) == 64
    aa.verify_active_authentication(chip.dg15, chip.dg14, challenge, signature)


def test_short_r_and_s_are_padded_to_32_bytes(chip: Chip) -> None:
    """r or s below 2^248 (1 time in 128) still take 32 bytes each, left-padded with 00."""
    for _attempt in range(5000):
        signature = aa.internal_authenticate(chip.key, CHALLENGE)
        if signature[0] == 0 or signature[32] == 0:
            break
    else:
        pytest.fail("no signature with a short r or s in 5000 attempts")
    assert len(signature) == 64
    aa.verify_active_authentication(chip.dg15, chip.dg14, CHALLENGE, signature)


def test_the_command_apdu_is_internal_authenticate(chip: Chip) -> None:
    command = aa.internal_authenticate_command(CHALLENGE)
    assert command.to_bytes() == bytes.fromhex("00 88 00 00 08 0123456789ABCDEF 00")
    assert apdu.Apdu.from_bytes(command.to_bytes()) == command
    assert (command.le, command.data) == (256, CHALLENGE)
    assert "0123456789ABCDEF" not in repr(command).upper()


def test_the_response_is_the_plain_signature(chip: Chip) -> None:
    signature = aa.internal_authenticate(chip.key, CHALLENGE)
    assert aa.parse_internal_authenticate_response(signature) == signature
    for bad in (b"", signature[:-1], signature + b"\x00"):
        with pytest.raises(aa.AaError) as caught:
            aa.parse_internal_authenticate_response(bad)
        assert caught.value.reason_code == "qc.aa.response"


# --- independent checks ----------------------------------------------------------------------


def test_openssl_verifies_the_chips_signature_over_the_challenge(
    chip: Chip, tmp_path: Path
) -> None:
    """``openssl dgst -sha256 -verify`` over the 8 challenge bytes accepts the chip's r||s
    (as DER): what is signed is the challenge itself, hashed with SHA-256."""
    signature = aa.internal_authenticate(chip.key, CHALLENGE)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    (tmp_path / "sig.der").write_bytes(encode_dss_signature(r, s))
    (tmp_path / "challenge").write_bytes(CHALLENGE)
    (tmp_path / "dg15.der").write_bytes(chip.dg15[2:])  # the SubjectPublicKeyInfo
    args = ["dgst", "-sha256", "-keyform", "DER", "-verify", str(tmp_path / "dg15.der"),
            "-signature", str(tmp_path / "sig.der"), str(tmp_path / "challenge")]  # fmt: skip
    result = subprocess.run([openssl(), *args], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout.strip()) == (0, "Verified OK")
    (tmp_path / "challenge").write_bytes(OTHER_CHALLENGE)
    result = subprocess.run([openssl(), *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1


def test_a_signature_openssl_makes_verifies(chip: Chip, tmp_path: Path) -> None:
    key = tmp_path / "aa.pem"
    key.write_bytes(
        chip.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    der = subprocess.run(
        [openssl(), "dgst", "-sha256", "-sign", str(key)],
        input=CHALLENGE, capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    r, s = decode_dss_signature(der)
    plain = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    aa.verify_active_authentication(chip.dg15, chip.dg14, CHALLENGE, plain)


@pytest.mark.parametrize(("algorithm", "message", "signature"), RFC6979_SIGNATURES)
def test_rfc6979_signatures_verify(algorithm: str, message: bytes, signature: str) -> None:
    """RFC 6979 A.2.5's published P-256 signatures, as r||s, verify over their messages (with
    the hash the ecdsa-plain OID names), and not over another message."""
    key = ec.derive_private_key(RFC6979_X, ec.SECP256R1()).public_key()
    numbers = key.public_numbers()
    assert (numbers.x, numbers.y) == (RFC6979_UX, RFC6979_UY)
    plain = bytes.fromhex(signature)
    aa.verify_signature(key, algorithm, message, plain)
    with pytest.raises(aa.AaError) as caught:
        aa.verify_signature(key, algorithm, message + b".", plain)
    assert caught.value.reason_code == "qc.aa.signature"


# --- what verification refuses --------------------------------------------------------------


def test_missing_or_malformed_files_are_named(chip: Chip) -> None:
    signature = aa.internal_authenticate(chip.key, CHALLENGE)
    assert reason(None, chip.dg14, CHALLENGE, signature) == "qc.aa.dg15_missing"
    assert reason(b"", chip.dg14, CHALLENGE, signature) == "qc.aa.dg15_missing"
    assert reason(chip.dg15[:-1], chip.dg14, CHALLENGE, signature) == "qc.aa.dg15_format"
    assert reason(chip.dg15, None, CHALLENGE, signature) == "qc.aa.dg14_format"
    assert reason(chip.dg15, chip.dg14[:-1], CHALLENGE, signature) == "qc.aa.dg14_format"
    without_aa = dg14_with(ca_info(), ca_key())
    assert secread.parse_dg14(without_aa).active_authentication is None
    assert reason(chip.dg15, without_aa, CHALLENGE, signature) == "qc.aa.dg14_format"


@pytest.mark.parametrize(
    "algorithm",
    [
        "1.2.840.113549.1.1.11",  # sha256WithRSAEncryption
        "1.2.840.10045.4.3.2",  # ecdsa-with-SHA256 (X9.62, DER signatures): not ecdsa-plain
        f"{secinfo.ECDSA_PLAIN_SIGNATURES}.1",  # ecdsa-plain-SHA1: SHALL NOT be used
        f"{secinfo.ECDSA_PLAIN_SIGNATURES}.6",  # ecdsa-plain-RIPEMD160: SHALL NOT be used
        secinfo.ECDSA_PLAIN_SHA384,  # longer than the P-256 key
        secinfo.ECDSA_PLAIN_SHA512,
        "1.2.3.4",
    ],
)
def test_unsupported_signature_algorithms_in_dg14_are_refused(chip: Chip, algorithm: str) -> None:
    signature = aa.internal_authenticate(chip.key, CHALLENGE)
    dg14 = dg14_with(aa_info(algorithm))
    assert reason(chip.dg15, dg14, CHALLENGE, signature) == "qc.aa.algorithm"


def test_an_rsa_dg15_is_refused_as_unsupported(chip: Chip) -> None:
    signature = aa.internal_authenticate(chip.key, CHALLENGE)
    assert reason(BSI_DG15, chip.dg14, CHALLENGE, signature) == "qc.aa.algorithm"


def test_sha224_is_supported_when_dg14_says_so(chip: Chip) -> None:
    der = chip.key.sign(CHALLENGE, ec.ECDSA(hashes.SHA224()))
    r, s = decode_dss_signature(der)
    plain = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    dg14 = dg14_with(aa_info(secinfo.ECDSA_PLAIN_SHA224))
    aa.verify_active_authentication(chip.dg15, dg14, CHALLENGE, plain)
    assert reason(chip.dg15, chip.dg14, CHALLENGE, plain) == "qc.aa.signature"


def test_a_der_signature_is_not_a_plain_one(chip: Chip) -> None:
    der = chip.key.sign(CHALLENGE, ec.ECDSA(hashes.SHA256()))
    assert reason(chip.dg15, chip.dg14, CHALLENGE, der) == "qc.aa.response"


def test_challenges_are_8_bytes(chip: Chip) -> None:
    signature = aa.internal_authenticate(chip.key, CHALLENGE)
    for challenge in (b"", CHALLENGE[:7], CHALLENGE + b"\x00"):
        assert reason(chip.dg15, chip.dg14, challenge, signature) == "qc.aa.challenge"
        with pytest.raises(aa.AaError) as caught:
            aa.internal_authenticate(chip.key, challenge)
        assert caught.value.reason_code == "aa.challenge"
        with pytest.raises(aa.AaError):
            aa.internal_authenticate_command(challenge)


def test_the_chip_side_needs_a_p256_key() -> None:
    with pytest.raises(aa.AaError) as caught:
        aa.internal_authenticate(ec.generate_private_key(ec.SECP384R1()), CHALLENGE)
    assert caught.value.reason_code == "aa.key"


def test_aa_errors_pickle_and_quote_no_data(chip: Chip) -> None:
    signature = aa.internal_authenticate(chip.key, OTHER_CHALLENGE)
    error = aa.inspect_active_authentication(chip.dg15, chip.dg14, CHALLENGE, signature)
    assert error is not None
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.reason_code, str(again)) == (
        aa.AaError,
        "qc.aa.signature",
        str(error),
    )
    assert CHALLENGE.hex() not in str(error).lower() and signature.hex() not in str(error)
