"""The Document Signer's private key in a PKCS#11 token (python-pkcs11), where it is made
and used and which it never leaves.

- ``TokenRef``: which module, which token (label), where its PIN comes from (a ``PinSource``,
  never the PIN itself: a ``TokenRef`` travels to helper processes), and for the embedded
  SoftHSM2 token its own ``SOFTHSM2_CONF``.
- ``init_softhsm_token``: the embedded default, a SoftHSM2 token under the keys directory,
  its user PIN generated into an owner-only file. Its SO PIN is not kept: a token whose PIN
  is lost is replaced (``cardline keys init --force``).
- ``generate_ds_key``: an EC P-256 key pair made inside the token, the private key
  SENSITIVE, not EXTRACTABLE, SIGN only; CKA_ID is the subject key identifier of its public
  key (as in its certificate), so ``ds_key_uri`` names it from the certificate alone.
- signing with it: ``printers.signer.Pkcs11Signer``.

One process, one configuration per module: SoftHSM reads ``SOFTHSM2_CONF`` when it is
initialised, so opening a token of another embedded home re-initialises the library (tests
do; the line never does) and every signer reopens its session when it sees that. SoftHSM is
initialised without locking callbacks (python-pkcs11 passes none), so every call into the
module holds ``LOCK``.

Several processes, one embedded token: SoftHSM's file store is not safe across processes
(every login rewrites the token's ``token.object``, and a process reading it meanwhile sees
it half written: no such token, or CKR_GENERAL_ERROR). So for an embedded token ``LOCK`` is
also an exclusive ``flock`` on ``<SOFTHSM2_CONF>.lock``, taken from before SoftHSM is
initialised: the line's workers and helper processes use the token one call at a time. A
centre's HSM (no ``softhsm_conf``) orders its own clients; there ``LOCK`` is the threads'.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import secrets
import shutil
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pkcs11 import Attribute, KeyType, ObjectClass, TokenFlag
from pkcs11.util.ec import encode_ec_public_key
from pkcs11.util.ec import encode_named_curve_parameters as named_curve

from line.files import private_dir, write_private
from printers.errors import PrintersError

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Library

SOFTHSM_MODULES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"),
)
DEFAULT_TOKEN_LABEL = "cardline-ds"


class ModuleLock:
    """``LOCK``: one thread of this process at a time in the PKCS#11 module and, once
    ``span`` named a lock file (an embedded SoftHSM token's), one process of the machine
    at a time too. Re-entrant; the file lock is taken by the outermost ``with`` and dropped
    when it ends."""

    def __init__(self) -> None:
        self._threads = threading.RLock()
        self._depth = 0
        self._path: Path | None = None
        self._fd: int | None = None
        self._held = False

    def __enter__(self) -> ModuleLock:
        self._threads.acquire()
        self._depth += 1
        if self._depth == 1 and self._fd is not None:
            self._take()
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._held:
            self._held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)  # type: ignore[arg-type]
        self._threads.release()

    def span(self, path: Path | None) -> None:
        """From now on, hold the machine-wide lock ``path`` too (``None``: threads only).
        Called holding ``LOCK``, before the module reads the token: takes ``path`` at once."""
        if path == self._path:
            return
        self._drop_file()
        self._path = path
        if path is not None:
            try:
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                self._path = None
                raise HsmError(
                    f"cannot open the token's lock file {path} ({exc.strerror})",
                    reason_code="keys.hsm.lock",
                ) from None
            if self._depth > 0:
                self._take()

    def _take(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # type: ignore[arg-type]
        self._held = True

    def _drop_file(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the descriptor releases its flock
        self._fd, self._path, self._held = None, None, False

    def after_fork(self) -> None:
        """In a forked child: the parent's descriptor shares the parent's lock; open our own
        when next needed (the child holds nothing yet)."""
        path = self._path
        self._threads = threading.RLock()
        self._depth = 0
        self._fd, self._path, self._held = None, None, False
        if path is not None:
            self._path = None
            self.span(path)


LOCK = ModuleLock()
os.register_at_fork(after_in_child=LOCK.after_fork)
_loaded: dict[str, Path | None] = {}  # module -> the SOFTHSM2_CONF it was initialised with
_generation = 0  # counts re-initialisations: sessions of an older one are gone


class HsmError(PrintersError):
    """The token cannot be reached or used; ``reason_code`` is ``keys.hsm.<what>``. Never
    carries a PIN."""

    def __init__(self, message: str, *, reason_code: str) -> None:
        super().__init__(message, reason_code=reason_code)
        self.reason_code = reason_code


class PinSource(Protocol):
    """Where a token's user PIN comes from (picklable, holds no PIN). A key ceremony's
    source (two custodians' halves, M of N shares) is another implementation."""

    def read(self) -> str: ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PinFile:
    """A PIN in a file only its owner can read (one line; a trailing newline is dropped)."""

    path: Path

    def read(self) -> str:
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise HsmError(f"no PIN file {self.path}", reason_code="keys.hsm.pin_file") from None
        except OSError as exc:
            raise HsmError(
                f"PIN file {self.path} cannot be read ({exc.strerror})",
                reason_code="keys.hsm.pin_file",
            ) from None
        if mode & 0o077:
            raise HsmError(
                f"PIN file {self.path} readable by others (mode {mode:04o}); chmod 600 it",
                reason_code="keys.hsm.pin_file",
            )
        pin = data.decode("utf-8", "replace").removesuffix("\n").removesuffix("\r")
        if not pin or "\n" in pin:
            raise HsmError(
                f"PIN file {self.path} does not hold one PIN line", reason_code="keys.hsm.pin_file"
            )
        return pin

    def describe(self) -> str:
        return f"file:{self.path}"


@dataclass(frozen=True, slots=True)
class TokenRef:
    """A PKCS#11 token: ``module`` (the .so), ``label``, ``pin``; ``softhsm_conf`` for an
    embedded SoftHSM2 token with its own configuration (``None``: the module's own)."""

    module: Path
    label: str
    pin: PinSource
    softhsm_conf: Path | None = None

    def uri(self, *, key_id: bytes | None = None, kind: str | None = None) -> str:
        """RFC 7512 ``pkcs11:`` URI of the token, or of its object ``key_id``/``kind``."""
        path = [f"token={_pchar(self.label)}"]
        if key_id is not None:
            path.append("id=" + "".join(f"%{byte:02X}" for byte in key_id))
        if kind is not None:
            path.append(f"type={kind}")
        query = f"module-path={_qchar(str(self.module))}&pin-source={_qchar(self.pin.describe())}"
        return "pkcs11:" + ";".join(path) + "?" + query


def _pchar(value: str) -> str:
    return quote(value, safe=":[]@!$'()*+,=&")


def _qchar(value: str) -> str:
    return quote(value, safe=":[]@!$'()*+,=/?|")


def generation() -> int:
    """How many times this process re-initialised a module: a session opened under an
    older generation is gone."""
    return _generation


def find_softhsm() -> Path | None:
    """SoftHSM2's PKCS#11 module on this machine (Debian ``softhsm2``), or ``None``."""
    return next((path for path in SOFTHSM_MODULES if path.is_file()), None)


def _library(token: TokenRef) -> Library:
    """The module of ``token``, initialised with its configuration. Holds ``LOCK``."""
    global _generation
    module = str(token.module)
    if not token.module.is_file():
        raise HsmError(f"no PKCS#11 module at {module}", reason_code="keys.hsm.module")
    conf = token.softhsm_conf
    switch = module in _loaded and conf is not None and _loaded[module] != conf
    if conf is not None:
        LOCK.span(lock_file(conf))  # before SoftHSM first reads the token directory
    if conf is not None and (switch or module not in _loaded):
        os.environ["SOFTHSM2_CONF"] = str(conf)  # SoftHSM reads it at C_Initialize
    try:
        library = pkcs11.lib(module)  # one object per module and process
        if switch:
            library.reinitialize()
            _generation += 1
    except pkcs11.PKCS11Error as exc:
        raise HsmError(
            f"PKCS#11 module {module} cannot be initialised ({type(exc).__name__})",
            reason_code="keys.hsm.module",
        ) from None
    if conf is not None or module not in _loaded:
        _loaded[module] = conf
    return library


def lock_file(conf: Path) -> Path:
    """The machine-wide lock of the embedded token configured by ``conf``."""
    return conf.with_name(conf.name + ".lock")


def _token(token: TokenRef) -> pkcs11.Token:
    library = _library(token)
    try:
        return library.get_token(token_label=token.label)
    except pkcs11.NoSuchToken:
        raise HsmError(
            f"no token labelled {token.label!r} in {token.module} (embedded token: "
            "cardline keys init; the centre's HSM: CARDLINE_PKCS11_TOKEN_LABEL)",
            reason_code="keys.hsm.token",
        ) from None
    except pkcs11.MultipleTokensReturned:
        raise HsmError(
            f"more than one token labelled {token.label!r} in {token.module}",
            reason_code="keys.hsm.token",
        ) from None


_anchors: dict[tuple[str, str, str], tuple[int, pkcs11.Session]] = {}


def _anchor(token: TokenRef) -> tuple[str, str, str]:
    return (str(token.module), str(token.softhsm_conf), token.label)


def _login(token: TokenRef, found: pkcs11.Token) -> None:
    """Log this process in to ``token`` once. PKCS#11 login is per application: one
    logged-in session (the anchor, kept until exit) serves every session opened after it,
    and closing those does not log the others out."""
    anchor = _anchor(token)
    held = _anchors.get(anchor)
    if held is not None and held[0] == _generation:
        return
    try:
        session = found.open(user_pin=token.pin.read())
    except pkcs11.UserAlreadyLoggedIn:
        return  # logged in by another anchor of this process (same token, other name)
    except (pkcs11.PinIncorrect, pkcs11.PinInvalid, pkcs11.PinLenRange):
        raise HsmError(
            f"token {token.label!r} refused the PIN from {token.pin.describe()}",
            reason_code="keys.hsm.pin",
        ) from None
    except pkcs11.PinLocked:
        raise HsmError(
            f"token {token.label!r}: its user PIN is locked", reason_code="keys.hsm.pin"
        ) from None
    except pkcs11.PKCS11Error as exc:
        raise HsmError(
            f"token {token.label!r}: cannot log in ({type(exc).__name__})",
            reason_code="keys.hsm.error",
        ) from None
    _anchors[anchor] = (_generation, session)


def open_session(token: TokenRef, *, rw: bool = False) -> pkcs11.Session:
    """A session of ``token`` with this process logged in as its user (the PIN read from
    its source once, used, and dropped). Callers hold ``LOCK`` while they use it."""
    with LOCK:
        found = _token(token)
        _login(token, found)
        try:
            return found.open(rw=rw)
        except pkcs11.PKCS11Error as exc:
            raise HsmError(
                f"token {token.label!r} cannot be opened ({type(exc).__name__})",
                reason_code="keys.hsm.error",
            ) from None


SOFTHSM_CONF = """\
# cardline's embedded TEST token (SoftHSM2): for test and demonstration only.
directories.tokendir = {tokendir}
objectstore.backend = file
log.level = ERROR
slots.removable = false
"""


def init_softhsm_token(
    *, tokendir: Path, conf: Path, pin_file: Path, label: str = DEFAULT_TOKEN_LABEL
) -> TokenRef:
    """A new SoftHSM2 token ``label`` in ``tokendir`` (replacing what was there), with its
    own ``conf`` and a random user PIN written to ``pin_file`` (0600)."""
    module = find_softhsm()
    if module is None:
        raise HsmError(
            "SoftHSM2 is not installed (Debian package softhsm2; make setup installs it)",
            reason_code="keys.hsm.module",
        )
    if "\n" in str(tokendir):
        raise HsmError(f"{tokendir!r}: no newline in a token directory", reason_code="keys.hsm")
    shutil.rmtree(tokendir, ignore_errors=True)
    private_dir(tokendir)
    write_private(conf, SOFTHSM_CONF.format(tokendir=tokendir))
    user_pin = secrets.token_urlsafe(24)
    so_pin = secrets.token_urlsafe(24)
    write_private(pin_file, user_pin + "\n")
    token = TokenRef(module=module, label=label, pin=PinFile(pin_file), softhsm_conf=conf)
    with LOCK:
        library = _library(token)
        library.reinitialize()  # see the empty token directory
        global _generation
        _generation += 1
        free = [
            slot
            for slot in library.get_slots(token_present=True)
            if not slot.get_token().flags & TokenFlag.TOKEN_INITIALIZED
        ]
        if not free:
            raise HsmError("SoftHSM2 offers no free slot", reason_code="keys.hsm.token")
        # python-pkcs11 has no C_InitToken: call it in the same (already initialised) module.
        init_token = ctypes.CDLL(str(module)).C_InitToken
        init_token.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        init_token.restype = ctypes.c_ulong
        so = so_pin.encode()
        result = init_token(free[0].slot_id, so, len(so), label.encode().ljust(32, b" "))
        if result != 0:
            raise HsmError(f"C_InitToken failed (CKR {result:#x})", reason_code="keys.hsm.token")
        with _token(token).open(rw=True, so_pin=so_pin) as session:
            session.init_pin(user_pin)
    return token


def generate_ds_key(token: TokenRef) -> ec.EllipticCurvePublicKey:
    """A new P-256 key pair inside ``token``; returns its public key. The private key is
    SENSITIVE and not EXTRACTABLE; both halves carry CKA_ID = the public key's subject key
    identifier."""
    with LOCK, open_session(token, rw=True) as session:
        parameters = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: named_curve("secp256r1")}, local=True
        )
        temporary = secrets.token_bytes(8)
        public_object, private_object = parameters.generate_keypair(
            store=True,
            id=temporary,
            label=f"cardline-ds-{temporary.hex()}",
            public_template={Attribute.VERIFY: True, Attribute.PRIVATE: False},
            private_template={
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.PRIVATE: True,
                Attribute.SIGN: True,
                Attribute.DECRYPT: False,
                Attribute.DERIVE: False,
                Attribute.UNWRAP: False,
            },
        )
        public = load_der_public_key(encode_ec_public_key(public_object))
        assert isinstance(public, ec.EllipticCurvePublicKey)
        key_id = ds_key_id(public)
        label = f"cardline-ds-{key_id.hex()[:16]}"
        for item in (public_object, private_object):
            item[Attribute.ID] = key_id
            item[Attribute.LABEL] = label
        return public


def ds_key_id(public: ec.EllipticCurvePublicKey) -> bytes:
    """CKA_ID of a DS key: its subject key identifier (RFC 5280 method 1, as in its DSC)."""
    return x509.SubjectKeyIdentifier.from_public_key(public).digest


def ds_key_uri(token: TokenRef, certificate: x509.Certificate) -> str:
    """RFC 7512 URI of the private key of ``certificate`` in ``token``."""
    public = certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return token.uri(key_id=ds_key_id(public), kind="private")


def private_key(session: pkcs11.Session, key_id: bytes) -> pkcs11.SignMixin:
    """The private key object ``key_id`` of the session's token, one that signs."""
    try:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
    except pkcs11.NoSuchKey:
        raise HsmError(
            f"no private key with id {key_id.hex()} in token {session.token.label!r}",
            reason_code="keys.hsm.no_key",
        ) from None
    if not isinstance(key, pkcs11.SignMixin):
        raise HsmError(f"key {key_id.hex()} cannot sign", reason_code="keys.hsm.no_key")
    return key


def log_out(token: TokenRef | None = None) -> None:
    """Log this process out of ``token`` (of every token: at exit, after the signers have
    closed): its next session reads the PIN again."""
    with LOCK:
        for anchor, (held_generation, session) in list(_anchors.items()):
            if token is not None and anchor != _anchor(token):
                continue
            del _anchors[anchor]
            if held_generation == _generation:
                with contextlib.suppress(pkcs11.PKCS11Error):
                    session.close()
