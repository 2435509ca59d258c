"""Where a flow started from the command line reports: Prefect's settings, before import.

With ``PREFECT_API_URL`` set, flows report to that server (its UI shows them). Without it,
Prefect starts an ephemeral server for the process; its database is kept under the
cardline home (``<home>/prefect``), so that ``PREFECT_HOME=<home>/prefect prefect server
start`` shows those runs in the UI afterwards. Prefect reads its settings when it is first
imported, so this must run before that.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from flows.errors import FlowsError
from line.files import private_dir
from line.settings import Settings


class PrefectUnreachable(FlowsError):
    """PREFECT_API_URL names a server that does not answer."""


# A cold ephemeral server took 11-23 s to start here (DESIGN.md); Prefect's default is 20 s.
EPHEMERAL_STARTUP_SECONDS = "120"


def prefect_home(settings: Settings) -> Path:
    return settings.home / "prefect"


def prepare_prefect(settings: Settings, *, quiet: bool = False) -> str:
    """Set Prefect's defaults for this process; return where its flow runs will be seen."""
    if "prefect" in sys.modules:  # already configured (a test harness, a flow in a flow)
        return os.environ.get("PREFECT_API_URL") or "this process's Prefect"
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        os.environ.setdefault("PREFECT_HOME", str(prefect_home(settings)))
        if os.environ["PREFECT_HOME"] == str(prefect_home(settings)):
            private_dir(prefect_home(settings).expanduser())
    # Prefect writes its own files (its database, task results, logs of flow runs that
    # name cards); it makes them with the process's umask: owner-only, like the rest.
    os.umask(os.umask(0o077) | 0o077)
    os.environ.setdefault(
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", EPHEMERAL_STARTUP_SECONDS
    )
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if quiet:
        # Quiet on the terminal only: the run's logs still reach the server at INFO, where
        # the UI shows them (the whole level at WARNING left the UI nothing but warnings).
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    if api:
        _require_server(api)
        return f"the Prefect server at {api.removesuffix('/api')}"
    home = os.environ["PREFECT_HOME"]
    return (
        f"Prefect's ephemeral server (runs kept in {home}; to browse them: "
        f"PREFECT_HOME={home} prefect server start, then http://127.0.0.1:4200)"
    )


def _require_server(api: str) -> None:
    """One clear line, not a client's retries and a traceback, when the server is down."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{api.rstrip('/')}/health", timeout=10):
            return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise PrefectUnreachable(
            f"the Prefect server at PREFECT_API_URL={api} does not answer ({exc}): start it, "
            "unset PREFECT_API_URL to run in Prefect's ephemeral mode, or use "
            "--without-prefect"
        ) from exc
