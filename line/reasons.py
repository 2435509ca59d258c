"""The catalogue of reason codes: the one list every reason code of cardline comes from.

A stage event's reason code, a device's fault, a returned card's reason and a manager's
decision are all codes of this catalogue, each with the stage it belongs to, its kind and
what it means. The line spec's ``failure_reason`` of each stage is one of them (``line.spec``
checks it), the printers' fault codes, the encoder's chip errors and every QC check report
codes of it (a test holds every code a device can produce against it), and
``line.operations`` refuses to record a code that is not in it, naming the codes allowed.

Codes that carry a data group number are families: ``qc.dg.hash.DG<n>`` stands for
``qc.dg.hash.DG1`` to ``qc.dg.hash.DG16``.

Kinds:

- ``spoil``: a card failed a stage; it is spoiled (its chip is lost) and its application is
  reworked on a new card body, or held past the rework limit;
- ``data``: the application's data cannot make a card (its photo, a field); a card that
  had started is spoiled, and the application waits for a manager at once (a new card
  body would fail the same way);
- ``return``: a dispatched or delivered card came back; it is spoiled and remade;
- ``fault``: a device, or the line, stopped; no card is spoiled, the cards wait;
- ``decision``: a manager's decision on an application;
- ``mark``: marks an event that is not an outcome (a card started at print).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from line.errors import UnknownReason
from line.types import Stage


class Kind(StrEnum):
    SPOIL = "spoil"
    DATA = "data"
    RETURN = "return"
    FAULT = "fault"
    DECISION = "decision"
    MARK = "mark"


STARTED = "print.started"
"""The reason code of a start event (``line.types.EventKind.START``: a card body, and its chip,
taken as printing starts); an event of kind ``start`` carries it, and no outcome does."""

SPOILING: frozenset[Kind] = frozenset({Kind.SPOIL, Kind.DATA, Kind.RETURN})
"""Kinds whose code, recorded as a card's outcome, spoils the card."""

DATA_GROUP = "<n>"
"""Placeholder of a family code: a data group number, 1 to 16."""

_DATA_GROUP_PATTERN = "(?:[1-9]|1[0-6])"


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason code: where it belongs, what kind of thing it says, what it means."""

    code: str  # a family holds DATA_GROUP in place of a number
    stage: Stage
    kind: Kind
    meaning: str

    @property
    def spoils(self) -> bool:
        """Whether a card that ends a stage with this code is spoiled (its chip is lost)."""
        return self.kind in SPOILING

    @property
    def holds(self) -> bool:
        """Whether the application goes to a manager at once (its data is at fault)."""
        return self.kind is Kind.DATA

    @property
    def is_family(self) -> bool:
        return DATA_GROUP in self.code

    def matches(self, code: str) -> bool:
        if not self.is_family:
            return code == self.code
        pattern = re.escape(self.code).replace(re.escape(DATA_GROUP), _DATA_GROUP_PATTERN)
        return re.fullmatch(pattern, code) is not None


P, E, Q = Stage.PRINT, Stage.ENCODE, Stage.QC

CHIP_ERRORS: Mapping[str, str] = {
    # printers.chip.apdu: status words other than 9000
    "chip_error": "the chip or its link failed (no more precise status)",
    "file_not_found": "6A82: file or application not found",
    "chip_locked": "6982: security status not satisfied, the chip is locked",
    "wrong_offset": "6B00: offset outside the file",
    "out_of_memory": "6A84: not enough memory on the chip",
    "memory_failure": "6581: memory failure, the chip is defective",
    "wrong_length": "6700: wrong length",
    "ins_not_supported": "6D00: instruction not supported",
    "cla_not_supported": "6E00: class not supported",
    "file_exists": "6A89: the file already exists",
    "wrong_data": "6A80: incorrect parameters in the data field",
    "wrong_parameters": "6A86: incorrect parameters P1-P2",
    "no_current_file": "6986: command not allowed, no current file",
    "end_of_file": "6282: end of file reached before Le bytes",
    "wrong_le": "6Cxx: wrong Le, still wrong after a retry with the exact length",
    "response_pending": "61xx: response bytes still waiting after GET RESPONSE",
    "unexpected_status": "a status word the chain does not know",
    "authentication_failed": "6300: authentication failed (BAC with a wrong MRZ, a clone)",
    "conditions_not_satisfied": "6985: conditions of use not satisfied",
    "sm_missing": "6987: secure messaging data objects missing (a command in clear)",
    "sm_incorrect": "6988: secure messaging data objects incorrect (a wrong MAC)",
    "reference_not_found": "6A88: referenced data (a key) not found",
    # printers.chip.transport: the reader and the link
    "transport_failure": "the link to the chip failed: no usable response",
    "reader_unavailable": "the PC/SC service or the reader is not available",
    "reader_not_found": "no reader's name matches",
    "no_card": "the reader holds no card",
    "card_removed": "the card left the reader during the session",
    # printers.chip.personalise, printers.chip.vchip
    "malformed_file": "a file read back does not start with a BER-TLV header",
    "secure_messaging": "a protected response did not verify: the session ended",
    "lot_exhausted": "every chip of the virtual lot has been issued",
}
"""What a chip (or its reader) answers: ``encode.<code>`` at encoding, ``qc.chip.<code>``
when QC reads the chip back."""

_MRZ: Mapping[str, str] = {
    "length": "the MRZ is not 3 lines of 30 characters",
    "alphabet": "the MRZ holds characters outside A-Z 0-9 <",
    "check_digit.document_number": "check digit of the document number is wrong",
    "check_digit.date_of_birth": "check digit of the date of birth is wrong",
    "check_digit.date_of_expiry": "check digit of the date of expiry is wrong",
    "check_digit.id_number": "check digit of the 12-digit ID number is wrong",
    "composite": "composite check digit is wrong",
    "document_code": "document code is not A, C or I",
    "issuing_state": "issuing state is not a code",
    "nationality": "nationality is not a code",
    "date.date_of_birth": "date of birth is not YYMMDD",
    "date.date_of_expiry": "date of expiry is not YYMMDD or <<<<<<",
    "sex": "sex is not M, F, X or <",
    "name": "name line is not SURNAME<<GIVEN<NAMES in A-Z",
    "id_number": "optional data is not the 12-digit ID number",
}

PHOTO: Mapping[str, str] = {
    # line.portrait.CODES: what check_portrait finds at print (print.photo_<code>) and encode
    "not_found": "the photo file is gone",
    "empty": "the photo file is empty",
    "unreadable": "the photo file cannot be read, or is truncated or corrupt",
    "not_image": "the photo file is neither a JPEG nor a PNG",
    "too_large": "the photo is too large (bytes, or pixels from its header: a pixel bomb)",
    "too_small": "the photo is smaller than an ICAO token face image (240 x 320 px)",
    "aspect": "the photo's width/height is not a portrait's (0.64-0.80)",
    "changed": "the photo file is not the one intake recorded (its SHA-256 differs)",
}
"""Why a photo cannot go on a card (``line.portrait``): the application's data is at fault."""

_ACCESS: Mapping[str, str] = {
    # printers.chip.reader: the chip read as an inspection system reads it
    "bac.plain_access": "the chip answered a read in clear: its files can be skimmed",
    "bac": "BAC with the MRZ printed on the card failed (a wrong MRZ, another card's chip)",
    "ca": "Chip Authentication failed: the chip lacks the private key of DG14's key (a clone)",
    "sm": "secure messaging broke during the read-back (a response that does not verify)",
    # printers.chip.aa: Active Authentication
    "aa.challenge": "Active Authentication's challenge is not 8 bytes",
    "aa.dg15_missing": "no DG15: no Active Authentication key to check against",
    "aa.dg15_format": "DG15 is malformed or not an EC P-256 key",
    "aa.dg14_format": "DG14 is missing, malformed, or gives no Active Authentication algorithm",
    "aa.algorithm": "Active Authentication's algorithm or key is not supported",
    "aa.response": "INTERNAL AUTHENTICATE's answer is not a 64-byte r||s",
    "aa.signature": "the chip's signature of the challenge does not verify (a clone)",
    "aa.refused": "the chip refused INTERNAL AUTHENTICATE",
}

_REASONS: tuple[Reason, ...] = (
    # --- print ------------------------------------------------------------------------------
    Reason(STARTED, P, Kind.MARK, "a card body (and its chip) was taken; printing started"),
    Reason("print.jam", P, Kind.SPOIL, "the card jammed in the printer and is damaged"),
    Reason("print.defect", P, Kind.SPOIL, "misprint or card body damage found at print"),
    *(Reason(f"print.photo_{code}", P, Kind.DATA, meaning) for code, meaning in PHOTO.items()),
    Reason("print.data_invalid", P, Kind.DATA, "the application's data has no printed form"),
    Reason("print.qr_field", P, Kind.DATA, "a field of the QR code holds its separator '|'"),
    Reason("print.font_missing", P, Kind.FAULT, "a font of the card face is not installed"),
    Reason("print.ribbon_out", P, Kind.FAULT, "the printer's ribbon is used up: it stopped"),
    Reason("print.offline", P, Kind.FAULT, "the printer cannot be reached or refuses jobs"),
    Reason(
        "print.supplies_out",
        P,
        Kind.FAULT,
        "no ribbon or overlay film left to print with: the line starts no more cards",
    ),
    # --- chip-encode ------------------------------------------------------------------------
    *(Reason(f"encode.{code}", E, Kind.SPOIL, meaning) for code, meaning in CHIP_ERRORS.items()),
    Reason("encode.chip_defect", E, Kind.SPOIL, "the chip is defective (any chip error)"),
    Reason("encode.data_invalid", E, Kind.DATA, "the application's data cannot make chip files"),
    *(Reason(f"encode.photo_{code}", E, Kind.DATA, meaning) for code, meaning in PHOTO.items()),
    # --- qc ---------------------------------------------------------------------------------
    Reason("qc.reject", Q, Kind.SPOIL, "QC rejected the card (no more precise reason)"),
    *(
        Reason(f"qc.chip.{code}", Q, Kind.SPOIL, f"reading the chip back: {meaning}")
        for code, meaning in CHIP_ERRORS.items()
    ),
    Reason("qc.chip.uid_mismatch", Q, Kind.SPOIL, "the chip read back is not the one encoded"),
    *(Reason(f"qc.{code}", Q, Kind.SPOIL, meaning) for code, meaning in _ACCESS.items()),
    *(Reason(f"qc.mrz.{code}", Q, Kind.SPOIL, meaning) for code, meaning in _MRZ.items()),
    Reason("qc.lds.missing.EF.COM", Q, Kind.SPOIL, "EF.COM was not read back"),
    Reason("qc.lds.format.EF.COM", Q, Kind.SPOIL, "EF.COM cannot be parsed"),
    Reason("qc.lds.missing.SOD", Q, Kind.SPOIL, "EF.SOD was not read back"),
    Reason(
        f"qc.lds.missing.DG{DATA_GROUP}",
        Q,
        Kind.SPOIL,
        "a data group listed, hashed or required was not read back",
    ),
    Reason(
        f"qc.lds.unlisted.DG{DATA_GROUP}",
        Q,
        Kind.SPOIL,
        "a data group read back is not listed in EF.COM",
    ),
    Reason(
        f"qc.dg.hash.DG{DATA_GROUP}",
        Q,
        Kind.SPOIL,
        "a data group's hash is not the one the SOD holds",
    ),
    Reason("qc.sod.format", Q, Kind.SPOIL, "the SOD is not a CMS SignedData"),
    Reason("qc.sod.content_type", Q, Kind.SPOIL, "the SOD's content is not an LDSSecurityObject"),
    Reason("qc.sod.algorithm", Q, Kind.SPOIL, "the SOD's digest or signature is unsupported"),
    Reason("qc.sod.digest", Q, Kind.SPOIL, "the SOD's signed digest does not match its content"),
    Reason("qc.sod.signature", Q, Kind.SPOIL, "the SOD's signature does not verify"),
    Reason("qc.sod.certificate", Q, Kind.SPOIL, "the Document Signer is not issued by the CSCA"),
    Reason("qc.dg1.format", Q, Kind.SPOIL, "DG1 cannot be parsed"),
    Reason("qc.dg1.mrz_mismatch", Q, Kind.SPOIL, "DG1 is not the MRZ of the application"),
    Reason("qc.dg2.format", Q, Kind.SPOIL, "DG2 cannot be parsed"),
    Reason("qc.dg2.image", Q, Kind.SPOIL, "DG2's image is not a JPEG of the size it states"),
    Reason("qc.dg13.format", Q, Kind.SPOIL, "DG13 cannot be parsed"),
    Reason("qc.dg13.mismatch", Q, Kind.SPOIL, "DG13 is not the application's national data"),
    Reason("qc.face.name", Q, Kind.SPOIL, "the printed face lacks the full name"),
    Reason("qc.face.id_number", Q, Kind.SPOIL, "the printed face lacks the ID number"),
    Reason("qc.face.dates", Q, Kind.SPOIL, "the printed face lacks a date"),
    Reason("qc.face.mrz", Q, Kind.SPOIL, "the printed back lacks the MRZ"),
    Reason("qc.face.qr", Q, Kind.SPOIL, "the printed QR code does not decode to its 7 fields"),
    Reason("qc.face.unreadable", Q, Kind.SPOIL, "the printed faces cannot be read back"),
    # --- dispatch and delivery ----------------------------------------------------------------
    Reason("dispatch.damaged", Stage.DISPATCH, Kind.SPOIL, "damaged while sorted and packed"),
    Reason("delivery.damaged", Stage.DELIVERY, Kind.RETURN, "the card came back damaged"),
    Reason(
        "delivery.refused",
        Stage.DELIVERY,
        Kind.RETURN,
        "the station or the citizen refused the card (not theirs, data disputed)",
    ),
    Reason(
        "delivery.lost",
        Stage.DELIVERY,
        Kind.RETURN,
        "the card was lost in transit or at the station",
    ),
    Reason(
        "delivery.chip_unreadable",
        Stage.DELIVERY,
        Kind.RETURN,
        "the card's chip does not read at the station",
    ),
    Reason(
        "delivery.misprinted",
        Stage.DELIVERY,
        Kind.RETURN,
        "the station found a printing defect on the card",
    ),
    # --- a manager's decisions --------------------------------------------------------------
    Reason(
        "manager.retry",
        Stage.MANAGER,
        Kind.DECISION,
        "a held application goes back to print on a new card body (its fault put right)",
    ),
    Reason(
        "manager.cancel",
        Stage.MANAGER,
        Kind.DECISION,
        "the application is closed without a card (withdrawn, a duplicate person...)",
    ),
    Reason(
        "manager.photo_accepted",
        Stage.MANAGER,
        Kind.DECISION,
        "a manager accepted the photo file as it is now (its SHA-256 is recorded anew)",
    ),
)

REASONS: Mapping[str, Reason] = {reason.code: reason for reason in _REASONS}
"""Every reason of the catalogue, by its code (families under their ``<n>`` form)."""

_FAMILIES: tuple[Reason, ...] = tuple(reason for reason in _REASONS if reason.is_family)


def find(code: str) -> Reason | None:
    """The catalogue's entry for ``code`` (a family's, for ``qc.dg.hash.DG2``), or None."""
    exact = REASONS.get(code)
    if exact is not None:
        return exact
    return next((family for family in _FAMILIES if family.matches(code)), None)


def allowed(*, stage: Stage | None = None, kinds: Iterable[Kind] | None = None) -> list[Reason]:
    """The reasons of ``stage`` (any, if None) of one of ``kinds`` (any, if None)."""
    wanted = None if kinds is None else frozenset(kinds)
    return [
        reason
        for reason in _REASONS
        if (stage is None or reason.stage is stage) and (wanted is None or reason.kind in wanted)
    ]


def require(
    code: str | None,
    *,
    stage: Stage | None = None,
    kinds: Iterable[Kind] | None = None,
    field: str = "reason",
    what: str = "reason code",
) -> Reason:
    """The catalogue's entry for ``code``, which must belong to ``stage`` and be of one of
    ``kinds``; else ``UnknownReason`` naming the field and listing the codes allowed."""
    wanted = None if kinds is None else frozenset(kinds)
    where = f" at {stage.value}" if stage is not None else ""
    reason = find(code) if code else None
    if reason is None:
        problem = f"unknown {what} {code!r}" if code else f"a {what} is required"
    elif stage is not None and reason.stage is not stage:
        problem = f"{code} is a reason code of {reason.stage.value}, not of {stage.value}"
    elif wanted is not None and reason.kind not in wanted:
        problem = f"{code} is a {reason.kind.value} code, not a {what}{where}"
    else:
        return reason
    options = [each.code for each in allowed(stage=stage, kinds=wanted)]
    raise UnknownReason(
        f"{field}: {problem} (allowed{where}: {', '.join(options)})",
        code=code,
        field=field,
        allowed=tuple(options),
    )


RETURN_REASONS: tuple[str, ...] = tuple(r.code for r in allowed(kinds=[Kind.RETURN]))
"""The reasons a dispatched or delivered card may come back with."""
