"""The test suite's own layout: what tests share lives in helper modules and conftest.py.

A helper imported from another test module drags that module's tests into the importer's
collection errors and its import time, and hides the helper among tests; a fixture imported
that way is collected twice. So nothing imports a ``test_*`` module: helpers live in
``tests/factories.py`` or a package's ``helpers.py`` (and the like), fixtures in its
``conftest.py``."""

from __future__ import annotations

from pathlib import Path

from tests.imports import imported_modules

TESTS = Path(__file__).resolve().parent


def test_no_test_module_imports_another_test_module() -> None:
    offenders = sorted(
        f"{path.relative_to(TESTS.parent)} imports {module}"
        for path in TESTS.rglob("*.py")
        for module in imported_modules(path)
        if module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith("test_")
    )
    assert offenders == []


def test_the_check_sees_a_lazy_import_of_a_test_module(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from tests.line.test_intake import good_rows\n")
    assert "tests.line.test_intake" in imported_modules(sample)
