"""Benchmark of the line: cards per second through print + chip-encode + QC with the virtual
devices in process, and the per-card time of chip personalisation over PC/SC (pcscd + vpcd).

    .venv/bin/python bench/line.py                    # 1,000 cards in process, 30 over PC/SC
    .venv/bin/python bench/line.py --cards 200 --pcsc-cards 10

In process: a fresh SQLite database and home under bench/out/, synthetic applications
imported first (not timed), test keys; then the controller runs every card through the
virtual printer (spooled PDFs, jams and offline batches at the spec's rates), the encoder
(LDS, SOD signed, written to a virtual chip and locked) and QC (every chip file read back
and verified against the CSCA, face text checked, 5 % of QR codes rasterised and decoded),
with the archive of every card written. The time covers all of it, database included.

Over PC/SC: pcscd (started here if none runs) with the vsmartcard-vpcd reader and the
emulator in this process; each card's chip is inserted in the reader, then the encoder
personalises it through pyscard. Reported: the whole encode (insertion included) and the
APDU exchange alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out" / "line"
TODAY = date(2026, 11, 1)


def prepare(cards: int) -> tuple[object, object, object]:
    from line.db import make_engine
    from line.intake import import_file
    from line.settings import Settings
    from line.synthetic import people, write_csv, write_photos
    from printers.keys import init_test_keys
    from schema import upgrade

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    rng = random.Random(7)
    photos = [f"photos/{n}" for n in write_photos(rng, OUT / "in" / "photos", 200)]
    path = OUT / "in" / "applications.csv"
    write_csv(path, (p.row() for p in people(rng, cards, today=TODAY, photos=photos)))
    settings = Settings(home=OUT / "home", db_url=f"sqlite:///{OUT / 'line.db'}")
    settings.ensure_home()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    import_file(
        engine=engine, path=path, today=TODAY, clock=lambda: datetime.now(UTC), rejects_dir=OUT
    )
    init_test_keys(settings.keys_path, now=datetime.now(UTC))
    from inventory.ledger import receive
    from line.db import session_scope

    with session_scope(engine) as session:  # enough chips for every card and its rework
        receive(
            session=session, item_code="chip", lot_number="BENCH-LOT", supplier="bench",
            quantity=2 * cards, first_uid="04C30000000001", at=datetime.now(UTC), actor="bench",
        )  # fmt: skip
    return settings, engine, path


def in_process(cards: int, batch_size: int) -> dict[str, float]:
    from sqlmodel import select

    from flows.wiring import build_line
    from line.controller import LineController
    from line.db import session_scope
    from line.models import StageEvent
    from line.spec import default_spec

    settings, engine, _ = prepare(cards)
    spec = default_spec()
    clock = lambda: datetime.now(UTC)  # noqa: E731
    line = build_line(settings=settings, spec=spec, engine=engine, clock=clock)  # type: ignore[arg-type]
    controller = LineController(
        engine=engine,
        spec=spec,
        devices=line.devices,
        clock=clock,
        actor="bench",
        archive=line.archive,  # type: ignore[arg-type]
        stock=line.stock,  # type: ignore[arg-type]
        screen=line.screen,  # type: ignore[arg-type]
    )
    start = time.perf_counter()
    summary = controller.run(batch_size=batch_size)
    elapsed = time.perf_counter() - start
    line.close()
    per_stage: dict[str, list[float]] = defaultdict(list)
    with session_scope(engine) as session:  # type: ignore[arg-type]
        for event in session.exec(select(StageEvent)):
            record = event.record()
            if record.reason_code != "print.started":
                per_stage[record.stage.value].append(record.duration_seconds)
    result = {
        "cards_started": summary.started,
        "cards_passed": summary.passed,
        "seconds": elapsed,
        "cards_per_second": summary.started / elapsed,
        "good_cards_per_second": summary.passed / elapsed,
    }
    print(f"in process: {summary.as_dict()}")
    for stage in ("print", "chip-encode", "qc"):
        times = per_stage[stage]
        # A print event spans its whole batch: divide by the batch's cards.
        share = batch_size if stage == "print" else 1
        print(
            f"  {stage:<12} mean {1000 * statistics.fmean(times) / share:7.2f} ms/card"
            f" over {len(times)} cards"
        )
    return result


def _pcscd_running() -> bool:
    from smartcard.System import readers

    try:
        return any("Virtual PCD" in str(r) for r in readers())
    except Exception:
        return False


def over_pcsc(count: int) -> dict[str, float]:
    from line.card import CardData, expiry_date
    from line.synthetic import people, write_photos
    from printers.chip.bodies import CardBodies, PcscReader
    from printers.chip.encoder import LdsEncoder, card_data_groups, chip_files
    from printers.chip.personalise import initialise, personalise
    from printers.chip.vlot import VirtualChipLot
    from printers.keys import init_test_keys, load_signer
    from printers.mrz import access_data

    started = None
    if not _pcscd_running():
        started = subprocess.Popen(
            ["pcscd", "--foreground"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while not _pcscd_running() and time.monotonic() < deadline:
            time.sleep(0.1)
    keys_dir = OUT / "pcsc-keys"
    shutil.rmtree(keys_dir, ignore_errors=True)
    signer = load_signer(init_test_keys(keys_dir, now=datetime.now(UTC)))
    bodies = CardBodies(
        VirtualChipLot("BENCH", 0x04B00000000001, 2 * count + 10, 0.0, random.Random(1))
    )
    reader = PcscReader(bodies, timeout=20)
    rng = random.Random(3)
    photos = write_photos(rng, OUT / "pcsc-photos", 10)
    encoder = LdsEncoder(
        name="encode-pcsc", signer=signer, connect=reader.connect, clock=lambda: datetime.now(UTC)
    )
    whole: list[float] = []
    exchange: list[float] = []
    sizes: list[int] = []
    try:
        for index, who in enumerate(people(rng, count, today=TODAY, photos=photos)):
            card = CardData(
                application_id=index, card_serial=f"BENCH-{index}", id_number=who.id_number,
                full_name=who.full_name, date_of_birth=who.date_of_birth, sex=who.sex,
                nationality=who.nationality, place_of_origin=who.place_of_origin,
                place_of_residence=who.place_of_residence, old_id_number=who.old_id_number or None,
                photo_path=OUT / "pcsc-photos" / who.photo, issue_date=TODAY,
                expiry_date=expiry_date(who.date_of_birth, TODAY), destination=who.destination,
            )  # fmt: skip
            t0 = time.perf_counter()
            encoder.encode(card)
            whole.append(time.perf_counter() - t0)
            # The APDU exchange alone, on a second chip already in the reader: access data
            # and the two key pairs, then the files (signed between the two, not timed).
            serial = f"BENCH-{index}-x"
            with reader.connect(serial) as transport:
                t1 = time.perf_counter()
                chip_keys = initialise(transport, *access_data(card))
                t2 = time.perf_counter()
                files = chip_files(
                    card_data_groups(card), chip_keys, signer, signing_time=datetime.now(UTC)
                )
                sizes.append(sum(len(f) for f in files.values()))
                t3 = time.perf_counter()
                personalise(transport, files)
                exchange.append(time.perf_counter() - t3 + t2 - t1)
    finally:
        reader.close()
        if started is not None:
            started.terminate()
            started.wait(timeout=10)
    print(f"over PC/SC: {count} cards, {statistics.fmean(sizes):,.0f} bytes of LDS files each")
    return {
        "pcsc_encode_ms_median": 1000 * statistics.median(whole),
        "pcsc_exchange_ms_median": 1000 * statistics.median(exchange),
        "pcsc_exchange_ms_max": 1000 * max(exchange),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--pcsc-cards", type=int, default=30)
    args = parser.parse_args()
    from line.logsetup import configure_logging

    configure_logging(log_file=None, console_level="WARNING")
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {date.today()}"
    )
    results = in_process(args.cards, args.batch_size)
    for key, value in results.items():
        print(f"{key:<26}{value:12.2f}")
    if args.pcsc_cards:
        for key, value in over_pcsc(args.pcsc_cards).items():
            print(f"{key:<26}{value:12.2f}")


if __name__ == "__main__":
    main()
