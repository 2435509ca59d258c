"""The database schema of cardline: one Alembic history for the tables of every package.

``line`` and ``inventory`` each own their models (``line.models``, ``inventory.models``);
their tables live in one database, with foreign keys between them (a card's chip lot, a
reservation's application), and one linear history of migrations (``versions/``) creates
them. That history sits here, above both packages, rather than inside ``line`` (which may
import nothing of ``inventory``): ``env.py`` imports both packages' models. Separate
histories per package (Alembic version locations with branches and ``depends_on``) were
considered and not taken: the history is already one line of revisions that create both
packages' tables in turn, every database in use is stamped with one of them, and splitting
it would need every centre's database re-stamped; the foreign keys join the packages'
tables anyway.

``cardline db upgrade`` runs the migrations (``upgrade``); every command that needs the
database checks it is at the head first (``require_current_schema``).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from line.errors import SchemaError


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("schema")))
    if engine is not None:
        # configparser interpolates '%': a URL with escapes (options, passwords) needs '%%'.
        url = engine.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _migrate(engine: Engine, run: Any) -> None:
    """Run a migration in one transaction. On SQLite, foreign keys are switched off around
    it (a PRAGMA that only works outside a transaction): Alembic's batch mode rebuilds a
    table by copy, drop and rename, which other tables' references would refuse. The keys
    are checked before the migration commits."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        if sqlite:
            raw.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                run(connection)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise SchemaError(f"migration would break foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to ``revision``; returns (before, after)."""
    before = current_revision(engine)
    config = alembic_config(engine)

    def run(connection: Any) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    _migrate(engine, run)
    return before, current_revision(engine)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)

    def run(connection: Any) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    _migrate(engine, run)


def require_current_schema(engine: Engine) -> None:
    """Raise ``SchemaError`` unless the database is at the head revision."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        state = "has no cardline schema" if current is None else f"is at revision {current}"
        raise SchemaError(
            f"database {engine.url.render_as_string(hide_password=True)} {state}, "
            f"this cardline needs {head}: run `cardline db upgrade`"
        )
