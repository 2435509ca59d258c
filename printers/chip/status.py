"""ISO/IEC 7816-4 status words as typed errors, and the chain that checks them (after
pyscard's ``sw/ErrorCheckingChain``): a sequence of small checkers, each turning one status
word into a typed ``ChipError``; ``9000`` passes. Messages name the command and the status
word, never the data (personal data).

``ChipError`` is also the base of the reader's and the link's failures (``transport``,
``reader``, ``personalise``): a ``PrintersError`` and a ``line.errors.DeviceError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from line.errors import DeviceError
from printers.errors import PrintersError

if TYPE_CHECKING:
    from printers.chip.apdu import Apdu


# --- errors -------------------------------------------------------------------------------


class ChipError(PrintersError, DeviceError):
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


SwChecker: TypeAlias = "Callable[[int, int, Apdu | None, str], None]"
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
