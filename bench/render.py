"""Benchmark of card face rendering: cards per second, front and back with the QR code.

    .venv/bin/python bench/render.py                  # 2,000 cards in batches of 100
    .venv/bin/python bench/render.py --cards 500 --profile

Synthetic applicants (seeded) become ``CardData`` with the validity rule of
``line.card.expiry_date``; every card has its own photo (JPEG, every fifth a PNG), made
before the clock starts, so the photo cache never helps. The process is pinned to one
core. The clock covers ``printers.face.render.render_cards`` for every batch: photo loading,
QR encoding, drawing, font subsetting and writing each batch's PDF (to memory). The
first batch of the process (font registration, OCR-B conversion) is timed apart.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from line.card import CardData

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ISSUE_DATE = date(2026, 11, 1)


def make_cards(count: int, photos: Path, seed: int) -> list[CardData]:
    from line.card import CardData, expiry_date
    from line.synthetic import people, write_photos

    rng = random.Random(seed)
    names = write_photos(rng, photos, count)
    cards = []
    for index, who in enumerate(people(rng, count, today=ISSUE_DATE, photos=names)):
        cards.append(
            CardData(
                application_id=index + 1,
                card_serial=f"C{index + 1:010d}-1",
                id_number=who.id_number,
                full_name=who.full_name,
                date_of_birth=who.date_of_birth,
                sex=who.sex,
                nationality=who.nationality,
                place_of_origin=who.place_of_origin,
                place_of_residence=who.place_of_residence,
                old_id_number=who.old_id_number or None,
                photo_path=photos / who.photo,
                issue_date=ISSUE_DATE,
                expiry_date=expiry_date(who.date_of_birth, ISSUE_DATE),
                destination=who.destination,
            )
        )
    return cards


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cards", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=100, help="cards per PDF")
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (pinned to 1), Python {platform.python_version()}, "
        f"{date.today()}"
    )
    from printers.face.render import render_cards

    with tempfile.TemporaryDirectory(prefix="cardline-bench-") as scratch:
        cards = make_cards(args.cards + args.batch, Path(scratch), args.seed)
        warmup, cards = cards[: args.batch], cards[args.batch :]
        start = time.perf_counter()
        render_cards(warmup, io.BytesIO())
        first = time.perf_counter() - start

        profiler = cProfile.Profile() if args.profile else None
        size = 0
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        for offset in range(0, len(cards), args.batch):
            out = io.BytesIO()
            render_cards(cards[offset : offset + args.batch], out)
            size += out.tell()
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - start

    print(f"first batch of {args.batch} (fonts registered, OCR-B converted): {first:.2f} s")
    print(
        f"rendered {len(cards)} cards (front + back, QR, own photo each) in batches of "
        f"{args.batch}: {elapsed:.2f} s, {len(cards) / elapsed:,.0f} cards/s, "
        f"{1000 * elapsed / len(cards):.2f} ms/card, {size / len(cards) / 1024:.1f} KiB/card"
        + ("  (under cProfile: slower)" if profiler else "")
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
