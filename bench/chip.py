"""What each protocol costs per card on the line's own path: the encoder and QC against the
virtual chip, in process (CPU time of this process, ``time.process_time``).

    .venv/bin/python bench/chip.py              # 300 cards
    .venv/bin/python bench/chip.py --cards 1000

Per card, as ``cardline run`` does it: **personalisation** (access data and the chip's two
key pairs made on the chip; DG14/DG15 and the SOD built and signed through the PKCS#11
token; the files written; the chip locked; its image kept), then **QC's read-back as an
inspection system** (BAC, Chip Authentication, the files under secure messaging, Active
Authentication; extended-length APDUs when the chip declares them in EF.ATR/INFO, short
ones with ``--short``, for personalisation too) and **passive authentication** (the SOD
against the CSCA, every hash, DG1/DG13 against the card). The photo's DG2 is made once
(that is the render helper's work, measured by bench/line.py). Both ends of every exchange
run here: the virtual chip's share is work a real chip does on the card.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from printers.chip import aa, lds
    from printers.chip import encoder as enc
    from printers.chip.apdu import LDS_AID, select_aid
    from printers.chip.atrinfo import read_extended_lengths
    from printers.chip.checks import check_chip
    from printers.chip.personalise import initialise, personalise
    from printers.chip.reader import FILES, _chip_authentication, _read, open_session
    from printers.chip.transport import InProcessTransport
    from printers.chip.vchip import VirtualChip
    from printers.chip.vimage import image_of
    from printers.keys import init_test_keys, load_csca, load_signer
    from printers.mrz import access_data, mrz_lines
    from tests.factories import card_for, photo_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=300)
    parser.add_argument(
        "--short", action="store_true", help="short APDUs only (ignore EF.ATR/INFO)"
    )
    args = parser.parse_args()
    now = datetime.now(UTC)
    home = Path(tempfile.mkdtemp(prefix="bench-chip-"))
    keys = init_test_keys(home / "keys", now=now - timedelta(days=1))
    signer, csca = load_signer(keys), load_csca(keys.csca_cert)
    photo = photo_file(home, "photo.jpg", seed=7)
    card = card_for(7, photo, photo_sha256=hashlib.sha256(photo.read_bytes()).hexdigest())
    groups = enc.card_data_groups(card)
    number, born, expires = access_data(card)
    spent: dict[str, float] = defaultdict(float)

    @contextmanager
    def timed(name: str) -> Iterator[None]:
        started = time.process_time()
        yield
        spent[name] += time.process_time() - started

    names = [name for name, _ in FILES if name != "DG14"]
    expiry = None if expires == "<" * 6 else expires
    for index in range(args.cards + 1):
        if index == 1:
            spent.clear()  # the first card warms the caches up
        chip = VirtualChip((0x04B0000000000 + index).to_bytes(7, "big"))
        chip.power_on()
        transport = InProcessTransport(chip)
        with timed("personalise: access data, 2 key pairs made on the chip"):
            chip_keys = initialise(transport, number, born, expires)
        with timed("personalise: DG14, DG15, EF.COM, SOD signed in the token"):
            files = enc.chip_files(groups, chip_keys, signer, signing_time=now)
        with timed("personalise: write the files, lock"):
            personalise(transport, files, extended_length=not args.short)
        with timed("personalise: keep the virtual chip's image"):
            image_of(chip)
        chip.power_off()
        chip.power_on()
        with timed("QC: EF.ATR/INFO in clear (extended lengths)"):
            lengths = None if args.short else read_extended_lengths(transport)
        transport.transmit(select_aid(LDS_AID))
        with timed("QC: BAC"):
            secure = open_session(transport, number, born, expiry)
            secure.channel.allow_extended(lengths)
        with timed("QC: read DG14 under 3DES SM"):
            read = _read(secure, ["DG14"])
        with timed("QC: Chip Authentication (ECDH, AES keys)"):
            _chip_authentication(secure, read["DG14"], ec.generate_private_key)
        with timed("QC: read the other files under AES SM"):
            read.update(_read(secure, names))
        challenge = os.urandom(8)
        with timed("QC: Active Authentication (the chip signs)"):
            signature = secure.transmit(aa.internal_authenticate_command(challenge))[0]
        with timed("QC: Active Authentication (verify)"):
            aa.verify_active_authentication(read["DG15"], read["DG14"], challenge, signature)
        with timed("QC: passive authentication"):
            problems = check_chip(
                read,
                csca_cert=csca,
                expected_mrz=mrz_lines(card),
                expected_dg13=lds.national_data_of(card),
            )
        assert problems == [], problems
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d}; "
        f"load {os.getloadavg()[0]:.2f}; {args.cards} cards; "
        f"{sum(len(v) for v in files.values()):,} bytes of LDS per card"
    )
    total = 0.0
    for name, seconds in spent.items():
        total += seconds
        print(f"  {name:<58} {1000 * seconds / args.cards:6.2f} ms/card")
    print(f"  {'total':<58} {1000 * total / args.cards:6.2f} ms/card")


if __name__ == "__main__":
    main()
