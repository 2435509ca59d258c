"""The virtual reader the PC/SC tests use (vsmartcard's vpcd: its reader's name, port and
driver file) and bounded polling for what pcscd takes a while to see."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

READER = "Virtual PCD 00 00"
READER_2 = "Virtual PCD 00 01"
VPCD_PORT = 35963
VPCD_CONFIG = Path("/etc/reader.conf.d/vpcd")
READY_TIMEOUT = 15.0

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Poll ``probe`` until it returns something, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(0.05)


def reader_names() -> list[str] | None:
    """The PC/SC readers, or None if no pcscd answers."""
    from smartcard.pcsc.PCSCExceptions import BaseSCardException
    from smartcard.System import readers

    try:
        return [str(reader) for reader in readers()]
    except BaseSCardException:
        return None
