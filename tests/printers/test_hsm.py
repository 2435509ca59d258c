"""The Document Signer's key in the embedded PKCS#11 token (SoftHSM2, made under each test's
temporary directory with its own SOFTHSM2_CONF): made there, SENSITIVE and not EXTRACTABLE,
never in a file; signatures through it (one session for thousands of them, another process
with its own session), the PIN's rules, and the errors one line each."""

from __future__ import annotations

import functools
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, ObjectClass

from printers import ceremony, hsm, keys
from printers.signer import Pkcs11Signer, UsageCounter

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def paths(tmp_path: Path) -> keys.KeyPaths:
    return keys.init_test_keys(tmp_path / "home" / "keys", now=NOW)


def ds_public(paths: keys.KeyPaths) -> ec.EllipticCurvePublicKey:
    public = keys.load_certificate(paths.ds_cert).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return public


def test_the_ds_private_key_is_sensitive_and_never_extractable(paths: keys.KeyPaths) -> None:
    key_id = hsm.ds_key_id(ds_public(paths))
    with hsm.LOCK, hsm.open_session(paths.token) as session:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.ALWAYS_SENSITIVE] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.TOKEN] is True and key[Attribute.PRIVATE] is True
        assert key[Attribute.SIGN] is True and key[Attribute.DECRYPT] is False
        with pytest.raises(pkcs11.AttributeSensitive):
            key[Attribute.VALUE]  # the private scalar does not come out
        public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=key_id)
        point = public[Attribute.EC_POINT]
    uncompressed = ds_public(paths).public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    assert point == b"\x04" + bytes([len(uncompressed)]) + uncompressed  # DER OCTET STRING


def test_no_file_of_the_home_holds_the_ds_private_key(paths: keys.KeyPaths) -> None:
    home = paths.directory.parent
    pem_keys = [
        path
        for path in home.rglob("*")
        if path.is_file() and b"PRIVATE KEY-----" in path.read_bytes()
    ]
    assert pem_keys == [paths.csca_key], "only the offline CA's key, which is not the DS's"
    offline = serialization.load_pem_private_key(
        paths.csca_key.read_bytes(), password=ceremony.test_passphrase(paths)
    )
    assert offline.public_key() != ds_public(paths)
    assert not paths.csca_key.is_relative_to(paths.directory), "not beside the DS key"
    pin = hsm.PinFile(paths.directory / "token.pin").read()
    for path in home.rglob("*"):
        if path.is_file() and path.name != "token.pin":
            assert pin.encode() not in path.read_bytes(), path


def test_one_session_makes_thousands_of_signatures(paths: keys.KeyPaths) -> None:
    signer = keys.load_signer(paths)
    session = signer._session
    public = ds_public(paths)
    for number in range(3000):
        message = f"signed attributes {number}".encode()
        public.verify(signer.sign(message), message, ec.ECDSA(hashes.SHA256()))
    assert signer._session is session and signer.signatures == 3001  # and load_signer's check
    signer.close()
    assert UsageCounter.total(paths.usage_file(signer.certificate)) == 3001


def test_a_signature_is_over_the_message_not_its_digest(paths: keys.KeyPaths) -> None:
    signer = keys.load_signer(paths)
    signature = signer.sign(b"message")
    with pytest.raises(InvalidSignature):
        ds_public(paths).verify(signature, b"another message", ec.ECDSA(hashes.SHA256()))
    signer.close()


def test_signers_of_two_homes_in_one_process_take_turns(tmp_path: Path) -> None:
    first = keys.load_signer(keys.init_test_keys(tmp_path / "a" / "keys", now=NOW))
    second = keys.load_signer(keys.init_test_keys(tmp_path / "b" / "keys", now=NOW))
    for signer in (first, second, first, second):
        public = signer.certificate.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signer.sign(b"m"), b"m", ec.ECDSA(hashes.SHA256()))
    first.close()
    second.close()


@functools.cache
def _signer(paths: keys.KeyPaths) -> Pkcs11Signer:
    return keys.load_signer(paths)  # once per process, as a helper keeps it


def _sign_in_helper(paths: keys.KeyPaths, message: bytes) -> tuple[int, bytes]:
    return os.getpid(), _signer(paths).sign(message)


def test_a_helper_process_opens_its_own_session(paths: keys.KeyPaths) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pid, signature = pool.submit(_sign_in_helper, paths, b"from the helper").result()
        again, _ = pool.submit(_sign_in_helper, paths, b"once more").result()
    assert pid != os.getpid() and again == pid
    ds_public(paths).verify(signature, b"from the helper", ec.ECDSA(hashes.SHA256()))
    # The helper flushed its count when it ended: 1 check + 2 signatures.
    assert UsageCounter.total(paths.usage_file(keys.load_certificate(paths.ds_cert))) == 3


def test_what_travels_to_a_helper_holds_no_pin(paths: keys.KeyPaths) -> None:
    pin = hsm.PinFile(paths.directory / "token.pin").read()
    assert pin.encode() not in pickle.dumps(paths)
    assert pin not in repr(paths) and pin not in paths.token.uri()


def test_a_wrong_pin_is_refused_in_one_line_that_does_not_show_it(paths: keys.KeyPaths) -> None:
    pin_file = paths.directory / "token.pin"
    pin_file.write_text("not-the-pin-4242\n")
    with pytest.raises(hsm.HsmError) as caught:
        keys.load_signer(paths)
    assert caught.value.reason_code == "keys.hsm.pin"
    assert str(caught.value) == (f"token 'cardline-ds' refused the PIN from file:{pin_file}")
    assert "not-the-pin" not in str(caught.value)


def test_a_pin_file_others_can_read_is_refused(paths: keys.KeyPaths) -> None:
    pin_file = paths.directory / "token.pin"
    pin_file.chmod(0o640)
    with pytest.raises(hsm.HsmError, match="readable by others") as caught:
        keys.load_signer(paths)
    assert caught.value.reason_code == "keys.hsm.pin_file"
    pin_file.unlink()
    with pytest.raises(hsm.HsmError, match="no PIN file"):
        keys.load_signer(paths)


def test_no_such_token_or_module_is_one_line(paths: keys.KeyPaths, tmp_path: Path) -> None:
    other_label = keys.KeyPaths.in_directory(paths.directory, token_label="not-there")
    with pytest.raises(hsm.HsmError, match="no token labelled 'not-there'") as caught:
        keys.load_signer(other_label)
    assert caught.value.reason_code == "keys.hsm.token" and "\n" not in str(caught.value)
    nowhere = hsm.TokenRef(
        module=tmp_path / "libnothing.so", label="x", pin=hsm.PinFile(tmp_path / "pin")
    )
    with pytest.raises(hsm.HsmError, match="no PKCS#11 module at") as caught:
        hsm.open_session(nowhere)
    assert caught.value.reason_code == "keys.hsm.module"


def test_a_signer_refuses_a_certificate_without_an_ec_key(paths: keys.KeyPaths) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name.from_rfc4514_string("CN=rsa,C=VN")
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(NOW).not_valid_after(NOW.replace(year=2030))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    with pytest.raises(hsm.HsmError, match="not an EC key"):
        Pkcs11Signer(paths.token, certificate)


def test_usage_counts_add_up_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "usage" / "ab.count"
    one, two = UsageCounter(path, step=10), UsageCounter(path, step=10)
    for _ in range(25):
        one.add()
    two.add(7)
    assert UsageCounter.total(path) == 20, "flushed in steps"
    one.flush()
    two.flush()
    assert UsageCounter.total(path) == 32
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_threads_share_one_signer(paths: keys.KeyPaths) -> None:
    """The printer's thread and the main thread may both reach the token: one lock."""
    from concurrent.futures import ThreadPoolExecutor

    signer = keys.load_signer(paths)
    public = ds_public(paths)

    def work(number: int) -> None:
        for index in range(300):
            message = f"{number}:{index}".encode()
            public.verify(signer.sign(message), message, ec.ECDSA(hashes.SHA256()))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(4)))
    assert signer.signatures == 1 + 4 * 300
    signer.close()
    assert UsageCounter.total(paths.usage_file(signer.certificate)) == 1 + 4 * 300


def _log_in_and_sign(paths: keys.KeyPaths, start: multiprocessing.synchronize.Event) -> str:
    """In a new process: log in to the token (SoftHSM rewrites token.object) and sign."""
    start.wait(60)
    try:
        signer = keys.load_signer(paths)
        signature = signer.sign(b"at once")
        signer.close()
    except Exception as exc:  # noqa: BLE001 - the test counts every failure with its kind
        return f"{type(exc).__name__}: {exc}"
    return signature.hex()


def test_processes_logging_in_at_once_all_reach_the_token(paths: keys.KeyPaths) -> None:
    """Workers and helpers of one centre share the embedded token. Without the machine-wide
    lock about one login in twelve failed here (no such token, CKR_GENERAL_ERROR)."""
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Event()
    outcomes: list[str] = []
    for _ in range(3):
        with ProcessPoolExecutor(max_workers=6, mp_context=context) as pool:
            futures = [pool.submit(_log_in_and_sign, paths, start) for _ in range(6)]
            start.set()
            outcomes += [future.result() for future in futures]
        start.clear()
    public = ds_public(paths)
    for outcome in outcomes:
        assert not outcome.startswith(("HsmError", "GeneralError", "PKCS11Error")), outcome
        public.verify(bytes.fromhex(outcome), b"at once", ec.ECDSA(hashes.SHA256()))


def _open_and_report(paths: keys.KeyPaths, entered: multiprocessing.Queue[str]) -> None:
    entered.put("trying")
    with hsm.LOCK, hsm.open_session(paths.token):
        entered.put("in")


def test_while_one_process_is_in_the_embedded_token_another_waits(
    paths: keys.KeyPaths,
) -> None:
    import queue

    context = multiprocessing.get_context("spawn")
    entered: multiprocessing.Queue[str] = context.Queue()
    with hsm.LOCK, hsm.open_session(paths.token):
        assert hsm.lock_file(paths.token.softhsm_conf).exists()  # type: ignore[arg-type]
        other = context.Process(target=_open_and_report, args=(paths, entered))
        other.start()
        assert entered.get(timeout=60) == "trying"
        with pytest.raises(queue.Empty):
            entered.get(timeout=3)  # held out while this process is in the module
    assert entered.get(timeout=60) == "in"
    other.join(60)
    assert other.exitcode == 0
