"""Alembic environment: uses the connection cardline hands over, or ``sqlalchemy.url``."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

# One migration history holds the schema of every package (see ``schema``): both packages'
# models register their tables on SQLModel.metadata.
import inventory.models  # noqa: F401
import line.models  # noqa: F401
from line.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from line.settings import Settings

        url = Settings().database_url
    engine = make_engine(url)
    with engine.begin() as conn:
        _run(conn)
