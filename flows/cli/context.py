"""What every command of the command line shares: the invocation's context and small checks.

Typer passes each command its ``typer.Context``; :func:`cli_context` finds the
:class:`~flows.centre.Centre` the app's callback opened (the composition root: settings,
engine, line spec, clock, devices) at its root. The option checks here refuse a value
the way typer refuses a bad one: a ``BadParameter`` naming the option (exit 2).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import typer

from flows.centre import Centre


def cli_context(ctx: typer.Context) -> Centre:
    """The centre this invocation works on (the app's callback opened it)."""
    obj = ctx.find_root().obj
    assert isinstance(obj, Centre)
    return obj


def actor(ctx: typer.Context) -> str:
    """Who does what this command does, as every record names them: ``<os user>@<centre>``
    (the user from the process's effective uid, :func:`line.operators.os_user`)."""
    from line.operators import os_user

    return f"{os_user()}@{cli_context(ctx).settings.centre}"


def console_quiet(ctx: typer.Context) -> bool:
    """Whether ``--quiet`` was given (a flow run then keeps Prefect's console lines down)."""
    return bool(ctx.find_root().params.get("quiet"))


def echo_json(data: Any) -> None:
    """``data`` as one line of JSON on stdout, non-ASCII text kept as it is."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=None, default=str))


def not_nan(value: float, option: str) -> None:
    """Typer's range checks compare, and NaN compares false with everything: refuse it."""
    if value != value:
        raise typer.BadParameter("is not a number", param_hint=option)


def writable_path(path: Path, option: str) -> None:
    """Refuse ``path`` for a file to write unless its directory exists (nothing is made
    along a mistyped path) and it is not a directory itself."""
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory; give a file name", param_hint=option)
    if not path.parent.is_dir():
        raise typer.BadParameter(f"no directory {path.parent} for {path.name}", param_hint=option)


def parse_date(text: str, option: str) -> date:
    """``YYYY-MM-DD`` in ASCII digits, nothing looser; else a usage error naming ``option``."""
    from line.digits import parse_iso_date

    try:
        return parse_iso_date(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None
