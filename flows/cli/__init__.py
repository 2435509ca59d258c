"""The ``cardline`` command line (``cardline = "flows.cli:main"``): one module per noun.

:func:`run` runs it in process and returns the exit code (the tests' way in); :func:`main`
is the installed executable; :data:`app` is the typer app itself.
"""

from flows.cli.app import app, main, run

__all__ = ["app", "main", "run"]
