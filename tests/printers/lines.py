"""A small real line for the printers' tests: settings for a home, a few applications
taken in, keys and a chip lot, the devices ``cardline run`` would use, and a controller."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from flows.wiring import Line, build_line
from inventory.ledger import receive
from line.controller import Devices, LineController
from line.db import session_scope
from line.intake import import_file
from line.settings import Settings
from line.spec import default_spec
from line.synthetic import write_csv
from printers.keys import init_test_keys
from tests.conftest import TODAY, StepClock
from tests.factories import good_rows, photo_file


def settings_for(home: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "home": home,
        "db_url": "sqlite://",
        "printer": "spool",
        "qr_sample_rate": 1.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def intake(engine: Engine, folder: Path, count: int, clock: StepClock) -> None:
    photo_file(folder / "photos", "a.jpg", seed=1)
    photo_file(folder / "photos", "b.png", seed=2)
    path = folder / "batch.csv"
    write_csv(path, good_rows(count, seed=41))
    summary = import_file(engine=engine, path=path, today=TODAY, clock=clock, rejects_dir=folder)
    assert summary.accepted == count


def line_for(settings: Settings, engine: Engine, clock: StepClock, chips: int = 100) -> Line:
    """Keys, a chip lot of ``chips`` in stock, and the devices ``cardline run`` would use."""
    init_test_keys(
        settings.keys_path, now=datetime(2026, 11, 1, tzinfo=UTC)
    )  # DS key usage: 3 months
    with session_scope(engine) as session:
        receive(
            session=session, item_code="chip", lot_number="LOT-T", supplier="Chip Co",
            quantity=chips, first_uid="04C20000000001", at=clock(), actor="test",
        )  # fmt: skip
    return build_line(settings=settings, spec=default_spec(), engine=engine, clock=clock)


def controller(engine: Engine, devices: Devices, clock: StepClock, line: Line) -> LineController:
    return LineController(
        engine=engine,
        spec=default_spec(),
        devices=devices,
        clock=clock,
        actor="test",
        archive=line.archive,
        stock=line.stock,
        screen=line.screen,
    )
