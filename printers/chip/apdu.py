"""ISO/IEC 7816-4 command APDUs and the status-word checking chain.

``Apdu`` is one short command APDU (no extended lengths: Lc <= 255, Le <= 256). The builders
write the commands the line uses to personalise and read a chip:

==================  =====================  ===============================================
command             header                 data
==================  =====================  ===============================================
SELECT by AID       ``00 A4 04 0C``        the application identifier
SELECT by FID       ``00 A4 02 0C``        the 2-byte file identifier
READ BINARY         ``00 B0 oo oo``        none; Le = bytes to read; offset <= 7FFF
UPDATE BINARY       ``00 D6 oo oo``        the bytes to write at the offset
CREATE FILE         ``00 E0 00 00``        FCP ``62 0B 80 02 ssss 82 01 01 83 02 ffff``
LOCK (vendor)       ``80 01 00 00``        none (see ``lock``)
PUT DATA            ``00 DA 00 62``        the access data (see ``put_access_data``)
GEN. KEY PAIR       ``00 46 80 rr 00``     none; the public key (``generate_key_pair``)
GET UID (PC/SC)     ``FF CA 00 00 00``     none; answered with the chip's UID
==================  =====================  ===============================================

The checking chain (after pyscard's ``sw/ErrorCheckingChain``) is a sequence of small
checkers, each turning one status word into a typed ``ChipError``; ``9000`` passes. Error
messages name the command and the status word, never the data (personal data).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from line.errors import DeviceError

LDS_AID = bytes.fromhex("A0000002471001")
"""The ICAO LDS1 application (eMRTD) identifier."""

MAX_OFFSET = 0x7FFF
"""Largest READ/UPDATE BINARY offset in P1-P2 (b8 of P1 set would mean a short EF id)."""
MAX_LC = 255
MAX_LE = 256
CLA_ISO = 0x00
CLA_VENDOR = 0x80
CLA_PCSC = 0xFF
INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_UPDATE_BINARY = 0xD6
INS_CREATE_FILE = 0xE0
INS_GET_RESPONSE = 0xC0
INS_GET_DATA = 0xCA
INS_LOCK = 0x01
# Access control (ICAO 9303-11): BAC, Chip Authentication; see printers.chip.bac, .ca.
INS_GET_CHALLENGE = 0x84
INS_MUTUAL_AUTHENTICATE = 0x82  # EXTERNAL AUTHENTICATE's INS; BAC's MUTUAL AUTHENTICATE
INS_MSE = 0x22  # MANAGE SECURITY ENVIRONMENT
INS_GENERAL_AUTHENTICATE = 0x86
INS_INTERNAL_AUTHENTICATE = 0x88  # Active Authentication; see printers.chip.aa
# Personalisation (before LOCK): the chip's access keys and its own key pairs.
INS_PUT_DATA = 0xDA
INS_GENERATE_KEY_PAIR = 0x46  # GENERATE ASYMMETRIC KEY PAIR (ISO/IEC 7816-8)
TAG_ACCESS_DATA = 0x62
"""PUT DATA ``00 DA 00 62``: the MRZ fields the chip derives its BAC keys from."""
KEY_AA = 0x01
"""Key reference of the chip's Active Authentication key pair (DG15)."""
KEY_CA = 0x02
"""Key reference of the chip's Chip Authentication key pair (DG14)."""
KEY_PAIR_GENERATE = 0x80
KEY_PAIR_READ_PUBLIC = 0x81

_INS_NAMES: dict[tuple[int, int], str] = {
    (CLA_ISO, INS_SELECT): "SELECT",
    (CLA_ISO, INS_READ_BINARY): "READ BINARY",
    (CLA_ISO, INS_UPDATE_BINARY): "UPDATE BINARY",
    (CLA_ISO, INS_CREATE_FILE): "CREATE FILE",
    (CLA_ISO, INS_GET_RESPONSE): "GET RESPONSE",
    (CLA_VENDOR, INS_LOCK): "LOCK",
    (CLA_PCSC, INS_GET_DATA): "GET UID",
    (CLA_ISO, INS_GET_CHALLENGE): "GET CHALLENGE",
    (CLA_ISO, INS_MUTUAL_AUTHENTICATE): "MUTUAL AUTHENTICATE",
    (CLA_ISO, INS_MSE): "MSE",
    (CLA_ISO, INS_GENERAL_AUTHENTICATE): "GENERAL AUTHENTICATE",
    (CLA_ISO, INS_INTERNAL_AUTHENTICATE): "INTERNAL AUTHENTICATE",
    (CLA_ISO, INS_PUT_DATA): "PUT DATA",
    (CLA_ISO, INS_GENERATE_KEY_PAIR): "GENERATE ASYMMETRIC KEY PAIR",
}


@dataclass(frozen=True, slots=True)
class Apdu:
    """One short command APDU. ``le`` is None when no response data is expected (cases 1
    and 3); ``le=256`` is written as ``00``. ``repr`` shows lengths, never the data."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def __post_init__(self) -> None:
        if not (
            0 <= self.cla <= 0xFF and 0 <= self.ins <= 0xFF and 0 <= self.p1 <= 0xFF
        ) or not 0 <= self.p2 <= 0xFF:  # one comparison chain: APDUs are made by the thousand
            for name in ("cla", "ins", "p1", "p2"):
                value = getattr(self, name)
                if not 0 <= value <= 0xFF:
                    raise ValueError(f"APDU {name} {value} is not a byte")
        if len(self.data) > MAX_LC:
            raise ValueError(f"APDU data of {len(self.data)} bytes needs extended length")
        if self.le is not None and not 1 <= self.le <= MAX_LE:
            raise ValueError(f"APDU Le {self.le} is outside 1..256")

    @property
    def name(self) -> str:
        """What the command is called (``SELECT``, ``UPDATE BINARY``...), for messages."""
        return _INS_NAMES.get((self.cla, self.ins), f"INS {self.ins:02X}")

    @property
    def header(self) -> str:
        """``CLA INS P1 P2`` in hex: what traces and error messages may show."""
        return f"{self.cla:02X} {self.ins:02X} {self.p1:02X} {self.p2:02X}"

    def to_bytes(self) -> bytes:
        """The APDU as sent: header, then Lc and data if any, then Le if any."""
        out = bytearray((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            out.append(len(self.data))
            out += self.data
        if self.le is not None:
            out.append(self.le & 0xFF)  # 256 -> 00
        return bytes(out)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Apdu:
        """Parse a short APDU (cases 1 to 4); raises ``ValueError`` on anything else,
        including extended-length APDUs."""
        if len(raw) < 4:
            raise ValueError(f"APDU of {len(raw)} bytes is shorter than its header")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or MAX_LE)
        lc = body[0]
        if lc == 0:
            raise ValueError("extended-length APDUs are not supported")
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, bytes(body[1:]))
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, bytes(body[1:-1]), le=body[-1] or MAX_LE)
        raise ValueError(f"APDU body of {len(body)} bytes does not match Lc {lc}")

    def __repr__(self) -> str:
        return f"Apdu({self.header}, lc={len(self.data)}, le={self.le})"


def _offset(offset: int) -> tuple[int, int]:
    if not 0 <= offset <= MAX_OFFSET:
        raise ValueError(f"offset {offset} is outside 0..{MAX_OFFSET:#x}")
    return offset >> 8, offset & 0xFF


def _fid(fid: int) -> bytes:
    if not 0 <= fid <= 0xFFFF:
        raise ValueError(f"file identifier {fid} is not two bytes")
    return fid.to_bytes(2, "big")


def select_aid(aid: bytes) -> Apdu:
    """SELECT a DF by its application identifier, no FCI returned (``00 A4 04 0C``)."""
    if not 5 <= len(aid) <= 16:
        raise ValueError(f"an AID has 5 to 16 bytes, not {len(aid)}")
    return Apdu(CLA_ISO, INS_SELECT, 0x04, 0x0C, bytes(aid))


def select_fid(fid: int) -> Apdu:
    """SELECT an EF of the current DF by its file identifier (``00 A4 02 0C``)."""
    return Apdu(CLA_ISO, INS_SELECT, 0x02, 0x0C, _fid(fid))


def read_binary(offset: int, length: int) -> Apdu:
    """READ BINARY ``length`` (1..256) bytes of the current EF from ``offset``."""
    if not 1 <= length <= MAX_LE:
        raise ValueError(f"READ BINARY length {length} is outside 1..256")
    p1, p2 = _offset(offset)
    return Apdu(CLA_ISO, INS_READ_BINARY, p1, p2, le=length)


def update_binary(offset: int, data: bytes) -> Apdu:
    """UPDATE BINARY: write ``data`` (1..255 bytes) into the current EF at ``offset``."""
    if not data:
        raise ValueError("UPDATE BINARY needs data")
    p1, p2 = _offset(offset)
    return Apdu(CLA_ISO, INS_UPDATE_BINARY, p1, p2, bytes(data))


def create_file(fid: int, size: int) -> Apdu:
    """CREATE FILE (ISO 7816-9) of a transparent EF of ``size`` bytes in the current DF.

    The data field is an FCP template ``62`` holding ``80`` (size, 2 bytes), ``82 01 01``
    (file descriptor: working EF, transparent) and ``83`` (FID)."""
    if not 1 <= size <= 0xFFFF:
        raise ValueError(f"file size {size} is outside 1..65535")
    fcp = b"\x80\x02" + size.to_bytes(2, "big") + b"\x82\x01\x01" + b"\x83\x02" + _fid(fid)
    return Apdu(CLA_ISO, INS_CREATE_FILE, 0x00, 0x00, b"\x62" + bytes([len(fcp)]) + fcp)


def lock() -> Apdu:
    """LOCK, the vendor command that ends personalisation: ``80 01 00 00``, no data.

    CLA ``80`` marks a proprietary command; INS ``01`` is this project's choice (real chips
    have their own, e.g. a life-cycle change to "operational"). It is irreversible: after it
    the chip answers ``6982`` to every write or create (and to another LOCK); reads work."""
    return Apdu(CLA_VENDOR, INS_LOCK, 0x00, 0x00)


def get_uid() -> Apdu:
    """The PC/SC pseudo-APDU GET DATA for the UID (``FF CA 00 00 00``, PC/SC part 3)."""
    return Apdu(CLA_PCSC, INS_GET_DATA, 0x00, 0x00, le=MAX_LE)


def put_access_data(document_number: str, date_of_birth: str, date_of_expiry: str) -> Apdu:
    """PUT DATA ``00 DA 00 62``: the chip's access data, from which it derives its own BAC
    keys (KEnc, KMAC: ICAO 9303-11 §9.7.2), as JMRTD's passport applet does with its
    ``P2=62``. cardline's layout of the data field (the tags of ISO/IEC 7816-6):
    ``62 L { 5A <document number> 5F2B <birth YYMMDD> 5F24 <expiry YYMMDD or <<<<<<> }``,
    MRZ characters as printed (the document number padded with ``<`` to 9). Accepted once,
    before LOCK."""
    fields = (
        (b"\x5a", document_number.encode("ascii")),
        (b"\x5f\x2b", date_of_birth.encode("ascii")),
        (b"\x5f\x24", date_of_expiry.encode("ascii")),
    )
    body = b"".join(tag + bytes((len(value),)) + value for tag, value in fields)
    data = bytes((TAG_ACCESS_DATA, len(body))) + body
    return Apdu(CLA_ISO, INS_PUT_DATA, 0x00, TAG_ACCESS_DATA, data)


def generate_key_pair(key_reference: int, *, generate: bool = True) -> Apdu:
    """GENERATE ASYMMETRIC KEY PAIR (ISO/IEC 7816-8) ``00 46 P1 ref 00``: P1 ``80`` makes the
    key pair on the chip (once, before LOCK: its private key never leaves the chip), ``81``
    reads the public key of one made already. The answer is ``7F49 { 86 <04 || X || Y> }``
    (an uncompressed P-256 point)."""
    if key_reference not in (KEY_AA, KEY_CA):
        raise ValueError(f"unknown key reference {key_reference:#x}")
    p1 = KEY_PAIR_GENERATE if generate else KEY_PAIR_READ_PUBLIC
    return Apdu(CLA_ISO, INS_GENERATE_KEY_PAIR, p1, key_reference, le=MAX_LE)


def get_response(length: int) -> Apdu:
    """GET RESPONSE (``00 C0 00 00 xx``): fetch what a ``61xx`` said is waiting."""
    return Apdu(CLA_ISO, INS_GET_RESPONSE, 0x00, 0x00, le=length or MAX_LE)


# --- errors -------------------------------------------------------------------------------


class ChipError(DeviceError):
    """Base of every chip error: a status word, or the reader or link failing.

    ``sw`` is the status word in hex (``'6A82'``) when the chip answered one, else None;
    ``reason_code`` is what the stage event records (``encode.*``)."""

    reason: ClassVar[str] = "encode.chip_error"

    def __init__(
        self,
        message: str,
        *,
        device: str = "chip",
        sw: str | None = None,
        reason_code: str | None = None,
        card_serial: str | None = None,
        **fields: object,
    ) -> None:
        super().__init__(
            message,
            device=device,
            reason_code=reason_code or self.reason,
            card_serial=card_serial,
            sw=sw,
            **fields,
        )
        self.sw = sw


class StatusWordError(ChipError):
    """The chip answered a status word other than ``9000``; ``command`` is its name."""

    description: ClassVar[str] = "unexpected status"

    def __init__(
        self, sw1: int, sw2: int, *, command: Apdu | None = None, device: str = "chip"
    ) -> None:
        sw = f"{sw1:02X}{sw2:02X}"
        what = command.name if command is not None else "command"
        super().__init__(
            f"{device}: {what} answered {sw} ({self.description})",
            device=device,
            sw=sw,
            command=what,
        )
        self.sw1 = sw1
        self.sw2 = sw2
        self.command = what


class FileNotFound(StatusWordError):
    reason = "encode.file_not_found"
    description = "file or application not found"


class SecurityStatusNotSatisfied(StatusWordError):
    reason = "encode.chip_locked"
    description = "security status not satisfied: chip locked"


class WrongOffset(StatusWordError):
    reason = "encode.wrong_offset"
    description = "offset outside the file"


class NotEnoughMemory(StatusWordError):
    reason = "encode.out_of_memory"
    description = "not enough memory"


class MemoryFailure(StatusWordError):
    reason = "encode.memory_failure"
    description = "memory failure"


class WrongLength(StatusWordError):
    reason = "encode.wrong_length"
    description = "wrong length"


class InstructionNotSupported(StatusWordError):
    reason = "encode.ins_not_supported"
    description = "instruction not supported"


class ClassNotSupported(StatusWordError):
    reason = "encode.cla_not_supported"
    description = "class not supported"


class FileExists(StatusWordError):
    reason = "encode.file_exists"
    description = "file already exists"


class WrongData(StatusWordError):
    reason = "encode.wrong_data"
    description = "incorrect parameters in the data field"


class WrongParameters(StatusWordError):
    reason = "encode.wrong_parameters"
    description = "incorrect parameters P1-P2"


class CommandNotAllowed(StatusWordError):
    reason = "encode.no_current_file"
    description = "command not allowed: no current EF"


class EndOfFile(StatusWordError):
    reason = "encode.end_of_file"
    description = "end of file reached before Le bytes"


class WrongLe(StatusWordError):
    """``6Cxx``: wrong Le, ``sw2`` is the exact length. Transports retry with it; this is
    raised only if the retry did not help."""

    reason = "encode.wrong_le"
    description = "wrong Le"


class ResponsePending(StatusWordError):
    """``61xx``: response bytes still available. Transports fetch them with GET RESPONSE;
    this is raised only if that did not end."""

    reason = "encode.response_pending"
    description = "response bytes still available"


class UnexpectedStatus(StatusWordError):
    reason = "encode.unexpected_status"
    description = "unexpected status"


class AuthenticationFailed(StatusWordError):
    reason = "encode.authentication_failed"
    description = "authentication failed (BAC: wrong MRZ, or a clone)"


class ConditionsNotSatisfied(StatusWordError):
    reason = "encode.conditions_not_satisfied"
    description = "conditions of use not satisfied"


class SmObjectsMissing(StatusWordError):
    reason = "encode.sm_missing"
    description = "secure messaging data objects missing (a command in clear)"


class SmObjectsIncorrect(StatusWordError):
    reason = "encode.sm_incorrect"
    description = "secure messaging data objects incorrect (a wrong MAC)"


class ReferenceNotFound(StatusWordError):
    reason = "encode.reference_not_found"
    description = "referenced data (a key) not found"


SwChecker = Callable[[int, int, Apdu | None, str], None]
"""One link of the chain: raises a typed error if it recognises the status word."""


@dataclass(frozen=True, slots=True)
class ExactSw:
    """Raises ``error`` when the status word is exactly ``sw``."""

    sw: int
    error: type[StatusWordError]

    def __call__(self, sw1: int, sw2: int, command: Apdu | None, device: str) -> None:
        if (sw1 << 8) | sw2 == self.sw:
            raise self.error(sw1, sw2, command=command, device=device)


@dataclass(frozen=True, slots=True)
class Sw1Is:
    """Raises ``error`` when SW1 is ``sw1``, whatever SW2 (``61xx``, ``6Cxx``)."""

    sw1: int
    error: type[StatusWordError]

    def __call__(self, sw1: int, sw2: int, command: Apdu | None, device: str) -> None:
        if sw1 == self.sw1:
            raise self.error(sw1, sw2, command=command, device=device)


class ErrorCheckingChain:
    """Status-word checking: ``9000`` passes, each checker may raise its typed error, and a
    status word no checker recognised raises ``UnexpectedStatus``."""

    def __init__(self, checkers: Iterable[SwChecker]) -> None:
        self.checkers: tuple[SwChecker, ...] = tuple(checkers)

    def check(
        self, sw1: int, sw2: int, *, command: Apdu | None = None, device: str = "chip"
    ) -> None:
        if (sw1, sw2) == (0x90, 0x00):
            return
        for checker in self.checkers:
            checker(sw1, sw2, command, device)
        raise UnexpectedStatus(sw1, sw2, command=command, device=device)


ISO7816_CHECKERS: tuple[SwChecker, ...] = (
    ExactSw(0x6A82, FileNotFound),
    ExactSw(0x6982, SecurityStatusNotSatisfied),
    ExactSw(0x6B00, WrongOffset),
    ExactSw(0x6A84, NotEnoughMemory),
    ExactSw(0x6581, MemoryFailure),
    ExactSw(0x6700, WrongLength),
    ExactSw(0x6D00, InstructionNotSupported),
    ExactSw(0x6E00, ClassNotSupported),
    ExactSw(0x6A89, FileExists),
    ExactSw(0x6A80, WrongData),
    ExactSw(0x6A86, WrongParameters),
    ExactSw(0x6986, CommandNotAllowed),
    ExactSw(0x6282, EndOfFile),
    ExactSw(0x6300, AuthenticationFailed),
    ExactSw(0x6985, ConditionsNotSatisfied),
    ExactSw(0x6987, SmObjectsMissing),
    ExactSw(0x6988, SmObjectsIncorrect),
    ExactSw(0x6A88, ReferenceNotFound),
    Sw1Is(0x6C, WrongLe),
    Sw1Is(0x61, ResponsePending),
)

DEFAULT_CHAIN = ErrorCheckingChain(ISO7816_CHECKERS)
"""The chain every transport runs unless given another."""
