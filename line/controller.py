"""The line controller: takes approved applications through print, chip-encode and QC.

It only knows the device ports of ``line.devices``; whether the devices are real or virtual
is decided by whoever builds them. Each stage of a batch is one transaction, so a crash
loses at most the stage in progress, and what was recorded stays true: a card left at a
stage is picked up again by the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from line.card import CardData, expiry_date
from line.db import session_scope
from line.devices import (
    CardPrinter,
    ChipEncoder,
    ChipRecord,
    PrintedFace,
    PrintJob,
    QcStation,
    QcVerdict,
)
from line.errors import DeviceError
from line.logsetup import get_logger
from line.models import Application, Card
from line.operations import finish_stage, start_print
from line.spec import LineSpec
from line.types import ApplicationState, CardState, Clock, Outcome, Stage

log = get_logger(__name__)

Archive = Callable[[CardData, PrintedFace, QcVerdict], None]
"""Keeps what QC saw of a card (faces and chip files) for auditors."""


@dataclass(frozen=True, slots=True)
class Devices:
    printer: CardPrinter
    encoder: ChipEncoder
    qc: QcStation


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
    device_faults: dict[str, int] = field(default_factory=dict)  # reason code -> faults

    def spoil(self, reason: str) -> None:
        self.spoiled[reason] = self.spoiled.get(reason, 0) + 1

    def fault(self, reason: str) -> None:
        self.device_faults[reason] = self.device_faults.get(reason, 0) + 1

    def as_dict(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "started": self.started,
            "printed": self.printed,
            "encoded": self.encoded,
            "passed": self.passed,
            "spoiled": dict(self.spoiled),
            "held": self.held,
            "device_faults": dict(self.device_faults),
        }


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
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.devices = devices
        self.clock = clock
        self.actor = actor
        self.archive = archive
        self.device_retries = device_retries
        self._zone = ZoneInfo(spec.calendar.timezone)
        self._card_ids: dict[str, int] = {}  # card serial -> card id, for cards on the line

    def today(self) -> date:
        return self.clock().astimezone(self._zone).date()

    def run(self, *, batch_size: int = 100, limit: int | None = None) -> RunSummary:
        """Process approved applications (oldest first) and the cards left mid-line."""
        summary = RunSummary()
        self._resume(summary)
        while limit is None or summary.started < limit:
            size = batch_size if limit is None else min(batch_size, limit - summary.started)
            cards = self._start_batch(size, summary)
            if not cards:
                break
            summary.batches += 1
            self._through_the_line(cards, summary)
        log.info("line.run", **summary.as_dict())
        return summary

    # --- stages ---------------------------------------------------------------------------

    def _start_batch(self, size: int, summary: RunSummary) -> list[CardData]:
        issue_date = self.today()
        with session_scope(self.engine) as session:
            waiting = session.exec(
                select(Application)
                .where(Application.state == ApplicationState.APPROVED)
                .order_by(col(Application.id))
                .limit(size)
            ).all()
            started = []
            for application in waiting:
                assert application.id is not None
                card = start_print(
                    session=session,
                    application_id=application.id,
                    actor=self.actor,
                    machine=self.devices.printer.name,
                    at=self.clock(),
                )
                assert card.id is not None
                self._card_ids[card.serial] = card.id
                started.append(card_data(application, card, issue_date=issue_date))
        summary.started += len(started)
        return started

    def _resume(self, summary: RunSummary) -> None:
        """Cards a previous run left at a stage (a crash, a device fault) go on from there."""
        issue_date = self.today()
        with session_scope(self.engine) as session:
            rows = session.exec(
                select(Card, Application)
                .join(Application, col(Application.id) == Card.application_id)
                .where(
                    col(Card.state).in_([CardState.PRINTING, CardState.PRINTED, CardState.ENCODED])
                )
                .order_by(col(Card.id))
            ).all()
        if not rows:
            return
        by_state: dict[CardState, list[tuple[Card, CardData]]] = {}
        for card, application in rows:
            assert card.id is not None
            self._card_ids[card.serial] = card.id
            by_state.setdefault(card.state, []).append(
                (card, card_data(application, card, issue_date=issue_date))
            )
        log.info("line.resume", cards=len(rows))
        self._through_the_line([data for _, data in by_state.get(CardState.PRINTING, [])], summary)
        printed = [
            (data, _face(card)) for card, data in by_state.get(CardState.PRINTED, []) if _face(card)
        ]
        self._encode_and_check([(d, f) for d, f in printed if f is not None], summary)
        encoded = [
            (data, _face(card), ChipRecord(card.serial, card.chip_uid or ""))
            for card, data in by_state.get(CardState.ENCODED, [])
        ]
        self._check([(d, f, c) for d, f, c in encoded if f is not None], summary)

    def _through_the_line(self, cards: Sequence[CardData], summary: RunSummary) -> None:
        faces = self._print(cards, summary)
        self._encode_and_check(faces, summary)

    def _encode_and_check(
        self, faces: Sequence[tuple[CardData, PrintedFace]], summary: RunSummary
    ) -> None:
        chips = self._encode(faces, summary)
        self._check(chips, summary)

    def _print(
        self, cards: Sequence[CardData], summary: RunSummary
    ) -> list[tuple[CardData, PrintedFace]]:
        pending = list(cards)
        done: list[tuple[CardData, PrintedFace]] = []
        attempts = 0
        while pending:
            started = self.clock()
            job: PrintJob | None
            try:
                job = self.devices.printer.print_cards(pending)
            except DeviceError as fault:
                summary.fault(fault.reason_code)
                # A printer that stops mid-batch reports the cards it did print.
                partial = getattr(fault, "job", None)
                job = partial if isinstance(partial, PrintJob) else None
                attempts += 1
                log.warning(
                    "device.fault",
                    device=fault.device,
                    reason_code=fault.reason_code,
                    station=Stage.PRINT.value,
                    attempt=attempts,
                )
                if job is None and attempts > self.device_retries:
                    log.error("print.gave_up", cards=len(pending), station=Stage.PRINT.value)
                    return done  # the cards stay at print; the next run picks them up
                if job is None:
                    continue
            ended = self.clock()
            by_serial = {card.card_serial: card for card in pending}
            with session_scope(self.engine) as session:
                for face in job.printed:
                    card = by_serial.pop(face.card_serial)
                    self._finish(session, card, Stage.PRINT, Outcome.OK, None, started, ended)
                    _store_face(self._card_row(session, card), face)
                    done.append((card, face))
                    summary.printed += 1
                for serial, reason in job.spoiled:
                    card = by_serial.pop(serial)
                    self._fail(session, card, Stage.PRINT, reason, started, ended, summary)
            pending = list(by_serial.values())
        return done

    def _encode(
        self, faces: Sequence[tuple[CardData, PrintedFace]], summary: RunSummary
    ) -> list[tuple[CardData, PrintedFace, ChipRecord]]:
        chips = []
        with session_scope(self.engine) as session:
            for card, face in faces:
                started = self.clock()
                try:
                    chip = self.devices.encoder.encode(card)
                except DeviceError as fault:
                    ended = self.clock()
                    if fault.card_serial not in (None, card.card_serial):
                        raise
                    uid = fault.fields.get("chip_uid")
                    if isinstance(uid, str):  # the defective chip is used up all the same
                        stored = self._card_row(session, card)
                        stored.chip_uid = uid
                        session.add(stored)
                    self._fail(
                        session, card, Stage.ENCODE, fault.reason_code, started, ended, summary
                    )
                    continue
                ended = self.clock()
                stored = self._card_row(session, card)
                stored.chip_uid = chip.chip_uid
                session.add(stored)
                self._finish(session, card, Stage.ENCODE, Outcome.OK, None, started, ended)
                chips.append((card, face, chip))
                summary.encoded += 1
        return chips

    def _check(
        self, chips: Iterable[tuple[CardData, PrintedFace, ChipRecord]], summary: RunSummary
    ) -> None:
        with session_scope(self.engine) as session:
            for card, face, chip in chips:
                started = self.clock()
                verdict = self.devices.qc.inspect(card, face, chip)
                ended = self.clock()
                stored = self._card_row(session, card)
                stored.qc_result = "passed" if verdict.passed else ",".join(verdict.reasons)[:512]
                session.add(stored)
                if self.archive is not None:
                    self.archive(card, face, verdict)
                if verdict.passed:
                    self._finish(session, card, Stage.QC, Outcome.OK, None, started, ended)
                    summary.passed += 1
                else:
                    reason = verdict.reasons[0] if verdict.reasons else "qc.reject"
                    self._fail(session, card, Stage.QC, reason, started, ended, summary)

    # --- recording ------------------------------------------------------------------------

    def _card_row(self, session: Session, card: CardData) -> Card:
        row = session.get(Card, self._card_ids[card.card_serial])
        assert row is not None
        return row

    def _finish(
        self,
        session: Session,
        card: CardData,
        stage: Stage,
        outcome: Outcome,
        reason: str | None,
        started: datetime,
        ended: datetime,
    ) -> str:
        machine = {
            Stage.PRINT: self.devices.printer.name,
            Stage.ENCODE: self.devices.encoder.name,
            Stage.QC: self.devices.qc.name,
        }.get(stage)
        route = finish_stage(
            session=session,
            card_id=self._card_ids[card.card_serial],
            stage=stage,
            outcome=outcome,
            actor=self.actor,
            machine=machine,
            started_at=started,
            ended_at=ended,
            rework_limit=self.spec.rework_limit,
            reason_code=reason,
        )
        return route.action.value

    def _fail(
        self,
        session: Session,
        card: CardData,
        stage: Stage,
        reason: str,
        started: datetime,
        ended: datetime,
        summary: RunSummary,
    ) -> None:
        action = self._finish(session, card, stage, Outcome.FAIL, reason, started, ended)
        summary.spoil(reason)
        if action == "hold":
            summary.held += 1


def _store_face(row: Card, face: PrintedFace) -> None:
    row.print_pdf = str(face.pdf)
    row.front_page = face.front_page
    row.back_page = face.back_page


def _face(card: Card) -> PrintedFace | None:
    if card.print_pdf is None or card.front_page is None or card.back_page is None:
        return None
    return PrintedFace(card.serial, Path(card.print_pdf), card.front_page, card.back_page)
