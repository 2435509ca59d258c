"""The inventory package's errors: one base, under cardline's, and no import circle."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

import inventory
from inventory.errors import InventoryError, StockError
from line.errors import CardlineError
from tests.imports import error_classes


def test_every_inventory_error_derives_from_its_one_base() -> None:
    classes = list(error_classes(inventory).values())
    assert StockError in classes
    assert issubclass(InventoryError, CardlineError)
    assert [cls for cls in classes if not issubclass(cls, InventoryError)] == []


def test_old_names_stay_importable_from_the_ledger() -> None:
    from inventory import ledger

    assert ledger.StockError is StockError
    assert ledger.InventoryError is InventoryError


def test_no_inventory_module_imports_another_that_imports_it_back() -> None:
    """Each module imports alone, in a fresh interpreter, first (a circle shows up as an
    ImportError of a partly initialised module, or as a lazy import inside a function)."""
    for info in pkgutil.walk_packages(inventory.__path__, prefix="inventory."):
        result = subprocess.run(
            [sys.executable, "-c", f"import {info.name}"], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        source = inspect.getsource(importlib.import_module(info.name))
        assert "\n    from inventory." not in source, f"{info.name} imports inside a function"
