"""Logging, configured once at the entry point.

Readable console lines on stderr, JSON lines in a file under the home directory. One
processor masks personal data for every logger (ours and the standard library's):
ID numbers keep their last four digits; names, addresses, dates of birth and photos
are never written. :func:`configure_logging` sets it up afresh (the command line, whose
options choose the console level); :func:`ensure_logging` sets it up only where this
process has no cardline logging yet (a flow run: in a worker's process it configures, in
a flow the command line started in process it leaves the command line's handlers be).
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from line.files import private_dir, private_file

REDACTED = "[redacted]"

PERSONAL_KEYS: frozenset[str] = frozenset(
    {
        "full_name",
        "name",
        "surname",
        "given_names",
        "date_of_birth",
        "place_of_origin",
        "place_of_residence",
        "address",
        "photo",
        "photo_path",
        "photo_bytes",
        "mrz",
        "qr",
    }
)
"""Keys whose values are dropped from every log record, whatever their type."""

_ID_RE = re.compile(r"(?<!\d)(\d{8})(\d{4})(?!\d)")  # 12-digit personal ID
_OLD_ID_RE = re.compile(r"(?<!\d)(\d{5})(\d{4})(?!\d)")  # 9-digit old ID


def _mask_text(text: str) -> str:
    text = _ID_RE.sub(lambda m: "*" * 8 + m.group(2), text)
    return _OLD_ID_RE.sub(lambda m: "*" * 5 + m.group(2), text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, MutableMapping):
        return {k: (REDACTED if k in PERSONAL_KEYS else _mask_value(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask_value(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool) and 10**8 <= value < 10**12:
        return _mask_text(f"{value:012d}" if value >= 10**11 else str(value))
    return value


RUN_ID_KEYS: frozenset[str] = frozenset({"flow_run_id", "task_run_id"})
"""Keys of Prefect's run ids: a UUID whose last group is twelve decimal digits (one in
three hundred) is not an ID number, and masked it would no longer name its run."""


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def mask_personal_data(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Structlog processor: drop personal fields, mask ID numbers wherever they appear
    (a run id under its own key, which is a UUID, is left as it is)."""
    for key in list(event_dict):
        if key in PERSONAL_KEYS:
            event_dict[key] = REDACTED
        elif key in RUN_ID_KEYS and _is_uuid(event_dict[key]):
            continue
        else:
            event_dict[key] = _mask_value(event_dict[key])
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_personal_data,
    ]


def configure_logging(
    *, log_file: Path | None, console_level: str = "INFO", console: bool = True
) -> None:
    """Set up structlog and the standard library's logging. Call once, at the entry point."""
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.setLevel(logging.DEBUG)
    marker = _Marker(log_file=str(log_file) if log_file is not None else None)
    root.addHandler(marker)
    if console:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(console_level.upper())
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
                ],
            )
        )
        root.addHandler(handler)
    if log_file is not None:
        private_dir(log_file.parent)
        private_file(log_file)  # the handler appends to it: owner-only whatever the umask
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=shared,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(ensure_ascii=False),
                ],
            )
        )
        root.addHandler(file_handler)
    # Debug records of the HTTP stack (Prefect talks to its server all the time) would each
    # be made, then dropped by the handlers: not made at all.
    for noisy in ("sqlalchemy", "alembic", "httpx", "httpcore", "hpack", "websockets", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _Marker(logging.NullHandler):
    """A handler that writes nothing: it says that cardline configured this process's
    logging, and for which log file (``ensure_logging`` looks for it)."""

    def __init__(self, *, log_file: str | None) -> None:
        super().__init__()
        self.log_file = log_file


def ensure_logging(*, log_file: Path | None, console_level: str = "INFO") -> bool:
    """Configure logging as :func:`configure_logging` does unless it is configured for
    ``log_file`` already (handlers are never added twice, and a command line's console
    level stays); return whether it configured."""
    wanted = str(log_file) if log_file is not None else None
    marks = [h for h in logging.getLogger().handlers if isinstance(h, _Marker)]
    if structlog.is_configured() and any(m.log_file == wanted for m in marks):
        return False
    configure_logging(log_file=log_file, console_level=console_level)
    return True


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
