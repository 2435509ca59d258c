"""ISO/IEC 7816-4 command APDUs (and, re-exported from :mod:`printers.chip.status`, the
status-word errors and their checking chain).

``Apdu`` is one command APDU: short (Lc <= 255, Le <= 256) unless its data or Le need the
extended form (Lc up to 65535, Le up to 65536: ISO/IEC 7816-4 5.1), which only a chip that
declares it may be sent (``printers.chip.atrinfo``: EF.ATR/INFO's extended length
information). The builders write the commands the line uses to personalise and read a chip:

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

from dataclasses import dataclass

from printers.chip.status import DEFAULT_CHAIN as DEFAULT_CHAIN
from printers.chip.status import ISO7816_CHECKERS as ISO7816_CHECKERS
from printers.chip.status import AuthenticationFailed as AuthenticationFailed
from printers.chip.status import ChipError as ChipError
from printers.chip.status import ClassNotSupported as ClassNotSupported
from printers.chip.status import CommandNotAllowed as CommandNotAllowed
from printers.chip.status import ConditionsNotSatisfied as ConditionsNotSatisfied
from printers.chip.status import EndOfFile as EndOfFile
from printers.chip.status import ErrorCheckingChain as ErrorCheckingChain
from printers.chip.status import ExactSw as ExactSw
from printers.chip.status import FileExists as FileExists
from printers.chip.status import FileNotFound as FileNotFound
from printers.chip.status import InstructionNotSupported as InstructionNotSupported
from printers.chip.status import MemoryFailure as MemoryFailure
from printers.chip.status import NotEnoughMemory as NotEnoughMemory
from printers.chip.status import ReferenceNotFound as ReferenceNotFound
from printers.chip.status import ResponsePending as ResponsePending
from printers.chip.status import SecurityStatusNotSatisfied as SecurityStatusNotSatisfied
from printers.chip.status import SmObjectsIncorrect as SmObjectsIncorrect
from printers.chip.status import SmObjectsMissing as SmObjectsMissing
from printers.chip.status import StatusWordError as StatusWordError
from printers.chip.status import Sw1Is as Sw1Is
from printers.chip.status import SwChecker as SwChecker
from printers.chip.status import UnexpectedStatus as UnexpectedStatus
from printers.chip.status import WrongData as WrongData
from printers.chip.status import WrongLe as WrongLe
from printers.chip.status import WrongLength as WrongLength
from printers.chip.status import WrongOffset as WrongOffset
from printers.chip.status import WrongParameters as WrongParameters

LDS_AID = bytes.fromhex("A0000002471001")
"""The ICAO LDS1 application (eMRTD) identifier."""

MAX_OFFSET = 0x7FFF
"""Largest READ/UPDATE BINARY offset in P1-P2 (b8 of P1 set would mean a short EF id)."""
MAX_LC = 255
MAX_LE = 256
MAX_EXTENDED_LC = 0xFFFF
MAX_EXTENDED_LE = 0x10000
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
    """One command APDU. ``le`` is None when no response data is expected (cases 1 and 3);
    ``le=256`` is written as ``00``. Data over 255 bytes or an Le over 256 make it an
    extended APDU (``extended``: both length fields in the extended form, ``le=65536`` as
    ``00 00``). ``repr`` shows lengths, never the data."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def __post_init__(self) -> None:
        if (
            not (0 <= self.cla <= 0xFF and 0 <= self.ins <= 0xFF and 0 <= self.p1 <= 0xFF)
            or not 0 <= self.p2 <= 0xFF
        ):  # one comparison chain: APDUs are made by the thousand
            for name in ("cla", "ins", "p1", "p2"):
                value = getattr(self, name)
                if not 0 <= value <= 0xFF:
                    raise ValueError(f"APDU {name} {value} is not a byte")
        if len(self.data) > MAX_EXTENDED_LC:
            raise ValueError(f"APDU data of {len(self.data)} bytes is more than Lc can say")
        if self.le is not None and not 1 <= self.le <= MAX_EXTENDED_LE:
            raise ValueError(f"APDU Le {self.le} is outside 1..65536")

    @property
    def extended(self) -> bool:
        """Whether the APDU needs extended length fields (data over 255 bytes, Le over 256)."""
        return len(self.data) > MAX_LC or (self.le is not None and self.le > MAX_LE)

    @property
    def name(self) -> str:
        """What the command is called (``SELECT``, ``UPDATE BINARY``...), for messages."""
        return _INS_NAMES.get((self.cla, self.ins), f"INS {self.ins:02X}")

    @property
    def header(self) -> str:
        """``CLA INS P1 P2`` in hex: what traces and error messages may show."""
        return f"{self.cla:02X} {self.ins:02X} {self.p1:02X} {self.p2:02X}"

    def to_bytes(self) -> bytes:
        """The APDU as sent: header, then Lc and data if any, then Le if any (extended:
        ``00 Lc Lc`` data ``Le Le``, or ``00 Le Le`` without data)."""
        out = bytearray((self.cla, self.ins, self.p1, self.p2))
        if self.extended:
            if self.data:
                out += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
            if self.le is not None:
                out += (b"" if self.data else b"\x00") + (self.le & 0xFFFF).to_bytes(2, "big")
            return bytes(out)
        if self.data:
            out.append(len(self.data))
            out += self.data
        if self.le is not None:
            out.append(self.le & 0xFF)  # 256 -> 00
        return bytes(out)

    @classmethod
    def from_bytes(cls, raw: bytes, *, extended: bool = False) -> Apdu:
        """Parse a short APDU (cases 1 to 4), or with ``extended`` an extended one too
        (cases 2E to 4E); raises ``ValueError`` on anything else."""
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
            if not extended:
                raise ValueError("extended-length APDUs are not supported")
            return cls._extended(cla, ins, p1, p2, bytes(body))
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, bytes(body[1:]))
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, bytes(body[1:-1]), le=body[-1] or MAX_LE)
        raise ValueError(f"APDU body of {len(body)} bytes does not match Lc {lc}")

    @classmethod
    def _extended(cls, cla: int, ins: int, p1: int, p2: int, body: bytes) -> Apdu:
        """Cases 2E (``00 Le Le``), 3E (``00 Lc Lc`` data) and 4E (3E, then ``Le Le``)."""
        if len(body) == 3:
            return cls(cla, ins, p1, p2, le=int.from_bytes(body[1:], "big") or MAX_EXTENDED_LE)
        lc = int.from_bytes(body[1:3], "big")
        if lc == 0 or len(body) not in (3 + lc, 5 + lc):
            raise ValueError(f"extended APDU body of {len(body)} bytes does not match Lc {lc}")
        data = body[3 : 3 + lc]
        if len(body) == 3 + lc:
            return cls(cla, ins, p1, p2, data)
        return cls(cla, ins, p1, p2, data, le=int.from_bytes(body[-2:], "big") or MAX_EXTENDED_LE)

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


def read_binary(offset: int, length: int, *, extended: bool = False) -> Apdu:
    """READ BINARY ``length`` (1..256; with ``extended``, up to 65536: an extended Le) bytes
    of the current EF from ``offset``."""
    largest = MAX_EXTENDED_LE if extended else MAX_LE
    if not 1 <= length <= largest:
        raise ValueError(f"READ BINARY length {length} is outside 1..{largest}")
    p1, p2 = _offset(offset)
    return Apdu(CLA_ISO, INS_READ_BINARY, p1, p2, le=length)


def read_binary_sfi(sfi: int, offset: int, length: int, *, extended: bool = False) -> Apdu:
    """READ BINARY of the EF whose short EF identifier is ``sfi`` (1..30), which it makes the
    current EF: P1 ``100xxxxx``, the offset (0..255) in P2 (ISO/IEC 7816-4 §11.2.2)."""
    if not 1 <= sfi <= 30:
        raise ValueError(f"short EF identifier {sfi} is outside 1..30")
    if not 0 <= offset <= 0xFF:
        raise ValueError(f"offset {offset} does not fit P2 with a short EF identifier")
    largest = MAX_EXTENDED_LE if extended else MAX_LE
    if not 1 <= length <= largest:
        raise ValueError(f"READ BINARY length {length} is outside 1..{largest}")
    return Apdu(CLA_ISO, INS_READ_BINARY, 0x80 | sfi, offset, le=length)


def update_binary(offset: int, data: bytes, *, extended: bool = False) -> Apdu:
    """UPDATE BINARY: write ``data`` (1..255 bytes; with ``extended``, up to 65535: an
    extended Lc) into the current EF at ``offset``."""
    if not data:
        raise ValueError("UPDATE BINARY needs data")
    if len(data) > (MAX_EXTENDED_LC if extended else MAX_LC):
        raise ValueError(f"UPDATE BINARY of {len(data)} bytes needs extended length")
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
