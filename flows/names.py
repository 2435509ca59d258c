"""Names of flow runs that say what ran: the flow, the centre (and the station whose
machines a production run drives), and when, in the centre's time (instead of Prefect's
``vermilion-teal``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from line.errors import CardlineError


def run_name(flow: str, *, station: bool = False) -> Callable[[], str]:
    """A ``flow_run_name`` callable: ``production HN1/01 2026-12-03 17:05``."""

    def name() -> str:
        from line.settings import Settings
        from line.spec import spec_in_use

        try:
            settings = Settings()
            zone = ZoneInfo(spec_in_use(settings.line_spec).calendar.timezone)
        except (CardlineError, ValueError, OSError):  # a bad setting fails the run, not its name
            return f"{flow} {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        where = f"{settings.centre}/{settings.station}" if station else settings.centre
        return f"{flow} {where} {datetime.now(zone):%Y-%m-%d %H:%M}"

    return name
