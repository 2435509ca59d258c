"""What a module imports, read from its source (the layout and architecture tests), and
the exception classes a package defines (its one-base-exception test)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType


def imported_modules(path: Path) -> set[str]:
    """The modules ``path`` imports from, at any depth (lazy imports in functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def error_classes(package: ModuleType) -> dict[str, type[BaseException]]:
    """Every exception class the modules of ``package`` define (imported ones left out),
    by its qualified name: what the one-base-exception tests of each package walk."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        module = importlib.import_module(info.name)
        for name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found
