"""How the command line fails: one line on stderr and an exit code, whatever went wrong.

1: the command could not do its work (a domain error, the database, a file); 2: the
command line itself is wrong; 130: interrupted. Whatever escapes (a bug) is one line as
well, with its traceback in the log file only.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import typer

from line.errors import CardlineError

MAX_ERROR_LINE = 1000
"""Characters of an error line at most: whatever went wrong, the user gets one line."""


def error_line(message: object, code: int = 1) -> int:
    """Print ``cardline: error: <message>`` as one line (however long or multi-line the
    message) on stderr; return ``code``."""
    text = " ".join(str(message).split()) or "(no message)"
    if len(text) > MAX_ERROR_LINE:
        text = text[: MAX_ERROR_LINE - 1] + "\u2026"
    typer.echo(f"cardline: error: {text}", err=True)
    return code


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


def not_utf8(argv: list[str]) -> int | None:
    """The position of the first argument that is not text (bytes that are not UTF-8 come
    in as lone surrogates, which no database, file or terminal write accepts)."""
    for index, arg in enumerate(argv, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return index
    return None


def _usage_error(exc: typer.TyperException) -> int:
    """A usage error (bad option, missing argument...) on one line, with where help is."""
    from typer._click.exceptions import NoArgsIsHelpError  # typer's own click

    ctx = getattr(exc, "ctx", None)
    hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
    if isinstance(exc, NoArgsIsHelpError):  # a bare group: its help on stdout, one line here
        text = exc.format_message()  # typer's rich help prints itself and returns ""
        if text:
            typer.echo(text)
        return error_line(f"give a command{hint}", 2)
    message = f"{exc.format_message()}{_moved_option(exc)}{hint}"
    return error_line(message, int(getattr(exc, "exit_code", 2)))


CALIBRATION_OPTIONS = frozenset({"--calibrate", "--spec-out", "--since", "--until", "--backtest"})
"""Options ``cardline simulate`` had while it calibrated too; ``cardline calibrate`` has them."""


def _moved_option(exc: typer.TyperException) -> str:
    """Where an option of ``simulate --calibrate`` went (a user's old command line says
    why it is refused, and what to type instead); "" for any other usage error."""
    from typer._click.exceptions import NoSuchOption

    ctx = getattr(exc, "ctx", None)
    if (
        isinstance(exc, NoSuchOption)
        and ctx is not None
        and ctx.info_name == "simulate"
        and exc.option_name in CALIBRATION_OPTIONS
    ):
        return (
            "; calibration is its own command now: the options that used to go with "
            "--calibrate belong to cardline calibrate"
        )
    return ""


def _settings_error(exc: Any) -> int:
    """A ``CARDLINE_*`` variable pydantic refused, named as the user set it."""
    first = exc.errors()[0]
    name = "CARDLINE_" + "_".join(str(part) for part in first["loc"]).upper()
    got = first.get("input")
    return error_line(f"{name}: {first['msg']}" + (f" (got {got!r})" if got is not None else ""))


def _log_unexpected(exc: BaseException) -> str:
    """Write ``exc`` with its traceback to the log file only (the masking processor runs on
    it, as on every record); return where, for the one line the user sees."""
    import logging

    record = logging.LogRecord(
        "cardline.cli", logging.ERROR, __file__, 0, "cli.unexpected_error", None,
        (type(exc), exc, exc.__traceback__),
    )  # fmt: skip
    written = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
            written.append(handler.baseFilename)
    return f"traceback in {written[0]}" if written else "no log file was open"


def exit_code(exc: BaseException) -> int:
    """Say what ``exc`` means on one line of stderr; return the exit code it stands for.

    Its length is the list of what can go wrong, in the order it is checked (a subclass
    before its base): nothing to split.
    """
    import pydantic

    if isinstance(exc, typer.Abort | KeyboardInterrupt):
        typer.echo("cardline: aborted", err=True)
        return 130
    if isinstance(exc, typer.TyperException):  # usage errors: typer's own click raises these
        return _usage_error(exc)
    if isinstance(exc, CardlineError):
        return error_line(exc)
    if isinstance(exc, pydantic.ValidationError):  # Settings(): a CARDLINE_* variable
        return _settings_error(exc)
    if isinstance(exc, sa.exc.OperationalError):
        return error_line(f"database: {_first_line(exc.orig)}")
    if isinstance(exc, sa.exc.ArgumentError):
        return error_line(f"CARDLINE_DB_URL: {exc}")
    if isinstance(exc, sa.exc.DBAPIError):  # a value the database refused (too long...)
        return error_line(f"the database refused it: {_first_line(exc.orig)}")
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return error_line(f"database: {_first_line(exc)}")
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return error_line(f"{where}{exc.strerror or exc}")
    if isinstance(exc, UnicodeError):
        return error_line(
            f"text this terminal or file cannot hold ({type(exc).__name__}: "
            f"{getattr(exc, 'reason', exc)}); "
            "use a UTF-8 locale, e.g. LANG=C.UTF-8"
        )
    # a bug: one line here, the traceback in the log
    return error_line(
        f"unexpected {type(exc).__name__}: {_first_line(exc)[:300]} ({_log_unexpected(exc)})"
    )
