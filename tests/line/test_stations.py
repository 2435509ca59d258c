"""The station register: loaded whole or not at all, each bad row named with its field."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from line.stations import (
    Station,
    StationRegisterError,
    install_register,
    load_register,
    parse_register,
    station_label,
)

GOOD = (
    "code,name,address\n"
    '001-0030,Công an phường Hàng Bạc,"Hoàn Kiếm, Hà Nội"\n'
    '079-0112,Công an phường Bến Nghé,"Quận 1, TP Hồ Chí Minh"\n'
)


def test_a_register_names_each_station() -> None:
    stations = parse_register(GOOD, source="s.csv")
    assert stations["001-0030"] == Station(
        "001-0030", "Công an phường Hàng Bạc", "Hoàn Kiếm, Hà Nội"
    )
    assert station_label(stations, "079-0112") == "Công an phường Bến Nghé, Quận 1, TP Hồ Chí Minh"
    assert station_label(stations, "048-0009") == "not in the centre's station register"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("code;name\n001-0030;X\n", "the header must name the columns code and name"),
        ("code,name\n001-003,X\n", "row 2: code '001-003' must be a province code"),
        ("code,name\n003-0030,X\n", "row 2: code '003-0030' 003 is not a province code"),
        ("code,name\n001-٠٠٣٠,X\n", "row 2: code '001-٠٠٣٠' must be"),
        ("code,name\n001-0030,\n", "row 2: name is empty"),
        ("code,name\n001-0030,A\n001-0030,B\n", "row 3: code 001-0030 is listed twice"),
        ("code,name\n001-0030,A\x07\n", "row 2: name holds control characters"),
        (f"code,name\n001-0030,{'x' * 121}\n", "row 2: name is longer than 120 characters"),
        ("code,name\n", "no stations in it"),
    ],
)
def test_a_bad_register_is_refused_naming_the_row_and_field(text: str, expected: str) -> None:
    with pytest.raises(StationRegisterError) as error:
        parse_register(text, source="s.csv")
    assert expected in str(error.value) and str(error.value).startswith("s.csv: ")


def test_many_bad_rows_are_counted_not_all_listed() -> None:
    text = "code,name\n" + "".join(f"999-{n:04d},X\n" for n in range(30))
    with pytest.raises(StationRegisterError, match="and 20 more"):
        parse_register(text, source="s.csv")


def test_a_bad_file_changes_nothing_and_a_good_one_replaces_the_register(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(GOOD + "001-0031,\n", encoding="utf-8")
    assert load_register(home) == {}
    assert set(install_register(good, home)) == {"001-0030", "079-0112"}
    with pytest.raises(StationRegisterError, match="row 4: name is empty"):
        install_register(bad, home)
    assert set(load_register(home)) == {"001-0030", "079-0112"}
    assert stat.S_IMODE((home / "stations.csv").stat().st_mode) == 0o600
    with pytest.raises(StationRegisterError, match="no such file"):
        install_register(tmp_path / "missing.csv", home)
