"""Fixtures shared by the PC/SC tests: one pcscd and one vpcd emulator per test session.

``pcscd``: the running pcscd with the vsmartcard vpcd readers, or ``pcscd --foreground``
started here (and stopped at the end). ``slot``: ``printers.chip.vpcd.serve`` in a thread,
connected to vpcd's first reader (127.0.0.1:35963), serving whatever chip a test puts in
the slot. They live here so that every module shares the same instances: two emulators
on one vpcd port would fight over the reader.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from printers.chip.vpcd import ChipSlot, serve
from tests.printers.helpers import (
    READER,
    READY_TIMEOUT,
    VPCD_CONFIG,
    VPCD_PORT,
    eventually,
    reader_names,
)


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A pcscd with the vpcd readers: the running one, or one started here."""
    names = reader_names()
    process: subprocess.Popen[bytes] | None = None
    log_path = tmp_path_factory.mktemp("pcscd") / "pcscd.log"
    if names is None:
        binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
        if not Path(binary).exists() or not VPCD_CONFIG.exists():
            pytest.fail(
                "needs pcscd and vsmartcard's vpcd driver (apt-get install pcscd "
                f"vsmartcard-vpcd); missing {binary if not Path(binary).exists() else VPCD_CONFIG}",
                pytrace=False,
            )
        log = log_path.open("wb")
        process = subprocess.Popen([binary, "--foreground"], stdout=log, stderr=subprocess.STDOUT)

        def listed() -> list[str] | None:
            if process is not None and process.poll() is not None:
                pytest.fail(
                    f"pcscd exited with {process.returncode}: {log_path.read_text()[-2000:]}",
                    pytrace=False,
                )
            found = reader_names()
            return found if found and READER in found else None

        names = eventually(listed, timeout=READY_TIMEOUT, what=f"pcscd to list '{READER}'")
    if READER not in names:
        pytest.fail(f"the running pcscd has no '{READER}' (readers: {names})", pytrace=False)
    yield "started" if process is not None else "reused"
    if process is not None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="session")
def slot(pcscd: str) -> Iterator[ChipSlot]:
    """The emulator, connected to vpcd's first reader; tests put chips in this slot."""
    slot = ChipSlot()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, args=(slot, "127.0.0.1", VPCD_PORT), kwargs={"stop": stop}, daemon=True
    )
    thread.start()
    yield slot
    stop.set()
    thread.join(5)


@pytest.fixture
def empty_slot(slot: ChipSlot) -> ChipSlot:
    """The session's slot, emptied, once pcscd has seen the reader empty: whatever an earlier
    test left in the reader (a card swapped mid-session, say) is gone before this one starts."""
    from printers.chip.transport import NoCard, PcscTransport, TransportFailure

    slot.remove()

    def empty() -> bool | None:
        try:
            with PcscTransport(READER, timeout=0.0) as transport:
                transport.uid()
        except NoCard:
            return True
        except TransportFailure:  # the card on its way out: present, unpowered or gone mid-call
            return None
        return None

    eventually(empty, timeout=READY_TIMEOUT, what=f"'{READER}' to look empty")
    return slot
