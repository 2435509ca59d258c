"""Settings from the environment (``CARDLINE_*``), read once at the entry point and passed on."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARDLINE_", extra="ignore")

    home: Path = Field(
        default=Path("~/.cardline"),
        description="where the SQLite database, logs, reject reports and keys live",
    )
    db_url: str | None = Field(
        default=None,
        description="any SQLAlchemy URL; default: a SQLite file under the home directory",
    )
    line_spec: Path | None = Field(
        default=None, description="YAML line spec; default: the built-in reference centre"
    )
    log_level: str = Field(default="INFO", description="console log level")
    centre: str = Field(default="HN1", description="code of this production centre")

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.home_dir / 'cardline.db'}"

    @property
    def log_file(self) -> Path:
        return self.home_dir / "logs" / "cardline.jsonl"

    @property
    def rejects_dir(self) -> Path:
        return self.home_dir / "rejects"

    def ensure_home(self) -> Path:
        home = self.home_dir
        for path in (home, home / "logs", home / "rejects"):
            path.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)  # personal data lives here
        return home
