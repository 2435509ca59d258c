"""Printer drivers: the spool directory, the virtual printer's faults, a real CUPS queue.

**What this module starts.** The ``cups`` fixture (session-scoped) runs a private CUPS
scheduler: ``cupsd -f -c <tmp>/conf/cupsd.conf -s <tmp>/conf/cups-files.conf``, listening
on 127.0.0.1 on a free port only, with its own spool, cache, state, log and printcap
under a temporary directory made with ``tempfile.mkdtemp`` (mode 0755: cupsd runs its
filters as user ``lp``); the system's cupsd, if any, is not touched. It adds one
queue with ``lpadmin -v cups-pdf:/<queue> -P .../CUPS-PDF_opt.ppd`` (Debian
``printer-driver-cups-pdf``). The cups-pdf backend reads its settings from
``/etc/cups/cups-pdf-<queue>.conf`` (a path compiled into it), so the fixture writes that
file, pointing ``Out``, ``AnonDirName`` and ``Log`` at the temporary directory, and deletes it
afterwards. At the end
it stops cupsd (SIGTERM, then SIGKILL after 10 s) and removes everything it wrote.

It needs ``cups``, ``printer-driver-cups-pdf``, ``ghostscript`` and root (a cupsd not
run as root cannot run the cups-pdf backend): without root the CUPS tests are skipped,
with the reason; a missing package fails them.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from line.card import CardData
from line.devices import PrintedFace, PrintJob
from line.errors import DeviceError
from line.sealed import MAGIC, SealedFileError, Sealer
from line.spec import default_spec
from line.types import Stage
from printers.face.printing import (
    CupsPrinter,
    PrinterFault,
    PrinterJam,
    PrinterOffline,
    RibbonOut,
    SpoolPrinter,
    VirtualPrinter,
)
from tests.conftest import StepClock
from tests.factories import card_for, photo_file

CUPS_PDF_PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")


@pytest.fixture
def cards(tmp_path: Path) -> list[CardData]:
    photo = photo_file(tmp_path / "photos")
    return [card_for(seed, photo) for seed in range(1, 6)]


def clock() -> StepClock:
    return StepClock(datetime(2026, 11, 1, 8, 0, tzinfo=UTC))


def page_count(pdf: Path) -> int:
    document = pdfium.PdfDocument(pdf)
    try:
        return len(document)
    finally:
        document.close()


# -- spool --------------------------------------------------------------------------------


def test_spool_printer_publishes_one_whole_pdf_per_batch(
    tmp_path: Path, cards: list[CardData]
) -> None:
    spool = tmp_path / "spool"
    printer = SpoolPrinter(spool, name="print-01", clock=clock())
    job = printer.print_cards(cards)
    assert job.pdf is not None and job.pdf.parent == spool
    assert job.pdf.name == "print-01-20261101T080001Z-000001.pdf"
    assert sorted(p.name for p in spool.iterdir()) == [job.pdf.name]  # no temporary left
    assert page_count(job.pdf) == 2 * len(cards)
    assert job.pdf.stat().st_mode & 0o777 == 0o600  # personal data: owner only
    assert job.printed == tuple(
        PrintedFace(card.card_serial, job.pdf, 2 * i, 2 * i + 1) for i, card in enumerate(cards)
    )
    assert job.spoiled == ()
    for card in cards:  # no personal data in the file name
        assert card.id_number not in job.pdf.name
        assert card.full_name.split()[0] not in job.pdf.name


def test_a_sealed_spool_never_writes_the_plaintext_pdf(
    tmp_path: Path, cards: list[CardData]
) -> None:
    """With a sealer the batch is rendered in memory and only its sealed form is written;
    the spool reads it back whole, and a sealed batch renamed (another batch's name) does
    not open."""
    spool = tmp_path / "spool"
    printer = SpoolPrinter(spool, name="print-01", clock=clock(), sealer=new_sealer())
    job = printer.print_cards(cards[:2])
    assert job.pdf is not None and sorted(p.name for p in spool.iterdir()) == [job.pdf.name]
    blob = job.pdf.read_bytes()
    assert blob.startswith(MAGIC) and b"%PDF" not in blob
    assert not [c for c in cards[:2] if c.id_number.encode() in blob]
    assert job.pdf.stat().st_mode & 0o777 == 0o600
    plaintext = printer.read(job.pdf)
    assert plaintext.startswith(b"%PDF") and len(pdfium.PdfDocument(plaintext)) == 4
    moved = job.pdf.with_name("print-01-20261101T080001Z-000002.pdf")
    job.pdf.rename(moved)
    with pytest.raises(SealedFileError, match="authentication failed"):
        printer.read(moved)


def new_sealer() -> Sealer:
    return Sealer(key_id=os.urandom(16), key=os.urandom(32))


def test_spool_sequence_continues_and_never_overwrites(
    tmp_path: Path, cards: list[CardData]
) -> None:
    spool = tmp_path / "spool"
    frozen = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    first = SpoolPrinter(spool, name="print-01", clock=lambda: frozen)
    a = first.print_cards(cards[:1]).pdf
    b = first.print_cards(cards[1:2]).pdf
    again = SpoolPrinter(spool, name="print-01", clock=lambda: frozen)  # after a restart
    c = again.print_cards(cards[2:3]).pdf
    assert a and b and c
    assert [p.name[-10:] for p in (a, b, c)] == ["000001.pdf", "000002.pdf", "000003.pdf"]
    assert len(set(spool.iterdir())) == 3


def test_a_card_that_cannot_render_is_refused_alone_and_leaves_nothing_half_written(
    tmp_path: Path, cards: list[CardData]
) -> None:
    """(It used to fail the whole batch: one bad card now fails alone.)"""
    spool = tmp_path / "spool"
    broken = dataclasses.replace(cards[2], photo_path=tmp_path / "missing.jpg")
    printer = SpoolPrinter(spool, name="print-01", clock=clock())
    job = printer.print_cards([*cards[:2], broken])
    assert [face.card_serial for face in job.printed] == [c.card_serial for c in cards[:2]]
    assert job.spoiled == ((broken.card_serial, "print.photo_not_found"),)
    assert [p.name for p in spool.iterdir()] == [job.pdf.name if job.pdf else ""]
    alone = printer.print_cards([broken])
    assert (alone.pdf, alone.printed) == (None, ())
    assert len(list(spool.iterdir())) == 1  # no PDF, no temporary file left for the refusal
    assert printer.print_cards([]) == PrintJob(pdf=None, printed=())


# -- virtual printer ----------------------------------------------------------------------


@dataclass
class Tray:
    """A printer that renders nothing: it lists what it was given (for the statistics)."""

    name: str = "tray"

    def print_cards(self, cards: Sequence[CardData]) -> PrintJob:
        faces = tuple(PrintedFace(c.card_serial, Path("tray.pdf"), 0, 1) for c in cards)
        return PrintJob(pdf=Path("tray.pdf"), printed=faces)


def many_cards(count: int) -> list[CardData]:
    template = card_for(1, Path("unused.jpg"))
    return [dataclasses.replace(template, card_serial=f"C{i:010d}-1") for i in range(count)]


def run_batches(printer: VirtualPrinter, batches: int, size: int) -> list[object]:
    """Per batch: the serials jammed, or the reason code of the fault that stopped it."""
    outcome: list[object] = []
    for _ in range(batches):
        try:
            job = printer.print_cards(many_cards(size))
            outcome.append([serial for serial, _ in job.spoiled])
        except PrinterFault as fault:
            outcome.append(fault.reason_code)
    return outcome


def test_virtual_faults_are_the_same_for_the_same_seed() -> None:
    def printer(seed: int) -> VirtualPrinter:
        return VirtualPrinter(Tray(), random.Random(seed), jam_rate=0.05, offline_rate=0.1)

    first = run_batches(printer(7), 40, 25)
    assert first == run_batches(printer(7), 40, 25)
    assert first != run_batches(printer(8), 40, 25)
    assert "print.offline" in first and any(isinstance(o, list) and o for o in first)


def test_virtual_fault_rates_match_the_configuration() -> None:
    jam_rate, offline_rate = 0.03, 0.08
    printer = VirtualPrinter(Tray(), random.Random(2021), jam_rate, offline_rate)
    batches, size = 2_000, 20
    offline = jammed = handled = 0
    for _ in range(batches):
        try:
            job = printer.print_cards(many_cards(size))
        except PrinterOffline:
            offline += 1
            continue
        handled += size
        jammed += len(job.spoiled)
        assert {reason for _, reason in job.spoiled} <= {"print.jam"}
        assert len(job.printed) + len(job.spoiled) == size
    # Binomial counts: within 5 standard deviations (a false alarm about once in 3 million).
    assert abs(offline - batches * offline_rate) < 5 * (batches * offline_rate * 0.92) ** 0.5
    assert abs(jammed - handled * jam_rate) < 5 * (handled * jam_rate * 0.97) ** 0.5


def test_jammed_cards_are_spoiled_and_left_out_of_the_pdf(
    tmp_path: Path, cards: list[CardData]
) -> None:
    printer = VirtualPrinter(SpoolPrinter(tmp_path, name="p", clock=clock()), random.Random(3), 0.4)
    job = printer.print_cards(cards)
    assert job.spoiled and job.printed  # seed 3 jams some, not all
    assert {s for s, _ in job.spoiled} | {f.card_serial for f in job.printed} == {
        c.card_serial for c in cards
    }
    assert {s for s, _ in job.spoiled}.isdisjoint(f.card_serial for f in job.printed)
    assert job.pdf is not None and page_count(job.pdf) == 2 * len(job.printed)


def test_ribbon_runs_out_after_its_capacity_until_replaced() -> None:
    printer = VirtualPrinter(Tray(), random.Random(1), jam_rate=0.0, ribbon_capacity=5)
    assert len(printer.print_cards(many_cards(3)).printed) == 3
    with pytest.raises(RibbonOut) as caught:
        printer.print_cards(many_cards(3))
    assert caught.value.reason_code == "print.ribbon_out"
    assert caught.value.job is not None and len(caught.value.job.printed) == 2
    with pytest.raises(RibbonOut) as caught:
        printer.print_cards(many_cards(1))
    assert caught.value.job is None  # nothing printed: the whole batch stays at print
    printer.replace_ribbon()
    assert len(printer.print_cards(many_cards(5)).printed) == 5


def test_virtual_printer_from_the_print_stage_spec() -> None:
    stage = default_spec().stage(Stage.PRINT)
    printer = VirtualPrinter.from_spec(stage, Tray(), random.Random(1))
    assert printer.jam_rate == stage.failure_rate
    assert printer.offline_rate == pytest.approx(1 - stage.availability)
    with pytest.raises(ValueError):
        VirtualPrinter(Tray(), random.Random(1), jam_rate=1.5)


# -- CUPS ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cups:
    server: str  # host:port for lp -h
    queue: str
    out: Path  # where cups-pdf writes the PDFs


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture(scope="session")
def cups() -> Iterator[Cups]:
    if os.geteuid() != 0:
        pytest.skip("the cups-pdf backend runs only under a cupsd started as root")
    missing = [
        tool for tool in ("cupsd", "lpadmin", "lp", "lpstat", "gs") if not shutil.which(tool)
    ]
    if missing or not CUPS_PDF_PPD.exists():
        pytest.fail(
            f"CUPS test needs cups, printer-driver-cups-pdf and ghostscript (missing: "
            f"{', '.join(missing) or CUPS_PDF_PPD})",
            pytrace=False,
        )
    # Not under pytest's tmp tree (mode 0700): cupsd runs its filters as user lp.
    base = Path(tempfile.mkdtemp(prefix="cardline-cups-"))
    base.chmod(0o755)
    conf, out = base / "conf", base / "out"
    for directory in (
        conf,
        out,
        base / "spool" / "tmp",
        base / "cache",
        base / "state",
        base / "log",
    ):
        directory.mkdir(parents=True)
    out.chmod(0o1777)
    port = _free_port()
    queue = f"cardline-test-{os.getpid()}"
    (conf / "cupsd.conf").write_text(
        f"Listen 127.0.0.1:{port}\nBrowsing No\nWebInterface No\nLogLevel info\n"
        "DefaultAuthType None\n<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
        "<Location /admin>\n  Order allow,deny\n  Allow all\n</Location>\n"
        "<Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n"
    )
    (conf / "cups-files.conf").write_text(
        f"ServerRoot {conf}\nRequestRoot {base}/spool\nTempDir {base}/spool/tmp\n"
        f"CacheDir {base}/cache\nStateDir {base}/state\nErrorLog {base}/log/error_log\n"
        f"AccessLog {base}/log/access_log\nPageLog {base}/log/page_log\n"
        f"Printcap {base}/printcap\nSystemGroup root\nUser lp\nGroup lp\n"
    )
    backend_conf = Path(f"/etc/cups/cups-pdf-{queue}.conf")
    backend_conf.write_text(f"Out {out}\nAnonDirName {out}\nLog {base}/log\n")
    daemon = subprocess.Popen(
        ["cupsd", "-f", "-c", str(conf / "cupsd.conf"), "-s", str(conf / "cups-files.conf")],
        stdout=subprocess.DEVNULL,
        stderr=(base / "log" / "stderr").open("w"),
    )
    server = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while _run("lpstat", "-h", server, "-r").stdout.strip() != "scheduler is running":
            if daemon.poll() is not None or time.monotonic() > deadline:
                log = (base / "log" / "stderr").read_text()
                pytest.fail(f"private cupsd did not start: {log}", pytrace=False)
            time.sleep(0.1)
        added = _run(
            "lpadmin", "-h", server, "-p", queue, "-E",
            "-v", f"cups-pdf:/{queue}", "-P", str(CUPS_PDF_PPD),
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        yield Cups(server=server, queue=queue, out=out)
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        backend_conf.unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)


def _wait_for_output(cups: Cups, timeout: float = 90) -> list[Path]:
    """The PDFs cups-pdf wrote, once the queue has no job left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = _run("lpstat", "-h", cups.server, "-o", cups.queue).stdout.strip()
        done = sorted(cups.out.glob("*.pdf"))
        if not pending and done:
            return done
        time.sleep(0.2)
    raise AssertionError(f"no PDF from cups-pdf in {cups.out} after {timeout} s")


def test_cups_printer_submits_the_batch_to_a_real_queue(
    cups: Cups, tmp_path: Path, cards: list[CardData]
) -> None:
    for old in cups.out.glob("*.pdf"):
        old.unlink()
    printer = CupsPrinter(cups.queue, tmp_path / "spool", server=cups.server, clock=clock())
    job = printer.print_cards(cards[:3])
    assert job.pdf is not None and job.pdf.exists()
    assert printer.last_request and re.fullmatch(rf"{cups.queue}-\d+", printer.last_request)
    assert [f.card_serial for f in job.printed] == [c.card_serial for c in cards[:3]]
    (arrived,) = _wait_for_output(cups)
    assert page_count(arrived) == 6  # front and back of three cards


def test_a_sealed_spool_gives_the_queue_the_plaintext_through_the_pipe(
    cups: Cups, tmp_path: Path, cards: list[CardData]
) -> None:
    for old in cups.out.glob("*.pdf"):
        old.unlink()
    printer = CupsPrinter(
        cups.queue, tmp_path / "spool", server=cups.server, clock=clock(), sealer=new_sealer()
    )
    job = printer.print_cards(cards[:2])
    assert job.pdf is not None and job.pdf.read_bytes().startswith(MAGIC)
    (arrived,) = _wait_for_output(cups)
    assert page_count(arrived) == 4  # lp read the plaintext from its standard input


def test_a_nonexistent_queue_is_a_printer_offline_fault(
    cups: Cups, tmp_path: Path, cards: list[CardData]
) -> None:
    spool = tmp_path / "spool"
    printer = CupsPrinter("no-such-queue", spool, server=cups.server)
    with pytest.raises(PrinterOffline) as caught:
        printer.print_cards(cards[:1])
    assert caught.value.reason_code == "print.offline"
    assert "no-such-queue" in str(caught.value) and "does not exist" in str(caught.value)
    assert list(spool.iterdir()) == []  # the refused PDF is not left behind


def test_a_queue_refusing_jobs_is_offline(
    cups: Cups, tmp_path: Path, cards: list[CardData]
) -> None:
    assert _run("cupsreject", "-h", cups.server, cups.queue).returncode == 0
    try:
        with pytest.raises(PrinterOffline, match="not accepting jobs"):
            CupsPrinter(cups.queue, tmp_path, server=cups.server).print_cards(cards[:1])
    finally:
        assert _run("cupsaccept", "-h", cups.server, cups.queue).returncode == 0


def test_no_lp_command_is_offline(tmp_path: Path, cards: list[CardData]) -> None:
    printer = CupsPrinter("any", tmp_path, lp_command=str(tmp_path / "no-lp"))
    with pytest.raises(PrinterOffline, match="cannot run"):
        printer.print_cards(cards[:1])


def test_printer_faults_are_device_errors_with_reason_codes() -> None:
    jam = PrinterJam("card jammed", device="print-01", card_serial="C0000000001-1")
    ribbon = RibbonOut("ribbon out", device="print-01", job=None)
    offline = PrinterOffline("offline", device="print-01", queue="q")
    assert all(
        isinstance(f, DeviceError) and isinstance(f, PrinterFault) for f in (jam, ribbon, offline)
    )
    assert [f.reason_code for f in (jam, ribbon, offline)] == [
        "print.jam",
        "print.ribbon_out",
        "print.offline",
    ]
    assert jam.card_serial == "C0000000001-1" and ribbon.card_serial is None
    assert offline.fields["queue"] == "q" and str(offline) == "offline"
