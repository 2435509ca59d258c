"""Benchmark of personal data at rest: what sealing costs the line per card.

    .venv/bin/python bench/atrest.py              # 2,000 cards' files each way

A fresh TEST PKI in a temporary directory (``printers.keys.init_test_keys``: the token,
its data key). Timed:

- ``unwrap``: the data key unwrapped by the token's AES key (CKM_AES_GCM in SoftHSM2),
  as each process does once (``printers.atrest.unwrap``, uncached);
- per card, with the sizes the line writes (a chip archive of ~17 KB: EF.COM, DG1, a 12 KB
  DG2, DG13, DG14, DG15, SOD; a virtual chip image of ~40 KB of JSON; a card's share of a
  batch PDF, ~60 KB): ``write_sealed`` against ``write_private`` of the same bytes (the
  archive synced, the image not, as the line does), and ``read_sealed`` against a plain read;
- the seal and open alone (AES-256-GCM in memory), the cost the files add over the disk.

Prints a table; the figure to quote is the difference per card.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {"chip archive": 17_000, "chip image": 40_000, "face PDF (per card)": 60_000}


def timed(count: int, work: Callable[[int], object]) -> float:
    """Seconds per call of ``work(i)`` over ``count`` calls (after 50 of warm-up)."""
    for i in range(50):
        work(i)
    start = time.perf_counter()
    for i in range(count):
        work(i)
    return (time.perf_counter() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=2000)
    args = parser.parse_args()

    from line.files import private_dir, write_private
    from line.sealed import read_sealed, write_sealed
    from printers import atrest
    from printers.keys import init_test_keys

    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        paths = init_test_keys(base / "keys", now=datetime.now(UTC))
        unwraps = [time.perf_counter()]
        for _ in range(20):
            atrest.unwrap(paths)
            unwraps.append(time.perf_counter())
        unwrap = (unwraps[-1] - unwraps[0]) / 20
        sealer = atrest.unwrap(paths)
        print(f"cardline at-rest benchmark, {platform.node()}, {os.cpu_count()} cores")
        print(f"unwrap the data key (once per process): {unwrap * 1000:.2f} ms")
        print(
            f"{'file':<22}{'plain write':>13}{'sealed write':>14}{'plain read':>12}"
            f"{'sealed read':>13}{'seal+open':>11}  (ms per card)"
        )
        total = 0.0
        for label, size in SIZES.items():
            data = secrets.token_bytes(size)
            durable = label != "chip image"
            plain_dir = private_dir(base / "plain" / label.replace(" ", "-"))
            sealed_dir = private_dir(base / "sealed" / label.replace(" ", "-"))
            role = label.replace(" ", "-")

            def plain(i: int, d: bytes = data, folder: Path = plain_dir, s: bool = durable) -> None:
                write_private(folder / f"{i}.bin", d, durable=s)

            def sealed(
                i: int, d: bytes = data, folder: Path = sealed_dir, s: bool = durable, r: str = role
            ) -> None:
                write_sealed(folder / f"{i}.bin", d, role=r, sealer=sealer, durable=s)

            count = args.cards
            w_plain, w_sealed = timed(count, plain), timed(count, sealed)
            r_plain = timed(count, lambda i, f=plain_dir: (f / f"{i}.bin").read_bytes())
            r_sealed = timed(
                count,
                lambda i, f=sealed_dir, r=role: read_sealed(f / f"{i}.bin", role=r, sealer=sealer),
            )
            crypto = timed(
                count,
                lambda i, d=data, r=role: sealer.open(
                    sealer.seal(d, role=r, name="x"), role=r, name="x"
                ),
            )
            total += crypto
            print(
                f"{label:<22}{w_plain * 1000:>13.3f}{w_sealed * 1000:>14.3f}"
                f"{r_plain * 1000:>12.3f}{r_sealed * 1000:>13.3f}{crypto * 1000:>11.3f}"
            )
        print(
            f"AES-256-GCM per card, all three files sealed and opened once: {total * 1000:.3f} ms "
            f"({1 / total:,.0f} cards/s of crypto alone on one core)"
        )


if __name__ == "__main__":
    main()
