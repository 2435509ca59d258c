"""One base exception for ``flows``: every exception class its modules define derives from
``flows.errors.FlowsError``, itself a ``CardlineError`` (the CLI's one-line clause)."""

from __future__ import annotations

import flows
from flows.errors import FlowsError
from line.errors import CardlineError
from tests.imports import error_classes


def test_every_exception_class_of_flows_derives_from_flows_error() -> None:
    defined = error_classes(flows)
    strays = [name for name, cls in defined.items() if not issubclass(cls, FlowsError)]
    assert strays == []
    assert {"flows.wiring.WiringError", "flows.prefect_env.PrefectUnreachable"} <= set(defined)
    assert issubclass(FlowsError, CardlineError)
