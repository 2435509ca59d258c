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
    "CupsPrinter": "printers.face.printing",
    "SpoolPrinter": "printers.face.printing",
    "VirtualPrinter": "printers.face.printing",
    "LdsEncoder": "printers.chip.encoder",
    "Inspector": "printers.qc",
    # their faults
    "PrinterFault": "printers.face.printing",
    "PrinterJam": "printers.face.printing",
    "RibbonOut": "printers.face.printing",
    "PrinterOffline": "printers.face.printing",
    "ChipError": "printers.chip.apdu",
    "PrintersError": "printers.errors",
    # chips and how to reach them
    "VirtualChip": "printers.chip.vchip",
    "VirtualChipLot": "printers.chip.vchip",
    "CardBodies": "printers.chip.bodies",
    "PcscReader": "printers.chip.bodies",
    "InProcessTransport": "printers.chip.transport",
    "PcscTransport": "printers.chip.transport",
    "personalise": "printers.chip.personalise",
    "read_back": "printers.chip.personalise",
    # what goes on the card
    "mrz_lines": "printers.mrz",
    "validate_td1": "printers.mrz",
    "render_cards": "printers.face.render",
    "qr_payload": "printers.face.render",
    "build_sod": "printers.chip.sod",
    "verify_sod": "printers.chip.sod",
    "check_chip": "printers.chip.checks",
    "check_face": "printers.face.check",
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
