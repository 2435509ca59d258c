"""A cardline home ready for the line, made the way a user makes one: through the CLI."""

from __future__ import annotations

from pathlib import Path

from flows.cli import run
from line.synthetic import write_csv
from tests.factories import good_rows, photo_file


def ready_home(
    folder: Path, *, applications: int, chips: int, own_photos: bool = False
) -> None:
    """In the ``CARDLINE_HOME`` the test has set: the schema, ``applications`` synthetic
    applicants imported (files under ``folder/in``), TEST keys, and a lot of ``chips``.
    ``own_photos``: each applicant has a photo file of their own (else two are shared)."""
    photo_file(folder / "in" / "photos", "a.jpg")
    photo_file(folder / "in" / "photos", "b.png")
    rows = good_rows(applications)
    if own_photos:
        (folder / "in" / "photos" / "a.jpg").unlink()
        (folder / "in" / "photos" / "b.png").unlink()
        for index, row in enumerate(rows):
            photo_file(folder / "in" / "photos", f"p{index:04d}.jpg", seed=100 + index)
            row["photo"] = f"photos/p{index:04d}.jpg"
    write_csv(folder / "in" / "batch.csv", rows)
    lot = ["--lot", "L1", "--supplier", "Chip Co", "--quantity", str(chips)]
    for args in (
        ["db", "upgrade"],
        ["intake", str(folder / "in" / "batch.csv")],
        ["keys", "init"],
        ["stock", "receive", *lot, "--first-uid", "04D00000000001"],
    ):
        assert run(["-q", *args]) == 0, args
