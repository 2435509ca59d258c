"""Fixtures the tests of the line share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import photo_file


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder for an intake batch, with the two photos ``good_rows`` names."""
    photo_file(tmp_path / "photos", "a.jpg", seed=1)
    photo_file(tmp_path / "photos", "b.png", seed=2)
    return tmp_path
