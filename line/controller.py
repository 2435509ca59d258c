"""The line controller: takes approved applications through print, chip-encode and QC.

It only knows the device ports of ``line.devices``; whether the devices are real or virtual
is decided by whoever builds them. Each stage of a batch is one transaction, so a crash
loses at most the stage in progress, and what was recorded stays true: a card left at a
stage is picked up again by the next run. Every stage records through the stage operations
(``line.operations``: ``start_prints``, ``take_chips``, ``finish_stages``) and returns what
it did as a ``RunSummary`` of its own; ``run`` drives the stages side by side
(``line.pipeline``) and folds their summaries, as the production flow does with its tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from line.admission import abandoned, screened, take_abandoned, within_supplies
from line.card import CardData
from line.db import session_scope
from line.devices import ChipRecord, ChipStock
from line.logsetup import get_logger
from line.models import Card
from line.operations import (
    StageResult,
    finish_stages,
    start_prints,
    take_chips,
)
from line.pipeline import pipelined
from line.routing import Action
from line.shopfloor import (
    Archive,
    Devices,
    EncodedCard,
    PrintedCard,
    PrintRound,
    Screen,
    StageOutcome,
    card_data,
    encode_round,
    job_outcomes,
    photo_problem,
    print_round,
    qc_round,
    report_faults,
    store_face,
    stored_face,
)
from line.spec import LineSpec
from line.summary import RunSummary, log_batch
from line.types import CardState, Clock, Outcome, Stage

__all__ = [
    "Archive",
    "Devices",
    "EncodedCard",
    "LineController",
    "PrintRound",
    "PrintedCard",
    "Recorded",
    "RunSummary",
    "Screen",
    "StageOutcome",
    "card_data",
    "photo_problem",
]

log = get_logger(__name__)

DEVICE_RETRIES = 3  # a device fault is tried again this often before the cards wait


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Recorded(Generic[T]):
    """What a stage of a batch handed on (its cards, for the next station) and what it did."""

    items: list[T]
    summary: RunSummary


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
        device_retries: int = DEVICE_RETRIES,
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

        Like a physical line, the stations work at once (``line.pipeline``): while the
        printer prints one batch (in a thread of its own, so a printer that renders in
        another process uses the other core), encoder and QC work on the batch printed
        before it. ``before_batch`` is called before each batch (and before the one printed
        last goes on to encode and QC); an error it raises stops the run there (a lost
        machine lease).
        """
        summary = self.resume()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="printer") as printer:

            def start(size: int) -> Future[PrintRound] | None:
                started = self.start_batch(size)
                summary.add(started.summary)
                if not started.items:
                    return None
                # An encoder that prepares its data ahead (signing on another core) starts now.
                self.devices.encoder.prepare(started.items)
                return printer.submit(self._print_round, started.items)

            def printed(in_print: Future[PrintRound]) -> list[PrintedCard]:
                part = RunSummary()
                faces = self._record_print(in_print.result(), part)
                summary.add(part)
                return faces

            def finish(faces: list[PrintedCard]) -> None:
                part = RunSummary()
                self._encode_and_check(faces, part)
                summary.add(part)

            pipelined(
                start=start,
                printed=printed,
                finish=finish,
                batch_size=batch_size,
                limit=limit,
                started=lambda: summary.started,
                before_batch=before_batch,
            )
        log.info("line.run", **summary.as_dict())
        return summary

    # --- the stages, one batch at a time (what an orchestrator's tasks wrap) ---------------

    def start_batch(self, size: int) -> Recorded[CardData]:
        """Start up to ``size`` cards (chips reserved and taken first, with stock)."""
        summary = RunSummary()
        cards = self._start_batch(size, summary)
        if cards:
            summary.count("batches", 1)
        return Recorded(cards, summary)

    def print_batch(self, cards: Sequence[CardData]) -> tuple[Recorded[PrintedCard], PrintRound]:
        """Print a batch (``device_retries`` retries of printer faults) and record it.

        Returns the printed cards and the round itself: its ``unprinted`` cards (the
        printer gave up; they stay at print) and its ``faults``, for an orchestrator that
        retries with a policy of its own.
        """
        self.devices.encoder.prepare(cards)
        done = self._print_round(cards)
        summary = RunSummary()
        recorded = Recorded(self._record_print(done, summary), summary), done
        log_batch("print", self.devices.printer.name, len(cards), summary, len(done.unprinted))
        return recorded

    def encode_batch(self, faces: Sequence[PrintedCard]) -> Recorded[EncodedCard]:
        """Encode the printed cards of a batch and record it."""
        summary = RunSummary()
        encoded = Recorded(self._encode(faces, summary), summary)
        log_batch("chip-encode", self.devices.encoder.name, len(faces), summary)
        return encoded

    def check_batch(self, chips: Sequence[EncodedCard]) -> RunSummary:
        """QC the encoded cards of a batch and record it (failures go to rework)."""
        summary = RunSummary()
        self._check(chips, summary)
        log_batch("qc", self.devices.qc.name, len(chips), summary)
        return summary

    def resume(self) -> RunSummary:
        """Cards an earlier run left mid-line go on from their stage."""
        summary = RunSummary()
        self._resume(summary)
        return summary

    def has_abandoned(self) -> bool:
        """Whether cards lie mid-line untouched for ``resume_after`` (work for ``resume``)."""
        with session_scope(self.engine) as session:
            found = session.exec(
                select(Card.id).where(*abandoned(self.clock() - self.resume_after))
            ).first()
        return found is not None

    # --- stages ---------------------------------------------------------------------------

    def _start_batch(self, size: int, summary: RunSummary) -> list[CardData]:
        """The next applications in the allocation policy's order; with chip stock, only
        those that get a chip reserved start (the line stops when chips run out)."""
        issue_date = self.today()
        with session_scope(self.engine) as session:
            waiting = screened(
                session=session, spec=self.spec, size=size, screen=self.screen,
                actor=self.actor, clock=self.clock, summary=summary,
            )  # fmt: skip
            waiting = within_supplies(
                session=session, waiting=waiting, stock=self.stock, spec=self.spec,
                printer=self.devices.printer.name, summary=summary,
            )  # fmt: skip
            if self.stock is not None and waiting:
                holding = self.stock.reserve(
                    session=session,
                    application_ids=[a.id for a in waiting if a.id is not None],
                    at=self.clock(),
                )
                summary.gauge("waiting_for_chips", len(waiting) - len(holding))
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

    def _resume(self, summary: RunSummary) -> None:
        """Cards an earlier run left at a stage (a crash, a device fault) go on from there,
        once untouched for ``resume_after``; rows are locked, skipping those another worker
        is resuming."""
        issue_date = self.today()
        before = self.clock() - self.resume_after
        with session_scope(self.engine) as session:
            rows = take_abandoned(session=session, before=before, at=self.clock())
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
            if (face := stored_face(card)) is not None
        ]
        self._encode_and_check(printed, summary)
        encoded = [
            EncodedCard(data, face, ChipRecord(card.serial, card.chip_uid or ""))
            for card, data in by_state.get(CardState.ENCODED, [])
            if (face := stored_face(card)) is not None
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
        """The printer's round (``line.shopfloor.print_round``): no database, so it may run
        in a thread beside the other stations."""
        return print_round(
            self.devices.printer, cards, clock=self.clock, retries=self.device_retries
        )

    def _record_print(self, done: PrintRound, summary: RunSummary) -> list[PrintedCard]:
        report_faults(done, retries=self.device_retries)
        for fault in done.faults:
            summary.fault(fault.reason_code)
        printed: list[PrintedCard] = []
        with session_scope(self.engine) as session:
            for job, started, ended in done.jobs:
                cards = {serial: self._cards[serial] for serial in job.serials}
                outcomes, faces = job_outcomes(job, started, ended, cards)
                self._record(session, Stage.PRINT, outcomes, summary)
                printed.extend(faces)
            rows = self._card_rows(session, (card for card, _ in printed))
            for card, face in printed:
                store_face(rows[card.card_serial], face)
        self._forget(s.card_serial for job, _, _ in done.jobs for s in job.spoiled)
        summary.count("printed", len(printed))
        return printed

    def _encode(self, faces: Sequence[PrintedCard], summary: RunSummary) -> list[EncodedCard]:
        done = encode_round(self.devices.encoder, faces, clock=self.clock)
        with session_scope(self.engine) as session:
            self._record(session, Stage.ENCODE, done.outcomes, summary)
            rows = self._card_rows(session, (c for c, _ in faces if c.card_serial in done.uids))
            for serial, uid in done.uids.items():
                rows[serial].chip_uid = uid
        self._forget(o.card.card_serial for o in done.outcomes if o.outcome is Outcome.FAIL)
        summary.count("encoded", len(done.chips))
        return done.chips

    def _check(self, chips: Iterable[EncodedCard], summary: RunSummary) -> None:
        outcomes = qc_round(self.devices.qc, chips, clock=self.clock, archive=self.archive)
        with session_scope(self.engine) as session:
            # The verdict is the QC stage event (``line.events.qc_verdicts`` reads it back).
            self._record(session, Stage.QC, outcomes, summary)
        summary.count("passed", sum(o.outcome is Outcome.OK for o in outcomes))
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
