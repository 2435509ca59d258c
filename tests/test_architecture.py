"""The packages import each other only downwards, as the architecture table says (DESIGN.md,
with the ``schema`` package the migrations moved to): the domain (``line``) imports nothing
of ours, the devices and the stock only the domain, and only ``flows`` sees everything.
Lazy imports inside functions count too."""

from __future__ import annotations

from pathlib import Path

from tests.imports import imported_modules

ROOT = Path(__file__).resolve().parents[1]
MAY_IMPORT: dict[str, set[str]] = {
    "line": set(),
    "inventory": {"line"},
    "printers": {"line"},
    "sim": {"line", "inventory"},
    "schema": {"line", "inventory"},  # the one migration history of both packages' tables
    "flows": {"line", "inventory", "printers", "sim", "schema"},
}


def test_each_package_imports_only_the_packages_below_it() -> None:
    offenders = []
    for package, allowed in MAY_IMPORT.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for module in imported_modules(path):
                top = module.split(".")[0]
                if top in MAY_IMPORT and top != package and top not in allowed:
                    offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []
