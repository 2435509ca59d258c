"""Reading a chip as an inspection system does (ICAO 9303-11): what QC does with every card,
and what any outside reader (the national app, an NFC reader) does with a finished one.

1. read EF.ATR/INFO in clear (``printers.chip.atrinfo``: extended lengths, if the chip
   declares them and the transport carries them; else short APDUs throughout), SELECT the
   LDS application in clear, and check that the chip refuses an EF in clear
   (``qc.bac.plain_access`` if it does not: a chip that can be skimmed fails);
2. **BAC** with the document number, date of birth and date of expiry of the MRZ printed on
   the card (``qc.bac``: a wrong MRZ, or a chip that is not this card's);
3. read DG14 under secure messaging and run **Chip Authentication** with its key
   (``qc.ca``: the chip does not hold the private key of the key DG14 publishes, a clone);
   the session goes on under the new AES keys, and the first response under them is what
   proves the chip genuine;
4. read EF.COM, DG1, DG2, DG13, DG15 and the SOD under secure messaging (``qc.sm``: the
   channel broke; ``qc.chip.<code>``: the chip refused a read);
5. **Active Authentication**: INTERNAL AUTHENTICATE with a fresh random challenge, the
   signature checked with DG15's key and DG14's algorithm (``qc.aa.*``: a clone whose files
   are copied but whose key is not).

Passive authentication (the SOD against the CSCA, every data group's hash) is the next
step, on the files returned (``printers.chip.checks``). Nothing here logs or quotes data.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from cryptography.hazmat.primitives.asymmetric import ec

from printers.chip import lds
from printers.chip.aa import AaError, internal_authenticate_command, verify_active_authentication
from printers.chip.apdu import (
    DEFAULT_CHAIN,
    LDS_AID,
    MAX_EXTENDED_LE,
    Apdu,
    ChipError,
    ErrorCheckingChain,
    select_aid,
    select_fid,
)
from printers.chip.atrinfo import read_extended_lengths
from printers.chip.bac import BacError, BacReader, RandomBytes
from printers.chip.ca import CaError, chip_authenticate
from printers.chip.personalise import DEFAULT_CHUNK, read_back
from printers.chip.secread import parse_dg14
from printers.chip.sm import (
    ReaderChannel,
    SecureMessagingError,
    SessionKeys,
    max_response_data,
)
from printers.chip.transport import ChipTransport
from printers.errors import PrintersError

FILES: tuple[tuple[str, int], ...] = (
    ("EF.COM", lds.EF_COM),
    ("DG1", lds.DG_FIDS[1]),
    ("DG2", lds.DG_FIDS[2]),
    ("DG13", lds.DG_FIDS[13]),
    ("DG14", lds.DG14),
    ("DG15", lds.DG15),
    ("SOD", lds.SOD),
)
"""The files an inspection reads, by name, in the order they are read (DG14 first)."""

KeyGenerator = Callable[[ec.EllipticCurve], ec.EllipticCurvePrivateKey]
SW_OK = 0x9000


class SecureChannelBroken(ChipError):
    """A protected response did not verify (a wrong MAC, missing objects): the session is over."""

    reason = "encode.secure_messaging"


class SecureTransport:
    """A ``ChipTransport`` under secure messaging: each command protected, each response
    unprotected and its status word (``DO'99'``) run through the checking chain."""

    def __init__(
        self,
        raw: ChipTransport,
        channel: ReaderChannel,
        *,
        chain: ErrorCheckingChain = DEFAULT_CHAIN,
    ) -> None:
        self.raw = raw
        self.channel = channel
        self.chain = chain
        self.name = f"sm:{raw.name}"

    def switch(self, keys: SessionKeys) -> None:
        """Go on under new session keys (after Chip Authentication), with the same lengths."""
        extended = self.channel.extended
        self.channel = ReaderChannel(keys)
        self.channel.allow_extended(extended)

    def read_chunk(self) -> int:
        """The most bytes one READ BINARY may ask for: what fits a protected short response
        (``DEFAULT_CHUNK``), or with extended lengths what fits the chip's longest."""
        extended = self.channel.extended
        if extended is None:
            return DEFAULT_CHUNK
        return max(
            DEFAULT_CHUNK, max_response_data(self.channel.cipher, body=extended.response_body)
        )

    def send(self, command: bytes) -> tuple[bytes, int]:
        protected = self.channel.protect(command)
        data, sw = self.raw.send(protected)
        try:
            return self.channel.unprotect(data + sw.to_bytes(2, "big"))
        except SecureMessagingError as error:
            raise SecureChannelBroken(
                f"{self.name}: {error.message}", device=self.name, sw=f"{sw:04X}"
            ) from None

    def transmit(self, apdu: Apdu) -> tuple[bytes, int, int]:
        data, sw = self.send(apdu.to_bytes())
        sw1, sw2 = sw >> 8, sw & 0xFF
        self.chain.check(sw1, sw2, command=apdu, device=self.name)
        return data, sw1, sw2

    def uid(self) -> bytes:
        return self.raw.uid()


@dataclass(frozen=True, slots=True)
class ChipReading:
    """What an inspection read: the chip's UID, its files by name, and the reason code of
    every check that failed on the way (none: BAC, CA and AA passed)."""

    uid: str | None
    files: dict[str, bytes] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    active_authentication: tuple[bytes, bytes] | None = None  # (challenge, the chip's answer)

    @property
    def passed(self) -> bool:
        return not self.problems


class _Stop(PrintersError):
    """The inspection cannot go on (the reason code is in ``fields``)."""


def read_chip(
    transport: ChipTransport,
    *,
    document_number: str,
    date_of_birth: date | str,
    date_of_expiry: date | str | None,
    challenge: bytes | None = None,
    random_bytes: RandomBytes = secrets.token_bytes,
    generate_key: KeyGenerator = ec.generate_private_key,
    verify_signature: bool = True,
    extended_length: bool = True,
) -> ChipReading:
    """Inspect the chip in ``transport`` with the MRZ data printed on its card (see the
    module's docstring). ``challenge``: Active Authentication's (8 fresh random bytes
    when None). ``verify_signature`` False: the chip's answer to it is returned
    (``ChipReading.active_authentication``) for the caller to verify elsewhere (QC does it
    in a helper process). ``extended_length`` False: short APDUs only, whatever the chip
    declares (as an outside reader that never looks). Never raises for a bad chip: every
    failure is a reason code."""
    problems: list[str] = []
    files: dict[str, bytes] = {}
    uid: str | None = None
    exchange: tuple[bytes, bytes] | None = None
    try:
        uid = transport.uid().hex().upper()
        lengths = None
        if extended_length and getattr(transport, "extended_length", False):
            lengths = read_extended_lengths(transport)
        transport.transmit(select_aid(LDS_AID))
        _, sw = transport.send(select_fid(lds.EF_COM).to_bytes())
        if sw == SW_OK:
            problems.append("qc.bac.plain_access")
        secure = _bac(transport, document_number, date_of_birth, date_of_expiry, random_bytes)
        secure.channel.allow_extended(lengths)
        files.update(_read(secure, ["DG14"]))
        _chip_authentication(secure, files["DG14"], generate_key)
        try:
            files.update(_read(secure, [name for name, _ in FILES if name != "DG14"]))
        except SecureChannelBroken:
            raise _Stop("no response under the new keys", reason_code="qc.ca") from None
        exchange = _internal_authenticate(secure, challenge or random_bytes(8))
        if exchange is None:
            problems.append("qc.aa.refused")
        elif verify_signature:
            problems.extend(active_authentication_problems(files, *exchange))
    except _Stop as stop:
        problems.append(str(stop.fields["reason_code"]))
    except SecureChannelBroken:
        problems.append("qc.sm")
    except ChipError as error:
        problems.append(f"qc.chip.{error.reason_code.rpartition('.')[2]}")
    return ChipReading(uid, files, tuple(problems), None if verify_signature else exchange)


def open_session(
    transport: ChipTransport,
    document_number: str,
    date_of_birth: date | str,
    date_of_expiry: date | str | None,
    *,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> SecureTransport:
    """BAC with the MRZ data (the LDS application selected already): a transport under
    secure messaging. ``BacError`` if the chip refuses the keys."""
    reader = BacReader.from_mrz(
        document_number, date_of_birth, date_of_expiry, random_bytes=random_bytes
    )
    return SecureTransport(transport, ReaderChannel(reader.authenticate(transport.send)))


def _bac(
    transport: ChipTransport,
    document_number: str,
    date_of_birth: date | str,
    date_of_expiry: date | str | None,
    random_bytes: RandomBytes,
) -> SecureTransport:
    try:
        return open_session(
            transport, document_number, date_of_birth, date_of_expiry, random_bytes=random_bytes
        )
    except BacError:
        raise _Stop("BAC failed", reason_code="qc.bac") from None


def _read(secure: SecureTransport, names: Sequence[str]) -> dict[str, bytes]:
    """The files ``names`` (the application selected before BAC: not again): each in one
    READ BINARY when the chip takes the longest extended answers, else in chunks."""
    fids = dict(FILES)
    extended = secure.channel.extended
    found = read_back(
        secure,
        [fids[name] for name in names],
        chunk=secure.read_chunk(),
        whole=extended is not None and extended.response_body >= MAX_EXTENDED_LE,
        select_application=False,
    )
    return {name: found[fids[name]] for name in names}


def _chip_authentication(secure: SecureTransport, dg14: bytes, generate_key: KeyGenerator) -> None:
    try:
        info = parse_dg14(dg14).chip_authentication_for()
        if info is None or info[1].public_key is None:
            raise _Stop("DG14 offers no usable Chip Authentication key", reason_code="qc.ca")
        protocol, key = info
        assert key.public_key is not None
        keys = chip_authenticate(
            secure.raw.send,
            secure.channel,
            key.public_key,
            oid=protocol.protocol,
            key_id=protocol.key_id,
            generate_key=generate_key,
        )
    except (CaError, SecureMessagingError, lds.LdsError):
        raise _Stop("Chip Authentication failed", reason_code="qc.ca") from None
    secure.switch(keys)


def _internal_authenticate(secure: SecureTransport, challenge: bytes) -> tuple[bytes, bytes] | None:
    """INTERNAL AUTHENTICATE under secure messaging: (challenge, the chip's answer), or None
    if the chip refused it."""
    try:
        return challenge, secure.transmit(internal_authenticate_command(challenge))[0]
    except AaError:
        return None
    except ChipError as error:
        if isinstance(error, SecureChannelBroken):
            raise
        return None


def active_authentication_problems(
    files: dict[str, bytes], challenge: bytes, signature: bytes
) -> list[str]:
    """The reason code of an Active Authentication answer that does not verify with DG15's
    key and DG14's algorithm (none: the chip is the one its files describe)."""
    try:
        verify_active_authentication(files.get("DG15"), files.get("DG14"), challenge, signature)
    except AaError as error:
        return [error.reason_code]
    return []
