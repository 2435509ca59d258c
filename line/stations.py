"""The centre's register of police stations: the names behind the destination codes.

An application names the station where the citizen applied by its code (``079-0112``: a
province code and a 4-digit station number); its card travels there in a dispatch batch,
and the manifest that goes with the parcel names the station in words. The centre loads
its register (``cardline station load FILE``: a CSV with ``code,name`` and optionally
``address``), checked whole before it replaces the one in use (a file with any bad row
changes nothing); it is kept as ``stations.csv`` in the cardline home. A code missing from
the register is dispatched all the same and said so on the manifest.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from line.errors import CardlineError
from line.files import write_private
from line.provinces import PROVINCES

REGISTER_FILE = "stations.csv"
DESTINATION_RE = re.compile(r"([0-9]{3})-([0-9]{4})")  # [0-9], never \d: ASCII digits only
MAX_NAME = 120
MAX_ADDRESS = 250
MAX_BYTES = 10_000_000  # a national register is ~10,000 rows: well under 2 MB
MAX_PROBLEMS = 10  # named in one error; the count says how many more


class StationRegisterError(CardlineError):
    """A station register that cannot be used: each bad row named with its field."""


@dataclass(frozen=True, slots=True)
class Station:
    code: str
    name: str
    address: str = ""

    def label(self) -> str:
        return f"{self.name}, {self.address}" if self.address else self.name


def destination_problem(code: str) -> str | None:
    """Why ``code`` is not a destination code (None when it is one)."""
    match = DESTINATION_RE.fullmatch(code)
    if match is None:
        return "must be a province code, a dash and a 4-digit station code (079-0112)"
    if match.group(1) not in PROVINCES:
        return f"{match.group(1)} is not a province code"
    return None


def _text_problem(value: str, limit: int) -> str | None:
    if len(value) > limit:
        return f"is longer than {limit} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "holds control characters"
    return None


def _row_problems(row: Mapping[str, str | None], seen: set[str]) -> list[str]:
    code = (row.get("code") or "").strip()
    name = (row.get("name") or "").strip()
    address = (row.get("address") or "").strip()
    problems = []
    if (why := destination_problem(code)) is not None:
        problems.append(f"code {code!r} {why}")
    elif code in seen:
        problems.append(f"code {code} is listed twice")
    if not name:
        problems.append("name is empty")
    elif (why := _text_problem(name, MAX_NAME)) is not None:
        problems.append(f"name {why}")
    if (why := _text_problem(address, MAX_ADDRESS)) is not None:
        problems.append(f"address {why}")
    return problems


def parse_register(text: str, *, source: str) -> dict[str, Station]:
    """Every station of a register file, or a ``StationRegisterError`` naming the bad rows."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    if "code" not in header or "name" not in header:
        raise StationRegisterError(
            f"{source}: the header must name the columns code and name (and optionally "
            f"address); it has {', '.join(header) or 'nothing'}"
        )
    reader.fieldnames = header
    stations: dict[str, Station] = {}
    problems: list[str] = []
    for number, row in enumerate(reader, start=2):
        found = _row_problems(row, set(stations))
        if found:
            problems += [f"row {number}: {why}" for why in found]
            continue
        code = (row["code"] or "").strip()
        stations[code] = Station(
            code, (row["name"] or "").strip(), (row.get("address") or "").strip()
        )
    if problems:
        more = len(problems) - MAX_PROBLEMS
        shown = "; ".join(problems[:MAX_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
        raise StationRegisterError(f"{source}: nothing loaded: {shown}")
    if not stations:
        raise StationRegisterError(f"{source}: no stations in it")
    return stations


def register_path(home: Path) -> Path:
    return home / REGISTER_FILE


def load_register(home: Path) -> dict[str, Station]:
    """The register in use ({} when the centre has loaded none)."""
    path = register_path(home)
    if not path.is_file():
        return {}
    return parse_register(path.read_text(encoding="utf-8"), source=str(path))


def install_register(source: Path, home: Path) -> dict[str, Station]:
    """Check ``source`` whole, then make it the register in use (atomically)."""
    try:
        if source.stat().st_size > MAX_BYTES:
            raise StationRegisterError(
                f"{source}: larger than {MAX_BYTES // 1_000_000} MB: not a station register"
            )
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise StationRegisterError(f"{source}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise StationRegisterError(f"{source}: cannot be read as UTF-8 text ({exc})") from exc
    stations = parse_register(text, source=str(source))
    write_private(register_path(home), text.encode("utf-8"))
    return stations


def station_label(register: Mapping[str, Station], code: str) -> str:
    """What a manifest says of a destination: its name, or that the register lacks it."""
    station = register.get(code)
    return station.label() if station is not None else "not in the centre's station register"
