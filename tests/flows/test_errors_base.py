"""One base exception for ``flows``: every exception class its modules define derives from
``flows.errors.FlowsError``, itself a ``CardlineError`` (the CLI's one-line clause)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import flows
from flows.errors import FlowsError
from line.errors import CardlineError


def test_every_exception_class_of_flows_derives_from_flows_error() -> None:
    defined, strays = [], []
    for info in pkgutil.walk_packages(flows.__path__, prefix="flows."):
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name:
                defined.append(f"{info.name}.{name}")
                if not issubclass(cls, FlowsError):
                    strays.append(f"{info.name}.{name}")
    assert strays == []
    assert {"flows.wiring.WiringError", "flows.prefect_env.PrefectUnreachable"} <= set(defined)
    assert issubclass(FlowsError, CardlineError)
