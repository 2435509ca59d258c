"""The portrait rules (ICAO token size and aspect, pixel bombs, broken files) and the check
print makes before a card body goes in (the photo intake recorded, by its SHA-256)."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from line.portrait import (
    CODES,
    MAX_ASPECT,
    MAX_BYTES,
    MAX_PIXELS,
    MIN_ASPECT,
    MIN_HEIGHT,
    MIN_WIDTH,
    PortraitInfo,
    PortraitProblem,
    check_portrait,
    inspect_portrait,
)
from line.synthetic import portrait
from tests.line.helpers import image_bytes, png_bomb, png_header_only


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return png_bomb()


def code_of(content: bytes) -> str | None:
    result = inspect_portrait(content)
    return result.code if isinstance(result, PortraitProblem) else None


def test_the_synthetic_portraits_pass() -> None:
    # line.synthetic makes the demo's and the tests' photos: the ICAO token size itself.
    for fmt in ("JPEG", "PNG"):
        assert inspect_portrait(portrait(random.Random(3), fmt=fmt)) == PortraitInfo(
            fmt, MIN_WIDTH, MIN_HEIGHT
        )


@pytest.mark.parametrize(
    ("width", "height", "code"),
    [
        (1, 1, "too_small"),  # the issue's 1x1 PNG
        (239, 320, "too_small"),
        (240, 319, "too_small"),
        (120, 160, "too_small"),  # right aspect, half the size
        (320, 240, "aspect"),  # landscape
        (400, 400, "aspect"),  # square
        (240, 400, "aspect"),  # 0.60: too narrow
        (300, 360, "aspect"),  # 0.83: too wide
        (240, 320, None),  # 3:4, the ICAO token image
        (240, 360, None),  # 2:3, the printed box
        (256, 320, None),  # 4:5
        (240, 375, None),  # 0.64
        (354, 472, None),  # the 20x30 mm box at 300 dpi, as 3:4
    ],
)
def test_size_and_aspect(width: int, height: int, code: str | None) -> None:
    assert code_of(image_bytes(width, height)) == code
    assert code_of(image_bytes(width, height, "JPEG")) == code


def test_the_exif_orientation_counts() -> None:
    # Stored landscape, shown upright (a camera held sideways): a portrait.
    assert inspect_portrait(image_bytes(320, 240, "JPEG", orientation=6)) == PortraitInfo(
        "JPEG", 240, 320
    )
    # Stored portrait, shown turned: a landscape.
    assert code_of(image_bytes(240, 320, "JPEG", orientation=8)) == "aspect"
    assert code_of(image_bytes(240, 320, "JPEG", orientation=3)) is None  # upside down only


def test_the_issue_s_pixel_bomb_is_refused_from_its_header(bomb: bytes) -> None:
    assert len(bomb) < 2 * 1024 * 1024  # small on disk
    result = inspect_portrait(bomb)
    assert isinstance(result, PortraitProblem) and result.code == "too_large"
    assert "400,000,000 pixels" in result.message  # 20000 x 20000


def test_pixels_are_counted_before_anything_is_decoded() -> None:
    # These files have no pixel data: decoding them would fail ("unreadable"). Over the
    # limit (61 M pixels: under Pillow's own 89 M) they are refused from the header alone;
    # within it, they are decoded, and fail.
    over = png_header_only(7000, 8750)
    assert MAX_PIXELS < 7000 * 8750
    assert code_of(over) == "too_large"
    assert code_of(png_header_only(4000, 5000)) == "unreadable"
    # Beyond twice Pillow's limit its own DecompressionBombError answers first: too large.
    assert code_of(png_header_only(15_000, 18_000)) == "too_large"


def test_truncated_and_corrupt_files_are_unreadable() -> None:
    jpeg = portrait(random.Random(4), fmt="JPEG")
    png = portrait(random.Random(4), fmt="PNG")
    assert code_of(jpeg[: len(jpeg) // 2]) == "unreadable"
    assert code_of(jpeg[:-2]) == "unreadable"  # no end-of-image marker
    assert code_of(png[: len(png) // 2]) == "unreadable"
    assert code_of(png[:-12]) == "unreadable"  # no IEND chunk
    flipped = bytearray(png)
    flipped[len(flipped) // 2] ^= 0xFF  # Pillow decodes this; the chunk checksum says no
    assert code_of(bytes(flipped)) == "unreadable"
    assert code_of(jpeg[:200]) == "unreadable"


def test_only_jpeg_and_png_are_photos() -> None:
    gif = io.BytesIO()
    Image.new("RGB", (240, 320)).save(gif, format="GIF")
    assert code_of(gif.getvalue()) == "not_image"
    assert code_of(b"not a photo") == "not_image"
    assert code_of(b"") == "empty"


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 700), st.integers(1, 900))
def test_the_documented_rule_is_the_rule(width: int, height: int) -> None:
    fits = (
        width >= MIN_WIDTH and height >= MIN_HEIGHT and MIN_ASPECT <= width / height <= MAX_ASPECT
    )
    result = inspect_portrait(image_bytes(width, height))
    assert isinstance(result, PortraitInfo) == fits, result
    if not fits:
        assert isinstance(result, PortraitProblem)
        small = min(width, height) < MIN_WIDTH or max(width, height) < MIN_HEIGHT
        assert result.code == ("too_small" if small else "aspect")


# --- what print calls ---------------------------------------------------------------------


def recorded(path: Path, content: bytes) -> str:
    path.write_bytes(content)
    return hashlib.sha256(content).hexdigest()


def test_an_unchanged_photo_may_be_printed(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    sha = recorded(photo, portrait(random.Random(1)))
    assert check_portrait(photo, sha) is None
    assert check_portrait(photo, None) is None  # nothing recorded: the rules only


def test_a_photo_overwritten_after_intake_is_held(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    sha = recorded(photo, portrait(random.Random(1)))
    photo.write_bytes(portrait(random.Random(2)))  # another good portrait, another person
    problem = check_portrait(photo, sha)
    assert problem is not None
    assert (problem.code, problem.reason_code) == ("changed", "print.photo_changed")
    assert str(photo) not in problem.message and "a.jpg" not in problem.message
    assert check_portrait(photo, sha, stage="encode") == PortraitProblem(
        "changed", problem.message, "encode"
    )


def test_print_holds_the_photo_to_the_intake_rules_too(tmp_path: Path, bomb: bytes) -> None:
    def reason(name: str, content: bytes | None) -> str | None:
        path = tmp_path / name
        sha = None if content is None else recorded(path, content)
        problem = check_portrait(path, sha)
        return None if problem is None else problem.reason_code

    jpeg = portrait(random.Random(5))
    assert reason("gone.jpg", None) == "print.photo_not_found"
    assert reason("empty.jpg", b"") == "print.photo_empty"
    assert reason("cut.jpg", jpeg[:-40]) == "print.photo_unreadable"
    assert reason("bomb.png", bomb) == "print.photo_too_large"
    assert reason("tiny.png", image_bytes(1, 1)) == "print.photo_too_small"
    assert reason("wide.png", image_bytes(320, 240)) == "print.photo_aspect"
    assert reason("notes.jpg", b"hello") == "print.photo_not_image"
    assert reason("huge.jpg", b"\xff\xd8\xff" + bytes(MAX_BYTES)) == "print.photo_too_large"
    assert {"not_found", "empty", "unreadable", "too_large", "too_small", "aspect"} < set(CODES)
