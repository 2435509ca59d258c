"""Benchmark of SOD signing through PKCS#11: signatures per second with the Document
Signer's key in the embedded SoftHSM2 token, in one process and in a helper process with
its own session (as the encoder's data preparation process opens one).

    .venv/bin/python bench/signing.py                 # 5,000 signatures each way
    .venv/bin/python bench/signing.py --write-docs    # and appends a section to docs/benchmarks.md

A fresh TEST PKI in a temporary directory (``printers.keys.init_test_keys``: the token,
its own SOFTHSM2_CONF). Timed, after 200 signatures of warm-up:

- ``sign``: ``Pkcs11Signer.sign`` over 120-byte messages (the size of a SOD's signed
  attributes): SHA-256 here, CKM_ECDSA in the token, DER encoding, and the check of the
  signature against the DS certificate;
- ``build_sod``: a whole EF.SOD (DG1, a 12 KB DG2, DG13) signed through the token;
- the helper process: a spawned process, as ``cardline run`` starts its helpers, opening
  its own session (``printers.keys.load_signer``, once) and signing there; timed inside
  the helper, and from the line's process per batch of 50 (submit to result, pickling
  included);
- for reference, the same signature and SOD with the key in memory (``cryptography``), the
  path the line no longer has.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOCS = ROOT / "docs" / "benchmarks.md"
MESSAGE = bytes(range(120))
BATCH = 50

if TYPE_CHECKING:
    from printers.keys import KeyPaths
    from printers.signer import Pkcs11Signer


def rate(count: int, seconds: float) -> float:
    return count / seconds


@functools.cache
def _signer(paths: KeyPaths) -> Pkcs11Signer:
    """This process's Document Signer, opened once (one session per process)."""
    from printers.keys import load_signer

    return load_signer(paths)


def time_signatures(paths: KeyPaths, count: int) -> float:
    """Signatures per second of this process's signer."""
    signer = _signer(paths)
    for _ in range(200):
        signer.sign(MESSAGE)
    start = time.perf_counter()
    for _ in range(count):
        signer.sign(MESSAGE)
    return rate(count, time.perf_counter() - start)


def sign_batch(paths: KeyPaths, count: int) -> int:
    signer = _signer(paths)
    for _ in range(count):
        signer.sign(MESSAGE)
    return os.getpid()


def data_groups() -> dict[int, bytes]:
    from printers.chip import lds

    mrz = (
        "I<UTOD231458907<<<<<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    )
    jpeg = b"\xff\xd8" + os.urandom(12_000) + b"\xff\xd9"
    return {
        1: lds.dg1(mrz),
        2: lds.dg2(jpeg, width=240, height=320),
        13: lds.encode_dg13({"id_number": "001089000123", "full_name": "Trần Văn Hùng"}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signatures", type=int, default=5000)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    count = args.signatures

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from printers.chip.sod import build_sod
    from printers.keys import init_test_keys
    from tests.signers import MemorySigner

    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="cardline-bench-signing-") as folder:
        paths = init_test_keys(Path(folder) / "keys", now=now)
        results: dict[str, float] = {}
        results["sign, this process"] = time_signatures(paths, count)

        signer = _signer(paths)
        groups = data_groups()
        sods = max(count // 5, 200)
        start = time.perf_counter()
        for _ in range(sods):
            build_sod(groups, signer, signing_time=now)
        results["build_sod, this process"] = rate(sods, time.perf_counter() - start)

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            pool.submit(sign_batch, paths, 1).result()  # start-up and session not timed
            results["sign, helper process (timed inside)"] = pool.submit(
                time_signatures, paths, count
            ).result()
            batches = max(count // BATCH, 10)
            start = time.perf_counter()
            for _ in range(batches):
                pool.submit(sign_batch, paths, BATCH).result()
            results[f"sign, helper process (batches of {BATCH}, from the line)"] = rate(
                batches * BATCH, time.perf_counter() - start
            )

        key = ec.generate_private_key(ec.SECP256R1())
        start = time.perf_counter()
        for _ in range(count):
            key.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
        results["reference: sign, key in memory (cryptography)"] = rate(
            count, time.perf_counter() - start
        )
        in_memory = MemorySigner(key, signer.certificate)
        start = time.perf_counter()
        for _ in range(sods):
            build_sod(groups, in_memory, signing_time=now)
        results["reference: build_sod, key in memory"] = rate(sods, time.perf_counter() - start)

    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value:>8,.0f} /s  ({1000 / value:.3f} ms each)")
    if args.write_docs:
        write_docs(results, count)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def write_docs(results: dict[str, float], count: int) -> None:
    from printers.hsm import find_softhsm

    today = datetime.now(UTC).date().isoformat()
    lines = [
        "",
        "## SOD signing through PKCS#11 (`bench/signing.py`)",
        "",
        "```sh",
        f".venv/bin/python bench/signing.py --signatures {count} --write-docs",
        "```",
        "",
        "The Document Signer's key in the embedded SoftHSM2 2.6.1 token "
        f"(`{find_softhsm()}`, python-pkcs11 0.10.1): SHA-256 outside the token, CKM_ECDSA "
        "on the digest, r||s DER-encoded, and every signature checked against the DS "
        "certificate before it is returned. "
        f"{count:,} signatures after 200 of warm-up; {machine()}; load average "
        f"{os.getloadavg()[0]:.1f} when it ended (the machine is shared).",
        "",
        "| date | what | per second | ms each |",
        "|---|---|---:|---:|",
    ]
    for name, value in results.items():
        lines.append(f"| {today} | {name} | {value:,.0f} | {1000 / value:.3f} |")
    lines += [
        "",
        "The line needs one signature per card: at 100 cards/s that is 100 signatures/s, "
        "a few per cent of what one session gives.",
        "",
    ]
    text = DOCS.read_text(encoding="utf-8")  # a fresh read: others edit other sections
    DOCS.write_text(text.rstrip("\n") + "\n" + "\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
