"""The vocabulary of cardline: ids, states, outcomes and the clock.

Everything that more than one package talks about is named here once, so that
``line``, ``inventory``, ``printers``, ``sim`` and ``flows`` agree on it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeAlias

ApplicationId: TypeAlias = int
"""Primary key of an application in the database."""

CardId: TypeAlias = int
"""Primary key of a card (one physical card body) in the database."""

CardSerial: TypeAlias = str
"""Human-readable card serial, unique forever: ``C<application id, 10 digits>-<attempt>``."""

IdNumber: TypeAlias = str
"""A citizen's 12-digit personal identification number (personal data: mask it in logs)."""

StationCode: TypeAlias = str
"""Police station a card is delivered to: province code, dash, station code (``079-0112``)."""

MachineId: TypeAlias = str
"""Name of one machine of a stage (``print-03``)."""

MAX_DB_INTEGER = 2**31 - 1
"""The largest value every supported database keeps in an INTEGER column (PostgreSQL's
``integer`` is 32-bit): numbers users type (application numbers, quantities, limits) are
checked against it before they reach a query."""

Clock: TypeAlias = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime. Injected, never read globally."""


def utc_now() -> datetime:
    """The wall clock, for the edges of the program (CLI, flows) to inject."""
    return datetime.now(UTC)


class Stage(StrEnum):
    """Where a card's or an application's change happens: the four stages of the production
    line (``LINE_ORDER``), then delivery at the police station, and a manager's decision.
    The one vocabulary of stages: stage events, the spec, routing and the simulator."""

    PRINT = "print"
    ENCODE = "chip-encode"
    QC = "qc"
    DISPATCH = "dispatch"
    DELIVERY = "delivery"
    MANAGER = "manager"


LINE_ORDER: tuple[Stage, ...] = (Stage.PRINT, Stage.ENCODE, Stage.QC, Stage.DISPATCH)
"""The stages of the production line itself, in line order (what the spec and the simulator
model; delivery and a manager's decisions happen after it or beside it)."""


class Outcome(StrEnum):
    """How a stage ended for a card: well, or with a failure (which spoils the card)."""

    OK = "ok"
    FAIL = "fail"


class EventKind(StrEnum):
    """What a stage event records: a card body taken as printing starts (``start``: no
    outcome yet), the end of a stage for a card (``outcome``: ok or fail), or a manager's
    decision on an application (``decision``). KPIs and calibration count outcomes only."""

    START = "start"
    OUTCOME = "outcome"
    DECISION = "decision"


class ApplicationState(StrEnum):
    """Where an approved application is on its way to a delivered card.

    ``approved`` means "waiting for print", both on arrival and after a spoiled card
    sent it back for rework. ``held`` waits for a manager (rework limit reached).
    """

    APPROVED = "approved"
    PRINTING = "printing"
    PRINTED = "printed"
    ENCODED = "encoded"
    QC_PASSED = "qc_passed"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    HELD = "held"
    CANCELLED = "cancelled"


class CardState(StrEnum):
    """The life of one physical card body (one chip). A spoiled card is never reused."""

    PRINTING = "printing"
    PRINTED = "printed"
    ENCODED = "encoded"
    QC_PASSED = "qc_passed"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    SPOILED = "spoiled"


CLOSED_APPLICATION_STATES: frozenset[ApplicationState] = frozenset(
    {ApplicationState.DELIVERED, ApplicationState.CANCELLED}
)
"""An application in one of these states is no longer live: the person may apply again."""

DEAD_CARD_STATES: frozenset[CardState] = frozenset({CardState.SPOILED})
"""A card in one of these states no longer counts as the application's live card."""
