"""Settings from the environment (``CARDLINE_*``), read once at the entry point and passed on."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from line.files import private_dir


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
    station: str = Field(
        default="01",
        pattern=r"^[A-Za-z0-9]{1,8}$",
        description=(
            "the machines this worker drives are print-<station>, encode-<station> and "
            "qc-<station>; two workers never drive the same machine at once"
        ),
    )
    keys_dir: Path | None = Field(
        default=None,
        description="CSCA and Document Signer certificates and keys; default: <home>/keys",
    )
    csca_key_file: Path | None = Field(
        default=None,
        description=(
            "the offline CA: the CSCA private key, read only by keys init and keys rotate; "
            "default: <keys>-offline-ca/csca.key, beside the keys directory"
        ),
    )
    pkcs11_module: Path | None = Field(
        default=None,
        description=(
            "PKCS#11 module of the HSM holding the Document Signer key; default: the "
            "embedded SoftHSM2 token under the keys directory"
        ),
    )
    pkcs11_token_label: str = Field(
        default="cardline-ds",
        min_length=1,
        max_length=32,
        description="label of the token holding the Document Signer key",
    )
    pkcs11_pin_file: Path | None = Field(
        default=None,
        description=(
            "owner-only file holding the token's user PIN (needed with pkcs11_module); "
            "default for the embedded token: <keys>/token.pin"
        ),
    )
    printer: str = Field(
        default="virtual",
        description="'virtual' (spool PDFs, faults at the spec's rates), 'spool', or 'cups:QUEUE'",
    )
    chip_transport: str = Field(
        default="inprocess",
        description="'inprocess' (virtual chips in this process) or 'pcsc' (pcscd + vpcd)",
    )
    chip_stock: str = Field(
        default="ledger",
        description=(
            "'ledger': a card starts only with a chip reserved from stock (cardline stock "
            "receive); 'none': chips are not tracked, a virtual lot feeds the line"
        ),
    )
    qr_sample_rate: float = Field(
        default=0.05, ge=0, le=1, description="share of cards whose QR code QC decodes"
    )
    seed: int = Field(default=2021, description="seed of the virtual devices' faults and defects")
    render_processes: int = Field(
        default=1,
        ge=0,
        le=16,
        description=(
            "worker processes that render card faces and prepare chip data beside the line "
            "(0: all in the line's process)"
        ),
    )

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

    @property
    def keys_path(self) -> Path:
        return (self.keys_dir or self.home_dir / "keys").expanduser().resolve()

    @property
    def spool_dir(self) -> Path:
        return self.home_dir / "spool"

    @property
    def cards_dir(self) -> Path:
        return self.home_dir / "cards"

    @property
    def chips_dir(self) -> Path:
        """Images of the virtual chips the line personalised (``printers.chip.vimage``)."""
        return self.home_dir / "chips"

    def ensure_home(self) -> Path:
        """The home and its log and reject directories, owner-only (personal data lives
        here), whatever the umask."""
        home = self.home_dir
        for path in (home, home / "logs", home / "rejects"):
            private_dir(path)
        return home
