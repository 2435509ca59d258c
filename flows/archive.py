"""What QC saw of each card, kept for auditors under ``$CARDLINE_HOME/cards/``.

At QC the chip's files as read back are kept, one file per card (``<serial>.chip``: EF.COM,
DG1, DG2, DG13, DG14, DG15 and SOD one after the other; each is one BER-TLV object, so the
file splits back exactly). The printed faces stay in the print batch's PDF in the spool, whose pages
the card records. ``export`` writes the auditor's set: ``front.pdf`` and ``back.pdf`` (the
card's pages cut from the batch PDF), ``mrz.txt`` (the three lines of DG1 as read back) and
the raw ``EF.COM``, ``DG1``, ``DG2``, ``DG13``, ``DG14``, ``DG15``, ``SOD``. Everything here is
personal data: files are owner-only. Given a ``line.sealed`` sealer, the chip archive is
encrypted at rest and the batch PDF is read sealed; the export is plaintext by design (an
auditor's explicit copy, owner-only).
"""

from __future__ import annotations

import io
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pypdfium2 as pdfium

from flows.errors import FlowsError
from line.card import CardData
from line.devices import PrintedFace, QcVerdict
from line.files import private_dir, write_private
from line.sealed import CHIP_ARCHIVE, SPOOL_PDF, Sealer, read_sealed, write_sealed
from printers.chip import lds, tlv

CHIP_FILES = ("EF.COM", "DG1", "DG2", "DG13", "DG14", "DG15", "SOD")
EXPORT_FILES = ("front.pdf", "back.pdf", "mrz.txt", *CHIP_FILES)
REQUIRED_FILES = ("EF.COM", "DG1", "DG2", "DG13", "SOD")  # cards made before DG14 and DG15
_BY_TAG = {0x60: "EF.COM", 0x61: "DG1", 0x75: "DG2", 0x6D: "DG13", 0x6E: "DG14", 0x6F: "DG15"}
_BY_TAG[0x77] = "SOD"


class ArchiveError(FlowsError):
    """A card's archive is missing or incomplete."""


def split_chip_file(content: bytes) -> dict[str, bytes]:
    """The chip files of an archive, by name (each known by its tag: archives made before
    DG14 and DG15 split as well), from their concatenation."""
    files: dict[str, bytes] = {}
    offset = 0
    while offset < len(content):
        item, end = tlv.decode_one(content, offset)
        name = _BY_TAG.get(item.tag)
        if name is None or name in files:
            raise ArchiveError(f"chip archive holds an unexpected object (tag {item.tag:X})")
        files[name] = content[offset:end]
        offset = end
    return files


def _page(pdf: bytes, index: int, out: Path) -> None:
    source = pdfium.PdfDocument(pdf)
    try:
        single = pdfium.PdfDocument.new()
        single.import_pages(source, [index])
        buffer = io.BytesIO()
        single.save(buffer)
        single.close()
    finally:
        source.close()
    write_private(out, buffer.getvalue())


class CardArchive:
    """Keeps each card's chip read-back at QC (``keep``: written by a thread of its own, so
    that the disk's sync overlaps the next card's inspection; ``flush`` waits for it); exports
    an auditor's set of files."""

    def __init__(self, root: Path, *, sealer: Sealer | None = None) -> None:
        self.root = root
        self.sealer = sealer  # None: plaintext (unit tests, set-ups with no keys)
        self._writer: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    def chip_file(self, card_serial: str) -> Path:
        return self.root / f"{card_serial}.chip"

    def keep(self, card: CardData, face: PrintedFace, verdict: QcVerdict) -> None:
        if not verdict.readback:
            return  # nothing could be read from the chip: the card is spoiled with its reason
        content = b"".join(
            verdict.readback[name] for name in CHIP_FILES if name in verdict.readback
        )
        if self._writer is None:
            private_dir(self.root)
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive")
        self._pending.append(self._writer.submit(self._write, card.card_serial, content))

    def _write(self, card_serial: str, content: bytes) -> None:
        write_sealed(self.chip_file(card_serial), content, role=CHIP_ARCHIVE, sealer=self.sealer)

    def flush(self) -> None:
        """Wait until every kept archive is written (a write's error is raised here)."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def __call__(self, card: CardData, face: PrintedFace, verdict: QcVerdict) -> None:
        """Keep one card's archive now (written and synced before this returns)."""
        self.keep(card, face, verdict)
        self.flush()

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def export(self, card_serial: str, face: PrintedFace | None, out: Path) -> list[Path]:
        """Write the auditor's set of files of one card to ``out`` (made 0700 if new; the
        files 0600). ``out``'s parent must exist: no directories made along a mistyped path."""
        chip_file = self.chip_file(card_serial)
        if not chip_file.is_file() or face is None:
            raise ArchiveError(f"card {card_serial} has no archive yet: it has not been through QC")
        if not face.pdf.is_file():
            raise ArchiveError(
                f"card {card_serial}: its print batch {face.pdf} is gone from the spool"
            )
        files = split_chip_file(read_sealed(chip_file, role=CHIP_ARCHIVE, sealer=self.sealer))
        missing = [name for name in REQUIRED_FILES if name not in files]
        if missing:
            raise ArchiveError(f"card {card_serial}: archive lacks {', '.join(missing)}")
        if out.exists() and not out.is_dir():
            raise ArchiveError(f"{out} is not a directory")
        if not out.parent.is_dir():
            raise ArchiveError(f"no directory {out.parent} to export into")
        pdf = read_sealed(face.pdf, role=SPOOL_PDF, sealer=self.sealer)
        private_dir(out, tighten=False)
        _page(pdf, face.front_page, out / "front.pdf")
        _page(pdf, face.back_page, out / "back.pdf")
        write_private(out / "mrz.txt", "\n".join(lds.parse_dg1(files["DG1"])) + "\n")
        written = [name for name in CHIP_FILES if name in files]
        for name in written:
            write_private(out / name, files[name])
        return [out / name for name in ("front.pdf", "back.pdf", "mrz.txt", *written)]
