"""One base exception for the personalisation devices: every error class of ``printers``
derives from ``printers.errors.PrintersError``, itself a ``line.errors.CardlineError``; the
device faults stay ``line.errors.DeviceError``s, which the controller records."""

from __future__ import annotations

import pickle

import printers
from line.errors import CardlineError, DeviceError
from printers.chip.apdu import ChipError, FileNotFound
from printers.errors import PrintersError
from printers.face.printing import PrinterFault
from tests.imports import error_classes


def test_every_error_of_printers_derives_from_its_one_base() -> None:
    classes = error_classes(printers)
    assert {
        "printers.errors.PrintersError",
        "printers.chip.status.ChipError",
        "printers.chip.ldscore.LdsError",
        "printers.face.render.FaceRenderError",
        "printers.keys.KeyStoreError",
    } <= set(classes)
    assert issubclass(PrintersError, CardlineError)
    assert printers.PrintersError is PrintersError  # re-exported by the package
    assert [name for name, cls in classes.items() if not issubclass(cls, PrintersError)] == []


def test_device_faults_are_still_device_errors() -> None:
    for cls in (ChipError, FileNotFound, PrinterFault):
        assert issubclass(cls, PrintersError) and issubclass(cls, DeviceError)


def test_the_base_and_a_device_fault_pickle() -> None:
    error = PrintersError("a printers failure", card_serial="C0000000001-1")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is PrintersError and str(again) == str(error)
    assert again.fields == {"card_serial": "C0000000001-1"}
    fault = FileNotFound(0x6A, 0x82, device="encode-01")
    back = pickle.loads(pickle.dumps(fault))
    assert type(back) is FileNotFound and back.sw == "6A82" and back.device == "encode-01"
    assert str(back) == str(fault) and isinstance(back, PrintersError)
