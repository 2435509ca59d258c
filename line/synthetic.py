"""Synthetic, realistic applications for the demo, the tests and the benchmarks.

Everything comes from the ``random.Random`` handed in: the same seed gives the same
people. Names and places are Vietnamese with diacritics; ID numbers agree with the date
of birth, sex and a province; photos are small generated portraits (no real person).
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from line.files import open_private, private_dir, write_private
from line.idnumber import Sex, make_id_number
from line.intake import FIELDS
from line.provinces import PROVINCES

SURNAMES = (
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
    "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý",
)  # fmt: skip
MIDDLE_MALE = ("Văn", "Hữu", "Đức", "Minh", "Quang", "Công", "Thành", "Xuân", "Gia")
MIDDLE_FEMALE = ("Thị", "Ngọc", "Thu", "Thanh", "Kim", "Mỹ", "Bảo", "Diệu", "Khánh")
GIVEN_MALE = (
    "Anh", "Hùng", "Dũng", "Tuấn", "Long", "Hải", "Khoa", "Đạt", "Phúc", "Thắng", "Việt",
    "Quân", "Huy", "Sơn", "Trung", "Cường", "Nam", "Bình", "Lộc", "Tài",
)  # fmt: skip
GIVEN_FEMALE = (
    "Ánh Tuyết", "Hương", "Lan", "Phương", "Thảo", "Trang", "Nga", "Yến", "Quỳnh", "Nhung",
    "Hà", "Linh", "Mai", "Hằng", "Vy", "Châu", "Ngân", "Oanh", "Thuỷ", "Diệp",
)  # fmt: skip
STREETS = (
    "Lê Lợi", "Trần Hưng Đạo", "Nguyễn Huệ", "Hai Bà Trưng", "Lý Thường Kiệt", "Hàng Bạc",
    "Điện Biên Phủ", "Võ Thị Sáu", "Phan Đình Phùng", "Nguyễn Trãi", "Bạch Đằng",
)  # fmt: skip
WARDS = ("Bến Nghé", "Hàng Trống", "Phước Long", "Tân Định", "Yên Phụ", "Cửa Nam", "An Hải Bắc")
COMMUNES = ("Yên Phong", "Đông Hưng", "Tiên Lữ", "Quỳnh Lưu", "Hoà Vang", "Cái Bè", "Mỹ Tho")

# Where applications come from: weighted towards the big cities, as in 2021.
HOME_PROVINCES = ("079", "001", "031", "048", "092", "074", "075", "040", "038", "046", "066")
HOME_WEIGHTS = (30, 25, 6, 5, 4, 6, 6, 5, 5, 4, 4)
PRIORITY_GROUPS = ("elderly", "election", "student")


@dataclass(frozen=True, slots=True)
class SyntheticApplication:
    id_number: str
    full_name: str
    date_of_birth: date
    sex: Sex
    nationality: str
    place_of_origin: str
    place_of_residence: str
    old_id_number: str
    photo: str
    destination: str
    priority_group: str
    due_date: str

    def row(self) -> dict[str, str]:
        return {
            "id_number": self.id_number,
            "full_name": self.full_name,
            "date_of_birth": self.date_of_birth.isoformat(),
            "sex": self.sex,
            "nationality": self.nationality,
            "place_of_origin": self.place_of_origin,
            "place_of_residence": self.place_of_residence,
            "old_id_number": self.old_id_number,
            "photo": self.photo,
            "destination": self.destination,
            "priority_group": self.priority_group,
            "due_date": self.due_date,
        }


def person(rng: random.Random, *, today: date, photo: str) -> SyntheticApplication:
    """One realistic applicant aged 14 to 90."""
    sex: Sex = rng.choice(("M", "F"))
    if sex == "M":
        name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE_MALE)} {rng.choice(GIVEN_MALE)}"
    else:
        name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE_FEMALE)} {rng.choice(GIVEN_FEMALE)}"
    age_days = rng.randrange(14 * 366, 90 * 365)
    dob = today - timedelta(days=age_days)
    birth_province = rng.choices(HOME_PROVINCES, HOME_WEIGHTS)[0]
    home = birth_province if rng.random() < 0.7 else rng.choices(HOME_PROVINCES, HOME_WEIGHTS)[0]
    residence = (
        f"Số {rng.randrange(1, 300)} {rng.choice(STREETS)}, phường {rng.choice(WARDS)}, "
        f"{PROVINCES[home]}"
    )
    origin = f"xã {rng.choice(COMMUNES)}, {PROVINCES[birth_province]}"
    due = ""
    if rng.random() < 0.2:
        due = (today + timedelta(days=rng.randrange(7, 90))).isoformat()
    return SyntheticApplication(
        id_number=make_id_number(birth_province, dob, sex, rng),
        full_name=name,
        date_of_birth=dob,
        sex=sex,
        nationality="Việt Nam",
        place_of_origin=origin,
        place_of_residence=residence,
        old_id_number=f"{rng.randrange(10**9):09d}" if rng.random() < 0.6 else "",
        photo=photo,
        destination=f"{home}-{rng.randrange(1, 92):04d}",
        priority_group=rng.choice(PRIORITY_GROUPS) if rng.random() < 0.1 else "",
        due_date=due,
    )


def people(
    rng: random.Random, count: int, *, today: date, photos: list[str]
) -> Iterator[SyntheticApplication]:
    for index in range(count):
        yield person(rng, today=today, photo=photos[index % len(photos)])


def portrait(rng: random.Random, *, fmt: str = "JPEG") -> bytes:
    """A small synthetic passport-style portrait (head and shoulders on a plain background)."""
    from PIL import Image, ImageDraw

    width, height = 240, 320
    background = tuple(rng.randrange(215, 250) for _ in range(3))
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    skin = (rng.randrange(180, 240), rng.randrange(140, 200), rng.randrange(110, 170))
    hair = tuple(rng.randrange(10, 60) for _ in range(3))
    shirt = tuple(rng.randrange(20, 200) for _ in range(3))
    draw.ellipse((30, 230, 210, 400), fill=shirt)
    draw.rectangle((100, 190, 140, 245), fill=skin)
    draw.ellipse((70, 60, 170, 200), fill=skin)
    draw.chord((66, 50, 174, 150), 180, 360, fill=hair)
    for eye_x in (97, 133):
        draw.ellipse((eye_x - 6, 115, eye_x + 6, 123), fill=(40, 30, 30))
    draw.arc((100, 150, 140, 175), 20, 160, fill=(120, 60, 60), width=3)
    out = io.BytesIO()
    image.save(out, format=fmt, quality=85) if fmt == "JPEG" else image.save(out, format=fmt)
    return out.getvalue()


def write_photos(rng: random.Random, directory: Path, count: int) -> list[str]:
    """``count`` portraits (JPEG, every fifth a PNG) in ``directory``; returns file names.
    Like every file of applicants, owner-only (directory 0700, files 0600)."""
    private_dir(directory)
    names = []
    for index in range(count):
        fmt = "PNG" if index % 5 == 4 else "JPEG"
        name = f"photo-{index:05d}.{'png' if fmt == 'PNG' else 'jpg'}"
        write_private(directory / name, portrait(rng, fmt=fmt))
        names.append(name)
    return names


def write_csv(path: Path, rows: Iterator[dict[str, str]] | list[dict[str, str]]) -> int:
    count = 0
    with open_private(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_jsonl(path: Path, rows: Iterator[dict[str, str]] | list[dict[str, str]]) -> int:
    count = 0
    with open_private(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def spoil(
    rng: random.Random, good: SyntheticApplication, kind: str, *, today: date
) -> dict[str, str]:
    """A deliberately bad row made from a good one; ``kind`` names what is wrong."""
    row = good.row()
    if kind == "century_sex":
        digit = int(good.id_number[3])
        row["id_number"] = good.id_number[:3] + str(digit ^ 1) + good.id_number[4:]
    elif kind == "birth_year":
        yy = (int(good.id_number[4:6]) + 1) % 100
        row["id_number"] = f"{good.id_number[:4]}{yy:02d}{good.id_number[6:]}"
    elif kind == "future_birth":
        row["date_of_birth"] = (today + timedelta(days=30)).isoformat()
    elif kind == "bad_date":
        row["date_of_birth"] = f"{good.date_of_birth.year}-02-30"
    elif kind == "missing_photo":
        row["photo"] = "photos/does-not-exist.jpg"
    elif kind == "bad_destination":
        row["destination"] = "79-112"
    elif kind == "bad_sex":
        row["sex"] = "X"
    elif kind == "short_id":
        row["id_number"] = good.id_number[:11]
    elif kind == "missing_name":
        row["full_name"] = ""
    else:
        raise ValueError(f"unknown kind of bad row {kind!r}")
    return row


BAD_KINDS = (
    "century_sex",
    "birth_year",
    "future_birth",
    "bad_date",
    "missing_photo",
    "bad_destination",
    "bad_sex",
    "short_id",
    "missing_name",
)


def with_replaced(app: SyntheticApplication, **changes: object) -> SyntheticApplication:
    return replace(app, **changes)  # type: ignore[arg-type]
