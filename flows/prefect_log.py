"""cardline's own log lines in the Prefect UI: each flow run's Logs tab shows what the line
did (``print.spooled``, device faults, ``line.short_of_chips``, consumables running out),
not only Prefect's "Finished in state Completed()".

For the length of a flow run, :func:`forwarding_to_run` hangs a handler on the root logger
that passes every INFO-or-higher record of cardline's packages to the run's Prefect logger
(``get_run_logger()``), which sends it to the server with the run's id. Each line is a
sentence with its fields (``print.spooled: cards=50, printer=print-01``), masked by the same
processor as the JSON log (a record is formatted here, after masking, never before).
Prefect's own records are not ours and are never passed back (no loop).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

from line.logsetup import mask_personal_data

OUR_PACKAGES = ("line", "inventory", "printers", "flows", "sim", "schema", "cardline")
"""Logger names of cardline's own code (``get_logger(__name__)`` and ``cardline.*``)."""

LEFT_OUT = frozenset(
    {"timestamp", "level", "logger", "flow_run_id", "task_run_id", "flow", "_record",
     "_from_structlog"}
)  # fmt: skip
"""Fields the Prefect UI shows on its own (time, level, run) or that are structlog's."""


FORWARDED = "cardline_forwarded"  # set on the copy sent to the run's logger


def is_ours(name: str) -> bool:
    return name.split(".", 1)[0] in OUR_PACKAGES


def sentence(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    """``event: key=value, key=value``: the event, then its fields in the order logged."""
    event = str(event_dict.get("event", ""))
    fields = [f"{k}={_plain(v)}" for k, v in event_dict.items() if k not in LEFT_OUT | {"event"}]
    return f"{event}: {', '.join(fields)}" if fields else event


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} {_plain(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    return str(value)


class RunLogForwarder(logging.Handler):
    """Passes cardline's records, as masked sentences, to a Prefect run logger."""

    def __init__(self, run_logger: logging.LoggerAdapter[Any] | logging.Logger) -> None:
        super().__init__(level=logging.INFO)
        self.run_logger = run_logger
        self.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=[
                    structlog.contextvars.merge_contextvars,
                    structlog.stdlib.add_log_level,
                    mask_personal_data,
                ],
                processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, sentence],
            )
        )

    def filter(self, record: logging.LogRecord) -> bool:
        return is_ours(record.name) and super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.run_logger.log(record.levelno, self.format(record), extra={FORWARDED: True})
        except Exception:  # a log line must never fail the run
            self.handleError(record)


def not_forwarded(record: logging.LogRecord) -> bool:
    """A filter for this process's own handlers: the copy a record's forwarding made (it
    propagates from Prefect's run logger to the root) is not written a second time."""
    return not getattr(record, FORWARDED, False)


@contextmanager
def forwarding_to_run() -> Iterator[None]:
    """Within a flow run: cardline's log records also go to the run's Prefect logs."""
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        run_logger = get_run_logger()
    except MissingContextError:  # the flow's function called outside a run
        yield
        return
    handler = RunLogForwarder(run_logger)
    root = logging.getLogger()
    ours = [h for h in root.handlers if not_forwarded not in h.filters]  # a subflow's: none
    for existing in ours:
        existing.addFilter(not_forwarded)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        for existing in ours:
            existing.removeFilter(not_forwarded)
