"""The composition root: one call gives a command or a flow run the production centre's parts.

:func:`open_centre` reads the settings (``CARDLINE_*``), makes the home directory, and
configures logging (the masking processor of :mod:`line.logsetup` on every record, JSON
lines in ``settings.log_file``, the console at ``CARDLINE_LOG_LEVEL``, INFO by default).
The :class:`Centre` it returns gives the rest as each caller needs it: the database engine,
the line spec, the clock, today's date at the centre, and the devices
(:func:`flows.wiring.build_line`). Every command of the command line and every Prefect flow
entry point starts from it, so a flow run a worker starts logs exactly as a command does.

:func:`flow_entry` goes under ``@flow``: for the length of the run, the flow run's id and
the flow's name are bound into structlog's context, so every line the run logs says
which run wrote it. Prefect is imported only when a flow runs, never by the command line.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import structlog

from line.errors import CardlineError
from line.settings import Settings
from line.types import Clock, utc_now

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from flows.wiring import Line
    from line.spec import LineSpec

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Centre:
    """A production centre's parts, made when first asked for and then kept: one engine and
    one spec for a whole command or flow run."""

    settings: Settings
    clock: Clock = utc_now
    _engine: Engine | None = field(default=None, init=False, repr=False)
    _schema_checked: bool = field(default=False, init=False, repr=False)
    _spec: LineSpec | None = field(default=None, init=False, repr=False)

    def engine(self) -> Engine:
        """The database's engine, whatever its schema (``cardline db upgrade`` needs that)."""
        if self._engine is None:
            from line.db import make_engine

            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def ready_engine(self) -> Engine:
        """The engine of a database whose schema is at the head revision (or a
        ``SchemaError`` saying what to run)."""
        engine = self.engine()
        if not self._schema_checked:
            from schema import require_current_schema

            require_current_schema(engine)
            self._schema_checked = True
        return engine

    def spec(self) -> LineSpec:
        """The line spec in use (``CARDLINE_LINE_SPEC``, else the built-in one)."""
        if self._spec is None:
            from line.spec import spec_in_use

            self._spec = spec_in_use(self.settings.line_spec)
        return self._spec

    def today(self) -> date:
        """Today's date at the centre (the spec's calendar time zone), not the server's."""
        from zoneinfo import ZoneInfo

        return self.clock().astimezone(ZoneInfo(self.spec().calendar.timezone)).date()

    def build_line(self) -> Line:
        """The line's devices as the settings ask (virtual or real); the caller closes it."""
        from flows.wiring import build_line

        return build_line(
            settings=self.settings, spec=self.spec(), engine=self.ready_engine(), clock=self.clock
        )


def open_centre(settings: Settings | None = None, *, console_level: str | None = None) -> Centre:
    """The centre of ``settings`` (default: read from ``CARDLINE_*``), logging configured.

    With ``console_level`` (the command line, whose options choose it) logging is set up
    afresh; without, it is set up only if this process has none of ours for this log file
    yet (a flow the command line runs in process keeps the command line's handlers; one a
    worker runs gets its own), at ``CARDLINE_LOG_LEVEL``.
    """
    from line.logsetup import configure_logging, ensure_logging

    settings = Settings() if settings is None else settings
    settings.ensure_home()
    level = check_log_level(console_level or settings.log_level, settings)
    if console_level is None:
        ensure_logging(log_file=settings.log_file, console_level=level)
    else:
        configure_logging(log_file=settings.log_file, console_level=level)
    return Centre(settings=settings)


def check_log_level(level: str, settings: Settings) -> str:
    """``level`` in capitals, or a ``CardlineError`` naming ``CARDLINE_LOG_LEVEL``."""
    if level.upper() not in LOG_LEVELS:
        raise CardlineError(
            f"CARDLINE_LOG_LEVEL: {settings.log_level!r} is not a log level "
            f"({', '.join(LOG_LEVELS)})"
        )
    return level.upper()


@contextmanager
def flow_run_bound() -> Iterator[None]:
    """Within a flow run: its id and its flow's name in structlog's context (every line
    logged meanwhile carries them), the previous values back afterwards (a subflow's run
    ends, its parent's id is bound again)."""
    from prefect.context import FlowRunContext

    run = FlowRunContext.get()
    if run is None or run.flow_run is None:  # called as a plain function: nothing to bind
        yield
        return
    tokens = structlog.contextvars.bind_contextvars(
        flow_run_id=str(run.flow_run.id), flow=run.flow.name if run.flow else run.flow_run.name
    )
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def flow_entry(fn: Callable[P, R]) -> Callable[P, R]:
    """Goes under ``@flow``: the flow's body runs with its flow run bound into the logs
    (:func:`flow_run_bound`) and cardline's log lines in the run's Prefect logs
    (:func:`flows.prefect_log.forwarding_to_run`). The signature Prefect shows and
    validates stays the body's: its annotations are resolved here, where the body's module
    can be read."""

    @functools.wraps(fn)
    def entry(*args: P.args, **kwargs: P.kwargs) -> R:
        from flows.prefect_log import forwarding_to_run

        with flow_run_bound(), forwarding_to_run():
            return fn(*args, **kwargs)

    entry.__annotations__ = _resolved_annotations(fn)
    return entry


def _resolved_annotations(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s annotations as types, not strings (``from __future__ import annotations``):
    pydantic resolves strings in the globals of the function it is given, which for the
    wrapper are this module's."""
    try:
        return typing.get_type_hints(fn)
    except (NameError, TypeError):  # a name only imported for type checking: leave them
        return dict(getattr(fn, "__annotations__", {}))
