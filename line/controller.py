"""The line controller: takes approved applications through print, chip-encode and QC.

It only knows the device ports of ``line.devices``; whether the devices are real or virtual
is decided by whoever builds them. Each stage of a batch is one transaction, so a crash
loses at most the stage in progress, and what was recorded stays true: a card left at a
stage is picked up again by the next run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from line.allocation import next_in_line
from line.card import CardData, expiry_date
from line.db import session_scope
from line.devices import (
    CardPrinter,
    ChipEncoder,
    ChipRecord,
    ChipStock,
    PrintedFace,
    PrinterStopped,
    PrintJob,
    QcStation,
    QcVerdict,
)
from line.errors import DeviceError
from line.logsetup import get_logger
from line.models import Application, Card
from line.operations import (
    StageResult,
    finish_stages,
    hold_application,
    start_prints,
    take_chips,
)
from line.portrait import check_portrait
from line.routing import Action
from line.spec import LineSpec
from line.types import CardState, Clock, Outcome, Stage

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
    def machines(self) -> dict[str, Stage]:
        """Each machine's name and the stage it works at."""
        return {
            self.printer.name: Stage.PRINT,
            self.encoder.name: Stage.ENCODE,
            self.qc.name: Stage.QC,
        }


@dataclass(slots=True)
class RunSummary:
    """What one run of the line did."""

    batches: int = 0
    started: int = 0
    printed: int = 0
    encoded: int = 0
    passed: int = 0
    spoiled: dict[str, int] = field(default_factory=dict)  # reason code -> cards
    held: int = 0
    held_for: dict[str, int] = field(default_factory=dict)  # reason code -> applications held
    device_faults: dict[str, int] = field(default_factory=dict)  # reason code -> faults
    waiting_for_chips: int = 0  # approved applications left without a chip when it stopped
    # Approved applications left waiting when ribbon or film ran out (print.supplies_out),
    # and the units of each item needed but not in stock.
    waiting_for_supplies: int = 0
    supplies_missing: dict[str, int] = field(default_factory=dict)  # item -> units not in stock
    stopped_for: str | None = None  # why the printer got no more cards (supplies), if it did

    # Stages of two batches may record at once (an orchestrator's printer task in a thread).
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def spoil(self, reason: str) -> None:
        with self._lock:
            self.spoiled[reason] = self.spoiled.get(reason, 0) + 1

    def hold(self, reason: str) -> None:
        """An application went to a manager (its data is at fault, or the rework limit)."""
        with self._lock:
            self.held += 1
            self.held_for[reason] = self.held_for.get(reason, 0) + 1

    def fault(self, reason: str) -> None:
        with self._lock:
            self.device_faults[reason] = self.device_faults.get(reason, 0) + 1

    def count(self, name: str, number: int) -> None:
        """Add ``number`` to the counter ``name`` (``printed``, ``passed``...), thread-safely."""
        with self._lock:
            setattr(self, name, getattr(self, name) + number)

    def as_dict(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "started": self.started,
            "printed": self.printed,
            "encoded": self.encoded,
            "passed": self.passed,
            "spoiled": dict(self.spoiled),
            "held": self.held,
            "held_for": dict(self.held_for),
            "device_faults": dict(self.device_faults),
            "waiting_for_chips": self.waiting_for_chips,
            "waiting_for_supplies": self.waiting_for_supplies,
            "supplies_missing": dict(self.supplies_missing),
            "stopped_for": self.stopped_for,
        }


def photo_problem(application: Application) -> str | None:
    """Why the application's photo cannot go on a card now (``line.portrait``'s
    ``print.photo_*`` codes: gone, unreadable, a pixel bomb, or ``print.photo_changed``: not
    the file whose SHA-256 intake recorded), or None."""
    problem = check_portrait(Path(application.photo_path), application.photo_sha256)
    return None if problem is None else problem.reason_code


def card_data(application: Application, card: Card, *, issue_date: date) -> CardData:
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


class LineController:
    """Runs batches through the line with the given devices until no approved work is left."""

    def __init__(
        self,
        *,
        engine: Engine,
        spec: LineSpec,
        devices: Devices,
        clock: Clock,
        actor: str,
        archive: Archive | None = None,
        device_retries: int = 3,
        stock: ChipStock | None = None,
        resume_after: timedelta = timedelta(minutes=5),
        screen: Screen | None = None,
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.devices = devices
        self.clock = clock
        self.actor = actor
        self.archive = archive
        self.device_retries = device_retries
        self.stock = stock
        # A card untouched this long is abandoned (its worker crashed or gave up); a younger
        # one may be in another worker's hands right now.
        self.resume_after = resume_after
        self.screen = screen
        self._zone = ZoneInfo(spec.calendar.timezone)
        self._card_ids: dict[str, int] = {}  # card serial -> card id, for cards on the line
        self._cards: dict[str, CardData] = {}  # card serial -> what the devices need

    def today(self) -> date:
        return self.clock().astimezone(self._zone).date()

    def run(
        self,
        *,
        batch_size: int = 100,
        limit: int | None = None,
        before_batch: Callable[[], None] | None = None,
    ) -> RunSummary:
        """Process approved applications (oldest first) and the cards left mid-line.

        Like a physical line, the stations work at once: while the printer prints one
        batch (in a thread of its own, so a printer that renders in another process uses
        the other core), encoder and QC work on the batch printed before it.
        ``before_batch`` is called before each batch (and before the one printed last goes
        on to encode and QC); an error it raises stops the run there (a lost machine lease).
        """
        summary = RunSummary()
        self._resume(summary)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="printer") as printer:

            def start_next() -> Future[PrintRound] | None:
                if before_batch is not None:
                    before_batch()
                if limit is not None and summary.started >= limit:
                    return None
                size = batch_size if limit is None else min(batch_size, limit - summary.started)
                cards = self._start_batch(size, summary)
                if not cards:
                    return None
                summary.batches += 1
                # An encoder that prepares its data ahead (signing on another core) starts now.
                self.devices.encoder.prepare(cards)
                return printer.submit(self._print_round, cards)

            in_print = start_next()
            while in_print is not None:
                faces = self._record_print(in_print.result(), summary)
                in_print = start_next()
                self._encode_and_check(faces, summary)
                if in_print is None:  # rework sent back by encode and QC goes round again
                    in_print = start_next()
        log.info("line.run", **summary.as_dict())
        return summary

    # --- the stages, one batch at a time (what an orchestrator's tasks wrap) ---------------

    def start_batch(self, size: int, summary: RunSummary) -> list[CardData]:
        """Start up to ``size`` cards (chips reserved and taken first, with stock)."""
        cards = self._start_batch(size, summary)
        if cards:
            summary.batches += 1
        return cards

    def print_batch(
        self, cards: Sequence[CardData], summary: RunSummary
    ) -> tuple[list[PrintedCard], PrintRound]:
        """Print a batch (``device_retries`` retries of printer faults) and record it.

        Returns the printed cards and the round itself: its ``unprinted`` cards (the
        printer gave up; they stay at print) and its ``faults``, for an orchestrator that
        retries with a policy of its own.
        """
        self.devices.encoder.prepare(cards)
        done = self._print_round(cards)
        return self._record_print(done, summary), done

    def encode_batch(self, faces: Sequence[PrintedCard], summary: RunSummary) -> list[EncodedCard]:
        """Encode the printed cards of a batch and record it."""
        return self._encode(faces, summary)

    def check_batch(self, chips: Sequence[EncodedCard], summary: RunSummary) -> None:
        """QC the encoded cards of a batch and record it (failures go to rework)."""
        self._check(chips, summary)

    def resume(self, summary: RunSummary) -> None:
        """Cards an earlier run left mid-line go on from their stage."""
        self._resume(summary)

    def has_abandoned(self) -> bool:
        """Whether cards lie mid-line untouched for ``resume_after`` (work for ``resume``)."""
        with session_scope(self.engine) as session:
            found = session.exec(
                select(Card.id).where(*self._abandoned(self.clock() - self.resume_after))
            ).first()
        return found is not None

    @staticmethod
    def _abandoned(before: datetime) -> tuple[Any, ...]:
        return (
            col(Card.state).in_([CardState.PRINTING, CardState.PRINTED, CardState.ENCODED]),
            col(Card.updated_at) <= before,
        )

    # --- stages ---------------------------------------------------------------------------

    def _start_batch(self, size: int, summary: RunSummary) -> list[CardData]:
        """The next applications in the allocation policy's order; with chip stock, only
        those that get a chip reserved start (the line stops when chips run out)."""
        issue_date = self.today()
        with session_scope(self.engine) as session:
            waiting = self._screened(session, size, summary)
            waiting = self._within_supplies(session, waiting, summary)
            if self.stock is not None and waiting:
                holding = self.stock.reserve(
                    session=session,
                    application_ids=[a.id for a in waiting if a.id is not None],
                    at=self.clock(),
                )
                summary.waiting_for_chips = len(waiting) - len(holding)
                if summary.waiting_for_chips:
                    log.warning(
                        "line.short_of_chips",
                        waiting=summary.waiting_for_chips,
                        policy=self.spec.allocation.policy,
                    )
                waiting = [a for a in waiting if a.id in holding]
            ids = [application.id for application in waiting if application.id is not None]
            at = self.clock()
            cards = start_prints(
                session=session,
                application_ids=ids,
                actor=self.actor,
                machine=self.devices.printer.name,
                at=at,
            )
            if self.stock is not None:
                # The card bodies (and their chips) are taken from stock as printing starts.
                take_chips(session=session, cards=cards, stock=self.stock, at=at)
            started = []
            for application, card in zip(waiting, cards, strict=True):
                assert card.id is not None
                self._card_ids[card.serial] = card.id
                data = card_data(application, card, issue_date=issue_date)
                self._cards[card.serial] = data
                started.append(data)
            if started and self.stock is not None:
                for item, missing in self.stock.use_supplies(session=session, at=at).items():
                    summary.supplies_missing[item] = summary.supplies_missing.get(item, 0) + missing
        summary.count("started", len(started))
        return started

    def _within_supplies(
        self, session: Session, waiting: list[Application], summary: RunSummary
    ) -> list[Application]:
        """As many of ``waiting`` (in line order) as the ribbon and film can print: on the
        mounted rolls, then on the rolls in store. The others wait; with none left the
        printer gets no more cards, and the run says which supply stopped it."""
        if not waiting or self.stock is None:
            return waiting
        left = self.stock.supplies_left(session=session)
        can = min([len(waiting), *left.values()])
        summary.waiting_for_supplies = len(waiting) - can
        if can == len(waiting):
            return waiting
        short = []
        for item, cards in sorted(left.items()):
            if cards < len(waiting):
                supply = self.spec.consumables.get(item)
                per_unit = supply.cards_per_unit if supply is not None else 1
                summary.supplies_missing[item] = -(-(len(waiting) - cards) // per_unit)
                short.append(f"{item} prints {cards} more card(s)")
        summary.stopped_for = (
            f"print.supplies_out: {', '.join(short)}; {summary.waiting_for_supplies} approved "
            f"application(s) wait for {' and '.join(sorted(summary.supplies_missing))}"
        )
        log.warning(
            "line.out_of_supplies",
            reason_code="print.supplies_out",
            machine=self.devices.printer.name,
            started=can,
            waiting=summary.waiting_for_supplies,
            cards_left={item: cards for item, cards in sorted(left.items())},
            units_missing=dict(sorted(summary.supplies_missing.items())),
        )
        return waiting[:can]

    def _screened(self, session: Session, size: int, summary: RunSummary) -> list[Application]:
        """The next ``size`` applications in line whose data can make a card. One whose
        photo is gone or is not the file recorded at intake is held for a manager before
        a card body (and its chip) is taken for it."""
        while True:
            waiting = next_in_line(session=session, policy=self.spec.allocation, limit=size)
            screen = self.screen
            if screen is None:
                return waiting
            bad = [(a, why) for a in waiting if (why := screen(a)) is not None]
            if not bad:
                return waiting
            at = self.clock()
            for application, reason in bad:
                assert application.id is not None
                hold_application(
                    session=session,
                    application_id=application.id,
                    stage=Stage.PRINT,
                    reason_code=reason,
                    actor=self.actor,
                    at=at,
                )
                summary.hold(reason)

    def _resume(self, summary: RunSummary) -> None:
        """Cards an earlier run left at a stage (a crash, a device fault) go on from there,
        once untouched for ``resume_after``; rows are locked, skipping those another worker
        is resuming."""
        issue_date = self.today()
        abandoned_before = self.clock() - self.resume_after
        with session_scope(self.engine) as session:
            rows = session.exec(
                select(Card, Application)
                .join(Application, col(Application.id) == Card.application_id)
                .where(*self._abandoned(abandoned_before))
                .order_by(col(Card.id))
                .with_for_update(skip_locked=True, of=Card)
            ).all()
            taken_at = self.clock()
            for card, _ in rows:  # taken: another worker now sees them as fresh, not abandoned
                card.updated_at = taken_at
                session.add(card)
        if not rows:
            return
        by_state: dict[CardState, list[tuple[Card, CardData]]] = {}
        for card, application in rows:
            assert card.id is not None
            self._card_ids[card.serial] = card.id
            data = card_data(application, card, issue_date=issue_date)
            self._cards[card.serial] = data
            by_state.setdefault(card.state, []).append((card, data))
        log.info("line.resume", cards=len(rows))
        self._through_the_line([data for _, data in by_state.get(CardState.PRINTING, [])], summary)
        printed = [
            PrintedCard(data, face)
            for card, data in by_state.get(CardState.PRINTED, [])
            if (face := _face(card)) is not None
        ]
        self._encode_and_check(printed, summary)
        encoded = [
            EncodedCard(data, face, ChipRecord(card.serial, card.chip_uid or ""))
            for card, data in by_state.get(CardState.ENCODED, [])
            if (face := _face(card)) is not None
        ]
        self._check(encoded, summary)

    def _through_the_line(self, cards: Sequence[CardData], summary: RunSummary) -> None:
        faces = self._print(cards, summary)
        self._encode_and_check(faces, summary)

    def _encode_and_check(self, faces: Sequence[PrintedCard], summary: RunSummary) -> None:
        chips = self._encode(faces, summary)
        self._check(chips, summary)

    def _print(self, cards: Sequence[CardData], summary: RunSummary) -> list[PrintedCard]:
        return self._record_print(self._print_round(cards), summary)

    def _print_round(self, cards: Sequence[CardData]) -> PrintRound:
        """Drive the printer until every card is printed or spoiled, or it keeps failing.
        Talks to the printer only (it runs beside the other stations): no database here."""
        done = PrintRound()
        pending = list(cards)
        attempts = 0
        while pending:
            started = self.clock()
            job: PrintJob | None
            try:
                job = self.devices.printer.print_cards(pending)
            except DeviceError as fault:
                done.faults.append(fault)
                # A printer that stops mid-batch reports the cards it did print.
                job = fault.job if isinstance(fault, PrinterStopped) else None
                attempts += 1
                if job is None and attempts > self.device_retries:
                    done.unprinted = pending  # they stay at print; the next run picks them up
                    return done
                if job is None:
                    continue
            done.jobs.append((job, started, self.clock()))
            handled = set(job.serials)
            pending = [card for card in pending if card.card_serial not in handled]
        return done

    def _record_print(self, done: PrintRound, summary: RunSummary) -> list[PrintedCard]:
        for attempt, fault in enumerate(done.faults, start=1):
            summary.fault(fault.reason_code)
            log.warning(
                "device.fault",
                device=fault.device,
                reason_code=fault.reason_code,
                station=Stage.PRINT.value,
                attempt=attempt,
            )
        if done.unprinted and self.device_retries == 0:  # the caller retries (a task policy)
            log.warning("print.unprinted", cards=len(done.unprinted), station=Stage.PRINT.value)
        elif done.unprinted:
            log.error("print.gave_up", cards=len(done.unprinted), station=Stage.PRINT.value)
        printed: list[PrintedCard] = []
        with session_scope(self.engine) as session:
            for job, started, ended in done.jobs:
                cards = {serial: self._cards[serial] for serial in job.serials}
                outcomes: list[StageOutcome] = []
                for face in job.printed:
                    outcomes.append(
                        StageOutcome(cards[face.card_serial], Outcome.OK, None, started, ended)
                    )
                    printed.append(PrintedCard(cards[face.card_serial], face))
                for serial, reason in job.spoiled:
                    outcomes.append(
                        StageOutcome(cards[serial], Outcome.FAIL, reason, started, ended)
                    )
                self._record(session, Stage.PRINT, outcomes, summary)
            rows = self._card_rows(session, (card for card, _ in printed))
            for card, face in printed:
                _store_face(rows[card.card_serial], face)
        self._forget(s.card_serial for job, _, _ in done.jobs for s in job.spoiled)
        summary.count("printed", len(printed))
        return printed

    def _encode(self, faces: Sequence[PrintedCard], summary: RunSummary) -> list[EncodedCard]:
        chips: list[EncodedCard] = []
        outcomes: list[StageOutcome] = []
        uids: dict[str, str] = {}
        face_of = {card.card_serial: face for card, face in faces}
        started = self.clock()
        for card, result in self.devices.encoder.encode_all([card for card, _ in faces]):
            ended = self.clock()
            if isinstance(result, DeviceError):
                if result.card_serial != card.card_serial:  # the encoder's own fault
                    raise result
                uid = result.fields.get("chip_uid")
                if isinstance(uid, str):  # the defective chip is used up all the same
                    uids[card.card_serial] = uid
                outcomes.append(
                    StageOutcome(card, Outcome.FAIL, result.reason_code, started, ended)
                )
            else:
                outcomes.append(StageOutcome(card, Outcome.OK, None, started, ended))
                uids[card.card_serial] = result.chip_uid
                chips.append(EncodedCard(card, face_of[card.card_serial], result))
            started = ended
        with session_scope(self.engine) as session:
            self._record(session, Stage.ENCODE, outcomes, summary)
            rows = self._card_rows(session, (c for c, _ in faces if c.card_serial in uids))
            for serial, uid in uids.items():
                rows[serial].chip_uid = uid
        self._forget(o.card.card_serial for o in outcomes if o.outcome is Outcome.FAIL)
        summary.count("encoded", len(chips))
        return chips

    def _check(self, chips: Iterable[EncodedCard], summary: RunSummary) -> None:
        outcomes: list[StageOutcome] = []
        chips = list(chips)
        started = self.clock()
        verdicts = self.devices.qc.inspect_all(chips)
        for (card, face, _), verdict in zip(chips, verdicts, strict=True):
            ended = self.clock()
            if self.archive is not None:
                self.archive.keep(card, face, verdict)
            if verdict.passed:
                outcomes.append(StageOutcome(card, Outcome.OK, None, started, ended))
                summary.count("passed", 1)
            else:
                reason = verdict.reasons[0] if verdict.reasons else "qc.reject"
                outcomes.append(StageOutcome(card, Outcome.FAIL, reason, started, ended))
            started = ended  # the station works on the next card from here
        if self.archive is not None:
            self.archive.flush()
        with session_scope(self.engine) as session:
            # The verdict is the QC stage event (``line.events.qc_verdicts`` reads it back).
            self._record(session, Stage.QC, outcomes, summary)
        self._forget(o.card.card_serial for o in outcomes)  # QC is their last stage here

    # --- recording ------------------------------------------------------------------------

    def _forget(self, serials: Iterable[str]) -> None:
        """Cards that left the line (spoiled, or through QC) are no longer held in memory."""
        for serial in list(serials):
            self._card_ids.pop(serial, None)
            self._cards.pop(serial, None)

    def _card_rows(self, session: Session, cards: Iterable[CardData]) -> dict[str, Card]:
        """The rows of ``cards`` by serial, in one query (``finish_stages`` has them in the
        session already when it was called for them)."""
        ids = [self._card_ids[card.card_serial] for card in cards]
        rows = session.exec(select(Card).where(col(Card.id).in_(ids))).all() if ids else []
        return {row.serial: row for row in rows}

    def _record(
        self, session: Session, stage: Stage, outcomes: Sequence[StageOutcome], summary: RunSummary
    ) -> None:
        """One stage's outcomes for a batch of cards: one call, one flush."""
        machine = {
            Stage.PRINT: self.devices.printer.name,
            Stage.ENCODE: self.devices.encoder.name,
            Stage.QC: self.devices.qc.name,
        }[stage]
        results = [
            StageResult(
                card_id=self._card_ids[card.card_serial],
                stage=stage,
                outcome=outcome,
                actor=self.actor,
                machine=machine,
                started_at=started,
                ended_at=ended,
                reason_code=reason,
            )
            for card, outcome, reason, started, ended in outcomes
        ]
        # The stage operation books the chip of every card it spoils (its body is lost).
        routes = finish_stages(
            session=session, results=results, rework_limit=self.spec.rework_limit, stock=self.stock
        )
        for result, route in zip(results, routes, strict=True):
            if result.outcome is Outcome.FAIL:
                summary.spoil(result.reason_code or "unknown")
                if route.action is Action.HOLD:
                    summary.hold(result.reason_code or "unknown")


@dataclass(slots=True)
class PrintRound:
    """What the printer did with one batch: its jobs (with when), its faults, what is left."""

    jobs: list[tuple[PrintJob, datetime, datetime]] = field(default_factory=list)
    faults: list[DeviceError] = field(default_factory=list)
    unprinted: list[CardData] = field(default_factory=list)


def _store_face(row: Card, face: PrintedFace) -> None:
    row.print_pdf = str(face.pdf)
    row.front_page = face.front_page
    row.back_page = face.back_page


def _face(card: Card) -> PrintedFace | None:
    if card.print_pdf is None or card.front_page is None or card.back_page is None:
        return None
    return PrintedFace(card.serial, Path(card.print_pdf), card.front_page, card.back_page)
