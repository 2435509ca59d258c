"""Benchmark of the chip's access control, both ends in one process: cards per second.

    .venv/bin/python bench/access.py                  # 500 cards, 24 KB read per card
    .venv/bin/python bench/access.py --cards 200 --kilobytes 40 --profile

Per card, the reader side (``printers.chip.bac``, ``.ca``, ``.sm``) talks to the chip side
through plain function calls (no transport, no virtual chip, no file system): BAC (GET
CHALLENGE, MUTUAL AUTHENTICATE), Chip Authentication with a P-256 key (MSE:Set AT,
GENERAL AUTHENTICATE, both under BAC's 3DES secure messaging), then, under the new AES
session, one protected SELECT per file and READ BINARYs of the longest length AES allows
(223 bytes) until ``--kilobytes`` are read. Both ends' cryptography is timed, so a real
line (chip on the card, reader in this process) spends about half of it. The process is
pinned to one core; the chips' CA keys and the cards' MRZ keys are made before the clock
starts, as personalisation would have made them.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILES = 6  # EF.COM, DG1, DG2, DG13, DG14, DG15 (and the SOD): one SELECT each


def main() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from printers.chip.bac import BacChip, BacReader
    from printers.chip.ca import CaChip, chip_authenticate
    from printers.chip.sm import ChipChannel, ReaderChannel, max_response_data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=500)
    parser.add_argument("--kilobytes", type=int, default=24, help="data read per card")
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (pinned to 1), Python {platform.python_version()}"
    )
    rng = random.Random(args.seed)
    cards = []
    for _ in range(args.cards):
        number = f"{rng.randrange(10**9):09d}"
        cards.append((number, ec.derive_private_key(rng.getrandbits(250) + 1, ec.SECP256R1())))
    chunk = max_response_data("AES-128")
    total = args.kilobytes * 1024
    reads = -(-total // chunk)

    def one_card(number: str, ca_key: ec.EllipticCurvePrivateKey) -> None:
        bac_chip = BacChip.from_mrz(number, "900101", "300101", random_bytes=rng.randbytes)
        reader = BacReader.from_mrz(number, "900101", "300101", random_bytes=rng.randbytes)
        keys = reader.authenticate(bac_chip.answer)
        assert bac_chip.session_keys is not None
        reading, chip = ReaderChannel(keys), ChipChannel(bac_chip.session_keys)
        ca = CaChip(ca_key)
        state = {"chip": chip}

        def send(command: bytes) -> tuple[bytes, int]:
            response, state["chip"] = ca.exchange(state["chip"], command)
            return response[:-2], int.from_bytes(response[-2:], "big")

        new_keys = chip_authenticate(send, reading, ca.public_key)
        reading, chip = ReaderChannel(new_keys), state["chip"]
        payload = bytes(chunk)
        for step in range(FILES + reads):
            command = b"\x00\xa4\x02\x0c\x02\x01\x01" if step < FILES else b"\x00\xb0\x00\x00\xdf"
            plain = chip.unprotect_command(reading.protect(command))
            data = b"" if plain[1] == 0xA4 else payload
            reading.unprotect(chip.protect_response(data, 0x9000))

    profiler = cProfile.Profile() if args.profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    for card in cards:
        one_card(*card)
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - start
    exchanges = 2 + 2 + FILES + reads
    print(
        f"{args.cards} cards, {exchanges} exchanges each (BAC 2, CA 2, {FILES} SELECTs, "
        f"{reads} READ BINARYs of {chunk} bytes = {args.kilobytes} KB), both ends: "
        f"{elapsed:.2f} s, {args.cards / elapsed:.0f} cards/s on one core, "
        f"{elapsed / args.cards * 1e3:.2f} ms per card"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(20)


if __name__ == "__main__":
    main()
