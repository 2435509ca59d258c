"""Card printer drivers behind ``line.devices.CardPrinter``, and the printer's typed faults.

- :class:`SpoolPrinter` writes each batch's print-ready PDF into a directory (atomically);
  a card printer's own software, or an operator, takes it from there.
- :class:`CupsPrinter` spools the same PDF and submits it to a CUPS queue with ``lp``.
- :class:`VirtualPrinter` wraps either one and makes the faults of a real printer happen,
  drawn from an injected ``random.Random``: jams (one card spoiled), the printer going
  offline (the batch is refused), the ribbon running out (the printer stops).

File names carry the printer name, the batch time and a sequence number, never personal
data; log lines carry counts, file names and card serials only. Given a ``line.sealed``
sealer, the spool's PDFs are encrypted at rest: rendered in memory, sealed, then written
(the plaintext never reaches the disk); a CUPS queue gets the plaintext through ``lp``'s
standard input only.
"""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor, Executor
from datetime import UTC
from pathlib import Path

from line.card import CardData
from line.devices import CardPrinter, PrintedFace, PrinterStopped, PrintJob, SpoiledCard
from line.errors import DeviceError
from line.files import private_dir
from line.logsetup import get_logger
from line.sealed import SPOOL_PDF, Sealer, read_sealed
from line.spec import StageSpec
from line.types import Clock, utc_now
from printers.errors import PrintersError
from printers.face.render import RenderedBatch, render_batch

log = get_logger(__name__)

JAM = "print.jam"
RIBBON_OUT = "print.ribbon_out"
OFFLINE = "print.offline"


class PrinterFault(PrintersError, DeviceError):
    """A printer could not do its work; ``reason_code`` is one of ``print.*``."""


class PrinterJam(PrinterFault):
    """A card jammed and is spoiled (``print.jam``); the printer carries on."""

    def __init__(self, message: str, *, device: str, card_serial: str) -> None:
        super().__init__(message, device=device, reason_code=JAM, card_serial=card_serial)


class RibbonOut(PrinterFault, PrinterStopped):
    """The ribbon is used up (``print.ribbon_out``): the printer stops until it is replaced.

    ``job`` holds what the printer did before it stopped (cards printed and spoiled), or
    ``None`` when it did nothing; the other cards of the batch stay at print.
    """

    def __init__(self, message: str, *, device: str, job: PrintJob | None) -> None:
        super().__init__(message, device=device, reason_code=RIBBON_OUT)
        self.job = job


class PrinterOffline(PrinterFault):
    """The printer cannot be reached or refuses jobs (``print.offline``): nothing printed."""

    def __init__(
        self,
        message: str,
        *,
        device: str,
        queue: str | None = None,
        lp_status: int | None = None,
    ) -> None:
        super().__init__(
            message, device=device, reason_code=OFFLINE, queue=queue, lp_status=lp_status
        )
        self.queue = queue
        self.lp_status = lp_status


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def render_to_file(cards: list[CardData], path: str) -> RenderedBatch:
    """Render ``cards`` into the PDF at ``path`` and flush it to disk (a process pool's job).
    Cards whose data cannot be printed are refused alone (``RenderedBatch.refused``)."""
    done = render_batch(cards, Path(path))
    if done.pages:
        with open(path, "rb+") as out:
            os.fsync(out.fileno())
    return done


def render_to_memory(cards: list[CardData]) -> tuple[RenderedBatch, bytes]:
    """Render ``cards`` into a PDF in memory (a process pool's job): for a spool whose
    files are sealed, so that no plaintext PDF is ever written."""
    buffer = io.BytesIO()
    done = render_batch(cards, buffer)
    return done, buffer.getvalue() if done.pages else b""


def _safe(name: str) -> str:
    return _SAFE_NAME.sub("-", name).strip("-.") or "printer"


class SpoolPrinter:
    """Writes each batch as one PDF in ``directory``: ``<name>-<UTC time>-<sequence>.pdf``.

    The PDF is written to a hidden temporary file in the same directory, flushed to disk,
    then published under its final name with a hard link, which never overwrites: a
    reader of the directory sees whole files only. Files are readable by their owner only
    (mode 0600: they hold personal data). Sequence numbers continue from the files
    already there.
    """

    def __init__(
        self,
        directory: Path,
        name: str = "spool",
        *,
        clock: Clock | None = None,
        render_in: Executor | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.name = name
        self.sealer = sealer  # None: plaintext PDFs (unit tests, set-ups with no keys)
        # Rendering is CPU work: a process pool lets it run on another core than the
        # encoder and QC (``line.controller`` drives the printer beside them).
        self.render_in = render_in
        self._clock: Clock = clock or utc_now
        private_dir(self.directory)  # 0700: the batches hold personal data
        self._prefix = _safe(name)
        self._sequence = self._last_sequence()

    def _last_sequence(self) -> int:
        pattern = re.compile(rf"{re.escape(self._prefix)}-\d{{8}}T\d{{6}}Z-(\d+)\.pdf")
        numbers = [
            int(match.group(1))
            for entry in self.directory.iterdir()
            if (match := pattern.fullmatch(entry.name))
        ]
        return max(numbers, default=0)

    def spool(self, cards: Sequence[CardData]) -> PrintJob:
        """Render ``cards`` into a new PDF of the spool directory; the job lists every card."""
        if not cards:
            return PrintJob(pdf=None, printed=())
        handle, temporary = tempfile.mkstemp(prefix=".batch-", suffix=".part", dir=self.directory)
        os.close(handle)
        try:
            if self.sealer is None:
                done = self._render(list(cards), temporary)
                path = self._publish(Path(temporary)) if done.pages else None
            else:
                done, pdf = self._render_sealed(list(cards))
                path = self._publish(Path(temporary), pdf=pdf) if done.pages else None
        finally:
            Path(temporary).unlink(missing_ok=True)
        for refusal in done.refused:
            log.warning(
                "print.refused",
                printer=self.name,
                card_serial=refusal.card_serial,
                reason_code=refusal.reason_code,
                why=refusal.message,
            )
        spoiled = tuple(SpoiledCard(r.card_serial, r.reason_code) for r in done.refused)
        if path is None:
            return PrintJob(pdf=None, printed=(), spoiled=spoiled)
        printed = tuple(
            PrintedFace(serial, path, front, back) for serial, front, back in done.pages
        )
        log.info("print.spooled", printer=self.name, cards=len(printed), file=path.name)
        return PrintJob(pdf=path, printed=printed, spoiled=spoiled)

    def _render(self, cards: list[CardData], temporary: str) -> RenderedBatch:
        """Render in the helper process; if that process died (the pool is broken, and
        stays broken), say so and render here from now on: the line goes on."""
        if self.render_in is not None:
            try:
                return self.render_in.submit(render_to_file, cards, temporary).result()
            except BrokenExecutor as exc:
                log.error(
                    "print.render_helper_lost",
                    printer=self.name,
                    error=type(exc).__name__,
                    action="rendering in the line's own process from now on",
                )
                self.render_in = None
        return render_to_file(cards, temporary)

    def _render_sealed(self, cards: list[CardData]) -> tuple[RenderedBatch, bytes]:
        """``_render``, into memory (the helper process sends the PDF back)."""
        if self.render_in is not None:
            try:
                return self.render_in.submit(render_to_memory, cards).result()
            except BrokenExecutor as exc:
                log.error(
                    "print.render_helper_lost",
                    printer=self.name,
                    error=type(exc).__name__,
                    action="rendering in the line's own process from now on",
                )
                self.render_in = None
        return render_to_memory(cards)

    def read(self, pdf: Path) -> bytes:
        """A spooled PDF's plaintext (decrypted if the spool is sealed)."""
        return read_sealed(pdf, role=SPOOL_PDF, sealer=self.sealer)

    def _publish(self, temporary: Path, *, pdf: bytes | None = None) -> Path:
        """Publish ``temporary`` under the next free name; with ``pdf``, ``temporary`` is
        first (re)written with ``pdf`` sealed for that name (the name is in its associated
        data: a sealed batch renamed does not open)."""
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        while True:
            self._sequence += 1
            path = self.directory / f"{self._prefix}-{stamp}-{self._sequence:06d}.pdf"
            if pdf is not None and self.sealer is not None:
                sealed = self.sealer.seal(pdf, role=SPOOL_PDF, name=path.name)
                with open(temporary, "wb") as handle:  # mkstemp made it 0600
                    handle.write(sealed)
                    handle.flush()
                    os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                continue
            directory = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(directory)  # the new name survives a crash too
            finally:
                os.close(directory)
            return path

    def print_cards(self, cards: Sequence[CardData]) -> PrintJob:
        return self.spool(cards)


class CupsPrinter:
    """Spools the batch PDF (see :class:`SpoolPrinter`) and submits it with ``lp -d QUEUE``.

    ``server`` (``host[:port]``) is passed as ``lp -h``; without it ``lp`` uses the
    client's default server. Any refusal by ``lp`` (unknown queue, queue not accepting
    jobs, server unreachable) raises :class:`PrinterOffline`, with ``lp``'s message, and
    the spooled PDF is removed. ``last_request`` keeps the CUPS request id of the last job.
    """

    def __init__(
        self,
        queue: str,
        spool_dir: Path,
        lp_command: str = "lp",
        server: str | None = None,
        *,
        name: str | None = None,
        timeout: float = 60.0,
        clock: Clock | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.queue = queue
        self.server = server
        self.lp_command = lp_command
        self.name = name or f"cups:{queue}"
        self.timeout = timeout
        self._spool = SpoolPrinter(
            spool_dir, name=_safe(f"cups-{queue}"), clock=clock, sealer=sealer
        )
        self.last_request: str | None = None

    def _command(self, pdf: Path) -> list[str]:
        """``lp`` for ``pdf``: the file named, or (sealed spool) read from standard input."""
        command = [self.lp_command]
        if self.server:
            command += ["-h", self.server]
        command += ["-d", self.queue, "-t", pdf.stem]
        return command if self._spool.sealer is not None else [*command, "--", str(pdf)]

    def print_cards(self, cards: Sequence[CardData]) -> PrintJob:
        job = self._spool.spool(cards)
        if job.pdf is None:
            return job
        try:
            plaintext = self._spool.read(job.pdf) if self._spool.sealer is not None else None
            result = subprocess.run(
                self._command(job.pdf),
                input=plaintext,  # the plaintext only in the pipe
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            job.pdf.unlink(missing_ok=True)
            raise PrinterOffline(
                f"{self.name}: cannot run {self.lp_command!r}: {exc}",
                device=self.name,
                queue=self.queue,
            ) from exc
        stdout = result.stdout.decode("utf-8", "replace")
        if result.returncode != 0:
            job.pdf.unlink(missing_ok=True)
            stderr = result.stderr.decode("utf-8", "replace")
            message = (stderr or stdout).strip() or f"exit status {result.returncode}"
            raise PrinterOffline(
                f"{self.name}: queue {self.queue!r} refused the job: {message}",
                device=self.name,
                queue=self.queue,
                lp_status=result.returncode,
            )
        match = re.search(r"request id is (\S+)", stdout)
        self.last_request = match.group(1) if match else None
        log.info(
            "print.submitted",
            printer=self.name,
            cards=len(job.printed),
            file=job.pdf.name,
            request=self.last_request,
        )
        return job


class VirtualPrinter:
    """A printer that jams, goes offline and runs out of ribbon, reproducibly for a seed.

    Per batch: with probability ``offline_rate`` the batch is refused with
    :class:`PrinterOffline` before anything is printed. Then card by card: a card needs a
    ribbon panel (a jammed card has used one too); with none left the printer stops with
    :class:`RibbonOut`, whose ``job`` holds the cards handled so far, and keeps raising
    it until :meth:`replace_ribbon`. Otherwise the card jams with probability
    ``jam_rate``: it is listed in ``PrintJob.spoiled`` with ``print.jam`` and left out of
    the PDF. The good cards go to ``inner`` (a spool or CUPS printer) as one batch.

    The random draws are one per batch (offline), then one per card handled (jam), so a
    seed gives the same faults whatever ``inner`` does.
    """

    def __init__(
        self,
        inner: CardPrinter,
        rng: random.Random,
        jam_rate: float,
        offline_rate: float = 0.0,
        ribbon_capacity: int | None = None,
        *,
        name: str | None = None,
    ) -> None:
        for label, rate in (("jam_rate", jam_rate), ("offline_rate", offline_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{label} must be within [0, 1], got {rate}")
        if ribbon_capacity is not None and ribbon_capacity < 1:
            raise ValueError(f"ribbon_capacity must be at least 1, got {ribbon_capacity}")
        self.inner = inner
        self.rng = rng
        self.jam_rate = jam_rate
        self.offline_rate = offline_rate
        self.ribbon_capacity = ribbon_capacity
        self.ribbon_left = ribbon_capacity
        self.name = name or inner.name

    @classmethod
    def from_spec(
        cls,
        spec: StageSpec,
        inner: CardPrinter,
        rng: random.Random,
        *,
        ribbon_capacity: int | None = None,
        name: str | None = None,
    ) -> VirtualPrinter:
        """A printer with the print stage's rates: ``failure_rate`` jams, ``1 - availability``
        of batches refused offline."""
        return cls(
            inner,
            rng,
            jam_rate=spec.failure_rate,
            offline_rate=1.0 - spec.availability,
            ribbon_capacity=ribbon_capacity,
            name=name,
        )

    def replace_ribbon(self) -> None:
        """Fit a new ribbon of ``ribbon_capacity`` panels."""
        self.ribbon_left = self.ribbon_capacity
        log.info("print.ribbon_replaced", printer=self.name)

    def print_cards(self, cards: Sequence[CardData]) -> PrintJob:
        if self.ribbon_left == 0:
            raise RibbonOut(f"{self.name}: ribbon out", device=self.name, job=None)
        if self.rng.random() < self.offline_rate:
            raise PrinterOffline(f"{self.name}: printer offline", device=self.name)
        good: list[CardData] = []
        spoiled: list[SpoiledCard] = []
        stopped = False
        for card in cards:
            if self.ribbon_left is not None:
                if self.ribbon_left == 0:
                    stopped = True
                    break
                self.ribbon_left -= 1
            if self.rng.random() < self.jam_rate:
                spoiled.append(SpoiledCard(card.card_serial, JAM))
                log.info("print.jam", printer=self.name, card_serial=card.card_serial)
            else:
                good.append(card)
        done = self.inner.print_cards(good) if good else PrintJob(pdf=None, printed=())
        job = PrintJob(pdf=done.pdf, printed=done.printed, spoiled=done.spoiled + tuple(spoiled))
        if stopped:
            log.warning("print.ribbon_out", printer=self.name, handled=len(good) + len(spoiled))
            raise RibbonOut(
                f"{self.name}: ribbon ran out after {len(good) + len(spoiled)} of "
                f"{len(cards)} cards",
                device=self.name,
                job=job if (job.printed or job.spoiled) else None,
            )
        return job
