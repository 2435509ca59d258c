"""The shop floor as the controller drives it: the devices of one station, what a batch
carries from station to station, and each station's round with its devices (printer, encoder,
QC), which touches no database: the printer's round runs beside the other stations.

``line.controller`` records what the rounds did; ``line.pipeline`` runs them side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple, Protocol

from line.card import CardData, expiry_date
from line.devices import (
    CardPrinter,
    ChipEncoder,
    ChipRecord,
    PrintedFace,
    PrinterStopped,
    PrintJob,
    QcStation,
    QcVerdict,
)
from line.errors import DeviceError
from line.logsetup import get_logger
from line.models import Application, Card
from line.portrait import check_portrait
from line.types import Clock, MachineId, Outcome, Stage

log = get_logger(__name__)


class Archive(Protocol):
    """Keeps what QC saw of a card (faces and chip files) for auditors. ``keep`` may write in
    the background; ``flush`` returns once everything kept so far is on disk (the line
    records a QC outcome only after its card's archive is written)."""

    def keep(self, card: CardData, face: PrintedFace, verdict: QcVerdict) -> None: ...

    def flush(self) -> None: ...


class PrintedCard(NamedTuple):
    """A card the printer printed, and where its faces are: what the encoder gets."""

    card: CardData
    face: PrintedFace


class EncodedCard(NamedTuple):
    """A printed card whose chip is personalised and locked: what QC gets."""

    card: CardData
    face: PrintedFace
    chip: ChipRecord


class StageOutcome(NamedTuple):
    """How a stage ended for one card (and why, if it failed), when it started and ended."""

    card: CardData
    outcome: Outcome
    reason_code: str | None
    started_at: datetime
    ended_at: datetime


Screen = Callable[[Application], str | None]
"""Why an application's data cannot make a card (a reason code), checked before a card body
is taken for it; None: it can."""


@dataclass(frozen=True, slots=True)
class Devices:
    printer: CardPrinter
    encoder: ChipEncoder
    qc: QcStation

    @property
    def machines(self) -> dict[MachineId, Stage]:
        """Each machine's name and the stage it works at."""
        return {
            self.printer.name: Stage.PRINT,
            self.encoder.name: Stage.ENCODE,
            self.qc.name: Stage.QC,
        }


def photo_problem(application: Application) -> str | None:
    """Why the application's photo cannot go on a card now (``line.portrait``'s
    ``print.photo_*`` codes: gone, unreadable, a pixel bomb, or ``print.photo_changed``: not
    the file whose SHA-256 intake recorded), or None."""
    problem = check_portrait(Path(application.photo_path), application.photo_sha256)
    return None if problem is None else problem.reason_code


def card_data(application: Application, card: Card, *, issue_date: date) -> CardData:
    """What the devices need to make ``card`` for ``application``, issued on ``issue_date``."""
    assert application.id is not None
    return CardData(
        application_id=application.id,
        card_serial=card.serial,
        id_number=application.id_number,
        full_name=application.full_name,
        date_of_birth=application.date_of_birth,
        sex="F" if application.sex == "F" else "M",
        nationality=application.nationality,
        place_of_origin=application.place_of_origin,
        place_of_residence=application.place_of_residence,
        old_id_number=application.old_id_number,
        photo_path=Path(application.photo_path),
        issue_date=issue_date,
        expiry_date=expiry_date(application.date_of_birth, issue_date),
        destination=application.destination,
        photo_sha256=application.photo_sha256,
    )


@dataclass(slots=True)
class PrintRound:
    """What the printer did with one batch: its jobs (with when), its faults, what is left."""

    jobs: list[tuple[PrintJob, datetime, datetime]] = field(default_factory=list)
    faults: list[DeviceError] = field(default_factory=list)
    unprinted: list[CardData] = field(default_factory=list)


def print_round(
    printer: CardPrinter, cards: Sequence[CardData], *, clock: Clock, retries: int
) -> PrintRound:
    """Drive the printer until every card is printed or spoiled, or it fails more than
    ``retries`` times running with nothing done. Talks to the printer only (it runs beside
    the other stations): no database here."""
    done = PrintRound()
    pending = list(cards)
    attempts = 0
    while pending:
        started = clock()
        job: PrintJob | None
        try:
            job = printer.print_cards(pending)
        except DeviceError as fault:
            done.faults.append(fault)
            # A printer that stops mid-batch reports the cards it did print.
            job = fault.job if isinstance(fault, PrinterStopped) else None
            attempts += 1
            if job is None and attempts > retries:
                done.unprinted = pending  # they stay at print; the next run picks them up
                return done
            if job is None:
                continue
        done.jobs.append((job, started, clock()))
        handled = set(job.serials)
        pending = [card for card in pending if card.card_serial not in handled]
    return done


def report_faults(done: PrintRound, *, retries: int) -> None:
    """Log the printer's faults in a round, and the cards it left unprinted."""
    for attempt, fault in enumerate(done.faults, start=1):
        log.warning(
            "device.fault",
            device=fault.device,
            reason_code=fault.reason_code,
            station=Stage.PRINT.value,
            attempt=attempt,
        )
    if done.unprinted and retries == 0:  # the caller retries (a task policy)
        log.warning("print.unprinted", cards=len(done.unprinted), station=Stage.PRINT.value)
    elif done.unprinted:
        log.error("print.gave_up", cards=len(done.unprinted), station=Stage.PRINT.value)


def job_outcomes(
    job: PrintJob, started: datetime, ended: datetime, cards: Mapping[str, CardData]
) -> tuple[list[StageOutcome], list[PrintedCard]]:
    """A print job's outcome for each card it handled, and the cards it printed."""
    outcomes: list[StageOutcome] = []
    printed: list[PrintedCard] = []
    for face in job.printed:
        outcomes.append(StageOutcome(cards[face.card_serial], Outcome.OK, None, started, ended))
        printed.append(PrintedCard(cards[face.card_serial], face))
    for serial, reason in job.spoiled:
        outcomes.append(StageOutcome(cards[serial], Outcome.FAIL, reason, started, ended))
    return outcomes, printed


@dataclass(slots=True)
class EncodeRound:
    """What the encoder did with a batch: the cards encoded, every card's outcome, and the
    UID of every chip used (a defective chip is used up all the same)."""

    chips: list[EncodedCard] = field(default_factory=list)
    outcomes: list[StageOutcome] = field(default_factory=list)
    uids: dict[str, str] = field(default_factory=dict)


def encode_round(
    encoder: ChipEncoder, faces: Sequence[PrintedCard], *, clock: Clock
) -> EncodeRound:
    """Encode each printed card; a defective chip spoils its card, a fault of the encoder
    itself is raised (nothing of the batch is recorded then: it is encoded again)."""
    done = EncodeRound()
    face_of = {card.card_serial: face for card, face in faces}
    started = clock()
    for card, result in encoder.encode_all([card for card, _ in faces]):
        ended = clock()
        if isinstance(result, DeviceError):
            if result.card_serial != card.card_serial:  # the encoder's own fault
                raise result
            uid = result.fields.get("chip_uid")
            if isinstance(uid, str):
                done.uids[card.card_serial] = uid
            done.outcomes.append(
                StageOutcome(card, Outcome.FAIL, result.reason_code, started, ended)
            )
        else:
            done.outcomes.append(StageOutcome(card, Outcome.OK, None, started, ended))
            done.uids[card.card_serial] = result.chip_uid
            done.chips.append(EncodedCard(card, face_of[card.card_serial], result))
        started = ended
    return done


def qc_round(
    qc: QcStation, chips: Iterable[EncodedCard], *, clock: Clock, archive: Archive | None
) -> list[StageOutcome]:
    """Inspect each encoded card: its outcome is the verdict (a rejected card's first
    reason, ``qc.reject`` when it gave none); what QC saw is archived, and on disk before
    this returns (the line records an outcome only after its card's archive is written)."""
    outcomes: list[StageOutcome] = []
    chips = list(chips)
    started = clock()
    for (card, face, _), verdict in zip(chips, qc.inspect_all(chips), strict=True):
        ended = clock()
        if archive is not None:
            archive.keep(card, face, verdict)
        if verdict.passed:
            outcomes.append(StageOutcome(card, Outcome.OK, None, started, ended))
        else:
            reason = verdict.reasons[0] if verdict.reasons else "qc.reject"
            outcomes.append(StageOutcome(card, Outcome.FAIL, reason, started, ended))
        started = ended  # the station works on the next card from here
    if archive is not None:
        archive.flush()
    return outcomes


def store_face(row: Card, face: PrintedFace) -> None:
    """Where the card's printed faces are, kept on its row (QC and a resumed run read them)."""
    row.print_pdf = str(face.pdf)
    row.front_page = face.front_page
    row.back_page = face.back_page


def stored_face(card: Card) -> PrintedFace | None:
    """The card's printed faces as its row keeps them (None: not printed)."""
    if card.print_pdf is None or card.front_page is None or card.back_page is None:
        return None
    return PrintedFace(card.serial, Path(card.print_pdf), card.front_page, card.back_page)
