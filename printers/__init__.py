"""Personalisation devices: card face rendering and printers, chip encoding over ISO 7816,
QC read-back; real and virtual behind the ports of ``line.devices``.

May import ``line``. Public names are re-exported here and loaded on first use, so that
``import printers`` does not pull ReportLab, pyscard and the crypto stack into commands
that need only one of them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # the stations the controller drives
    "CupsPrinter": "printers.printing",
    "SpoolPrinter": "printers.printing",
    "VirtualPrinter": "printers.printing",
    "LdsEncoder": "printers.encoder",
    "Inspector": "printers.qc",
    # their faults
    "PrinterFault": "printers.printing",
    "PrinterJam": "printers.printing",
    "RibbonOut": "printers.printing",
    "PrinterOffline": "printers.printing",
    "ChipError": "printers.apdu",
    # chips and how to reach them
    "VirtualChip": "printers.vchip",
    "VirtualChipLot": "printers.vchip",
    "CardBodies": "printers.bodies",
    "PcscReader": "printers.bodies",
    "InProcessTransport": "printers.transport",
    "PcscTransport": "printers.transport",
    "personalise": "printers.personalise",
    "read_back": "printers.personalise",
    # what goes on the card
    "mrz_lines": "printers.mrz",
    "validate_td1": "printers.mrz",
    "render_cards": "printers.face",
    "qr_payload": "printers.face",
    "build_sod": "printers.sod",
    "verify_sod": "printers.sod",
    "check_chip": "printers.chipqc",
    "check_face": "printers.facecheck",
    "init_test_keys": "printers.keys",
    "load_signer": "printers.keys",
    "load_csca": "printers.keys",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'printers' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
