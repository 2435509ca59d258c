"""Every domain error survives a process boundary: render and signing helpers run in process
pools, and an error that does not unpickle there breaks the pool (``BrokenProcessPool``)
instead of failing one card."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
from datetime import UTC, date, datetime
from typing import Any

import pytest

from line.errors import CardlineError
from line.types import Stage

PACKAGES = ("line", "inventory", "printers", "sim", "flows")

# Values for constructor parameters, by name first, then by annotation.
BY_NAME: dict[str, Any] = {
    "stage": Stage.PRINT,
    "machines": [],
    "cards_left": 3,
    "lp_status": 1,
    "sw": 0x6581,
    "entity_id": "C0000000001-1",
    "holders": [],
    "now": [],
}


def _lease() -> Any:
    from line.leases import Lease

    at = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    return Lease("token", "cardline-run@HN1/host:1", ("print-01",), at, at)


def _needs() -> frozenset[Any]:
    from line.operators import Role

    return frozenset({Role.SUPERVISOR})


def _has() -> set[Any]:
    from line.operators import Role

    return {Role.OPERATOR}


FACTORIES: dict[str, Any] = {  # values that must be built, by parameter name
    "lease": _lease,
    "needs": _needs,
    "has": _has,
}
BY_ANNOTATION: tuple[tuple[str, Any], ...] = (
    ("datetime", datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
    ("date", date(2026, 11, 1)),
    ("int", 7),
    ("str", "text-value"),
    ("bytes", b"\x01"),
    ("object", "object-value"),
)


def every_error_class() -> list[type[CardlineError]]:
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if ".migrations" not in info.name:
                importlib.import_module(info.name)
    found: list[type[CardlineError]] = []
    pending: list[type[CardlineError]] = [CardlineError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def example(cls: type[CardlineError]) -> CardlineError:
    """An instance made from the constructor's own signature."""
    arguments: dict[str, Any] = {}
    positional: list[Any] = []
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind is parameter.VAR_POSITIONAL:
            continue
        if parameter.kind is parameter.VAR_KEYWORD:
            arguments["extra_field"] = "extra"
            continue
        if parameter.default is not parameter.empty and name not in BY_NAME:
            continue
        annotation = str(parameter.annotation)
        if name in FACTORIES:
            BY_NAME[name] = FACTORIES[name]()
        value = BY_NAME.get(
            name, next((v for key, v in BY_ANNOTATION if key in annotation), "value")
        )
        if parameter.kind is parameter.KEYWORD_ONLY:
            arguments[name] = value
        else:
            positional.append(value)
    return cls(*positional, **arguments)


ERRORS = every_error_class()


def test_the_error_classes_are_found() -> None:
    names = {cls.__name__ for cls in ERRORS}
    assert {"DeviceError", "FaceRenderError", "StockError", "MrzError", "LdsError"} <= names
    assert len(ERRORS) > 30


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_each_domain_error_round_trips_through_pickle(cls: type[CardlineError]) -> None:
    error = example(cls)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is cls
    assert str(again) == str(error)
    assert again.args == error.args
    assert again.fields == error.fields
    assert {k: v for k, v in vars(again).items()} == {k: v for k, v in vars(error).items()}


def test_every_photo_problem_is_a_reason_code_that_holds_the_application() -> None:
    from line.portrait import CODES
    from line.reasons import PHOTO, find
    from line.routing import holds_at_once

    assert set(PHOTO) == set(CODES)
    for stage in ("print", "encode"):
        for code in CODES:
            reason = find(f"{stage}.photo_{code}")
            assert reason is not None and reason.holds and holds_at_once(reason.code)
    assert not holds_at_once("print.jam") and not holds_at_once(None)
