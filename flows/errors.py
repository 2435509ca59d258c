"""The errors of ``flows``: one base, :class:`FlowsError`, under ``CardlineError``.

The flows, the wiring of devices and the command line raise these where no domain error
fits (the devices cannot be set up, Prefect's server does not answer, a run gave up on
its machines); the command line turns every ``CardlineError`` into one line.
"""

from __future__ import annotations

from line.errors import CardlineError


class FlowsError(CardlineError):
    """Base of every error the orchestration layer raises on purpose."""
