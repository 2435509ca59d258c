"""Helpers the tests of the line share: digits in other scripts, image files (pixel bombs
among them), intake runs and their reject reports, a clock of fixed instants, scripted
devices, and another run that takes the station's machines mid-print."""

from __future__ import annotations

import csv
import io
import struct
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import select

from line.card import CardData
from line.db import session_scope
from line.devices import (
    CardPrinter,
    ChipRecord,
    InspectsOneByOne,
    PrintedFace,
    PrintJob,
    QcVerdict,
    SpoiledCard,
)
from line.errors import DeviceError
from line.intake import IntakeSummary, import_file
from line.leases import LEASE_TTL, Worker, take
from line.models import Application
from line.types import utc_now
from tests.conftest import TODAY, StepClock

# --- digits ---------------------------------------------------------------------------------

# The zero of every decimal digit set Unicode has besides ASCII (Arabic-Indic, full-width,
# Devanagari, Thai, mathematical bold...): each set's digits follow its zero.
NON_ASCII_ZEROS: tuple[int, ...] = tuple(
    code
    for code in range(0x80, 0x110000)
    if unicodedata.category(chr(code)) == "Nd" and unicodedata.digit(chr(code)) == 0
)
zeros = st.sampled_from(NON_ASCII_ZEROS)


def in_script(text: str, zero: int, positions: set[int] | None = None) -> str:
    """``text`` with its ASCII digits (those at ``positions``, or all) in another script."""
    return "".join(
        chr(zero + int(char)) if char.isascii() and char.isdigit() and (
            positions is None or index in positions
        ) else char
        for index, char in enumerate(text)
    )  # fmt: skip


# --- images ---------------------------------------------------------------------------------


def image_bytes(
    width: int, height: int, fmt: str = "PNG", *, orientation: int | None = None
) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (width, height), (200, 180, 160))
    if orientation is None:
        image.save(out, format=fmt)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(out, format=fmt, exif=exif.tobytes())
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that says it is ``width`` x ``height`` and holds no pixels at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b"")


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A real, decodable PNG of ``width`` x ``height`` pixels (1-bit grey: 50 MB of rows to
    compress, not 1.2 GB), a few tens of KB on disk, like the issue's 20000 x 20000."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter 0, white pixels
    packer = zlib.compressobj(6)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
    )


# --- intake ---------------------------------------------------------------------------------


def run(engine: Engine, path: Path, clock: StepClock, **kwargs: Any) -> IntakeSummary:
    return import_file(
        engine=engine,
        path=path,
        today=TODAY,
        clock=clock,
        rejects_dir=path.parent / "rejects",
        **kwargs,
    )


def report(summary: IntakeSummary) -> list[tuple[int, str, str]]:
    with open(summary.reject_report, encoding="utf-8", newline="") as handle:
        return [(int(r["row"]), r["field"], r["reason_code"]) for r in csv.DictReader(handle)]


def applications(engine: Engine) -> list[Application]:
    with session_scope(engine) as session:
        return list(session.exec(select(Application).order_by(Application.id)))


# --- time -----------------------------------------------------------------------------------

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- scripted devices -----------------------------------------------------------------------


@dataclass
class ScriptedPrinter:
    """Spoils the cards named in ``jam``; goes offline ``offline`` times first."""

    jam: set[str] = field(default_factory=set)
    offline: int = 0
    name: str = "print-01"

    def print_cards(self, cards: Sequence[CardData]) -> PrintJob:
        if self.offline:
            self.offline -= 1
            raise DeviceError("offline", device=self.name, reason_code="print.offline")
        printed = tuple(
            PrintedFace(c.card_serial, Path("/spool/batch.pdf"), 2 * i, 2 * i + 1)
            for i, c in enumerate(cards)
            if c.card_serial not in self.jam
        )
        spoiled = tuple(
            SpoiledCard(c.card_serial, "print.jam") for c in cards if c.card_serial in self.jam
        )
        return PrintJob(Path("/spool/batch.pdf"), printed, spoiled)


@dataclass
class ScriptedQc(InspectsOneByOne):
    reject: set[str] = field(default_factory=set)
    name: str = "qc-01"
    seen: list[str] = field(default_factory=list)

    def inspect(self, card: CardData, face: PrintedFace, chip: ChipRecord) -> QcVerdict:
        self.seen.append(card.card_serial)
        if card.card_serial in self.reject:
            return QcVerdict(card.card_serial, False, ("qc.sod.signature",), chip.chip_uid)
        return QcVerdict(card.card_serial, True, (), chip.chip_uid)


# --- another run takes the machines ---------------------------------------------------------

STATION = ["print-01", "encode-01", "qc-01"]
THIEF = "cardline-run@HN1/host2:4242"


@dataclass
class TakenDuringPrint:
    """The station's printer, during whose first job another run takes the machines (as if
    this run had stalled past its lease)."""

    real: CardPrinter
    url: str
    name: str = ""
    taken: bool = False

    def __post_init__(self) -> None:
        self.name = self.real.name

    def print_cards(self, cards: Sequence[CardData]) -> PrintJob:
        if not self.taken:
            self.taken = True
            from line.db import make_engine

            other = make_engine(self.url)
            try:
                take(
                    engine=other, machines=STATION, holder=THIEF, worker=Worker("host2", 4242, None),
                    clock=lambda: utc_now() + LEASE_TTL + timedelta(seconds=1),
                )  # fmt: skip
            finally:
                other.dispose()
        return self.real.print_cards(cards)
