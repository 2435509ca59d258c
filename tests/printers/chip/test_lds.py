"""BER-TLV and the LDS data groups: golden bytes, round trips, strict parsing, and OpenSSL's
reading of the DER ones as independent evidence."""

from __future__ import annotations

import contextlib
import io
import random
import shutil
import struct
import subprocess
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from line.card import CardData
from line.synthetic import portrait
from printers.chip import lds, tlv

SPECIMEN_MRZ = (
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
)
VIETNAMESE = "aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐÊÔƠƯàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ ,-/0123456789"


def openssl_asn1parse(data: bytes, tmp_path: Path) -> str:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed for the independent check", pytrace=False)
    path = tmp_path / "object.der"
    path.write_bytes(data)
    result = subprocess.run(
        [openssl, "asn1parse", "-inform", "DER", "-i", "-in", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- TLV ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "length", "header"),
    [
        (0x61, 0, "6100"),
        (0x5F1F, 90, "5F1F5A"),
        (0x7F61, 127, "7F617F"),
        (0x5F2E, 128, "5F2E8180"),
        (0x75, 255, "7581FF"),
        (0x75, 256, "75820100"),
        (0x75, 65535, "7582FFFF"),
        (0x75, 65536, "7583010000"),
        (0x5F8101, 1, "5F810101"),
    ],
)
def test_encoding_uses_the_shortest_length_form(tag: int, length: int, header: str) -> None:
    encoded = tlv.encode(tag, bytes(length))
    assert encoded.hex().upper().startswith(header)
    assert len(encoded) == len(header) // 2 + length
    assert tlv.decode(encoded) == [tlv.Tlv(tag, bytes(length))]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("6180", "tlv.length"),  # indefinite length
        ("618400000001", "tlv.length"),  # four length bytes
        ("6102aa", "tlv.truncated"),
        ("5F", "tlv.truncated"),
        ("5F81", "tlv.truncated"),
        ("6182", "tlv.truncated"),
        ("61", "tlv.truncated"),
        ("0000", "tlv.tag"),  # padding
        ("FF00", "tlv.tag"),
        ("5F800100", "tlv.tag"),  # tag number with a leading zero
        ("5F81818100", "tlv.tag"),  # four tag bytes
    ],
)
def test_decoding_is_strict(data: str, reason: str) -> None:
    with pytest.raises(tlv.TlvError) as caught:
        tlv.decode(bytes.fromhex(data))
    assert caught.value.reason_code == reason


def test_a_single_object_has_the_tag_asked_for_and_nothing_after_it() -> None:
    assert tlv.decode_single(bytes.fromhex("6101aa"), 0x61) == b"\xaa"
    with pytest.raises(tlv.TlvError, match="expected tag 0x75") as caught:
        tlv.decode_single(bytes.fromhex("6101aa"), 0x75)
    assert caught.value.reason_code == "tlv.unexpected_tag"
    with pytest.raises(tlv.TlvError) as caught:
        tlv.decode_single(bytes.fromhex("6101aa00"), 0x61)
    assert caught.value.reason_code == "tlv.trailing"


def test_long_form_lengths_that_fit_a_shorter_form_are_accepted_as_ber_allows() -> None:
    assert tlv.decode(bytes.fromhex("618101aa")) == [tlv.Tlv(0x61, b"\xaa")]


@pytest.mark.parametrize("tag", [0, 0x1F, 0x5F80, 0x5F81, 0x015F, 0xFF, -1, 0x5F818181])
def test_invalid_tags_are_not_encoded(tag: int) -> None:
    with pytest.raises(tlv.TlvError):
        tlv.encode(tag, b"")


ONE_BYTE_TAGS = [b for b in range(0x01, 0xFF) if b & 0x1F != 0x1F]
FIRST_OF_LONGER_TAGS = [b for b in range(0x01, 0xFF) if b & 0x1F == 0x1F]
tags = st.one_of(
    st.sampled_from(ONE_BYTE_TAGS),
    st.tuples(st.sampled_from(FIRST_OF_LONGER_TAGS), st.integers(0x01, 0x7F)).map(
        lambda t: t[0] << 8 | t[1]
    ),
    st.tuples(
        st.sampled_from(FIRST_OF_LONGER_TAGS), st.integers(0x81, 0xFF), st.integers(0, 0x7F)
    ).map(lambda t: t[0] << 16 | t[1] << 8 | t[2]),
)


@given(st.lists(st.tuples(tags, st.binary(max_size=300)), max_size=8))
def test_decode_inverts_encode(objects: list[tuple[int, bytes]]) -> None:
    encoded = tlv.encode_all(objects)
    assert [(item.tag, item.value) for item in tlv.decode(encoded)] == objects


@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_a_tlv_error(data: bytes) -> None:
    try:
        objects = tlv.decode(data)
    except tlv.TlvError:
        return
    assert sum(len(tlv.encode(o.tag, o.value)) for o in objects) <= len(data)


def test_constructed_tags_are_told_apart() -> None:
    assert tlv.is_constructed(0x7F61) and tlv.is_constructed(0x61)
    assert not tlv.is_constructed(0x5F1F) and not tlv.is_constructed(0x02)


# --- EF.COM and DG1 -------------------------------------------------------------------------


def test_ef_com_lists_the_versions_and_the_tags_of_the_data_groups() -> None:
    data = lds.ef_com([13, 1, 2])
    assert data.hex().upper() == (
        "6015" "5F0104" "30313037" "5F3606" "303430303030" "5C03" "61756D"
    )  # fmt: skip
    assert lds.parse_ef_com(data) == lds.EfCom("0107", "040000", (1, 2, 13))


def test_ef_com_refuses_data_groups_that_do_not_exist() -> None:
    with pytest.raises(lds.LdsError):
        lds.ef_com([1, 17])


@pytest.mark.parametrize(
    "data",
    [
        "6100",
        "61155F0104303130375F36063034303030305C0361756D",  # not EF.COM's tag
        "60125F0104303130375F36063034303030305C000000",  # trailing padding
        "60155F0104303130375F36063034303030305C03617571",  # 71 is no DG tag
        "60155F0104303130375F36063034303030305C03616161",  # repeated
        "60105F36063034303030305F0104303130375C00",  # wrong order
    ],
)
def test_ef_com_parsing_is_strict(data: str) -> None:
    with pytest.raises(lds.LdsError) as caught:
        lds.parse_ef_com(bytes.fromhex(data))
    assert caught.value.data_group == "EF.COM"


def test_dg1_holds_the_90_characters_of_the_td1_mrz() -> None:
    data = lds.dg1(SPECIMEN_MRZ)
    assert data[:5] == bytes.fromhex("615D5F1F5A")
    assert data[5:] == "".join(SPECIMEN_MRZ).encode("ascii")
    assert lds.parse_dg1(data) == SPECIMEN_MRZ


@pytest.mark.parametrize(
    "lines",
    [
        (SPECIMEN_MRZ[0][:29], SPECIMEN_MRZ[1], SPECIMEN_MRZ[2]),
        (SPECIMEN_MRZ[0], SPECIMEN_MRZ[1], SPECIMEN_MRZ[2].lower()),
        (SPECIMEN_MRZ[0], SPECIMEN_MRZ[1], "NGUYỄN<<" + "<" * 22),
    ],
)
def test_dg1_refuses_what_is_not_a_td1_mrz(lines: tuple[str, str, str]) -> None:
    with pytest.raises(lds.LdsError) as caught:
        lds.dg1(lines)
    assert caught.value.reason_code == "lds.dg1.mrz"
    assert "ERIKSSON" not in str(caught.value).upper()  # no personal data in messages


def test_dg1_parsing_refuses_a_truncated_mrz() -> None:
    short = tlv.encode(0x61, tlv.encode(0x5F1F, "".join(SPECIMEN_MRZ)[:88].encode()))
    with pytest.raises(lds.LdsError):
        lds.parse_dg1(short)


mrz_lines = st.tuples(
    *[st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<", min_size=30, max_size=30)] * 3
)  # noqa: E501


@given(mrz_lines)
def test_dg1_round_trips(lines: tuple[str, str, str]) -> None:
    assert lds.parse_dg1(lds.dg1(lines)) == lines


# --- DG2 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_jpeg(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int, int]:
    path = tmp_path_factory.mktemp("photo") / "photo.jpg"
    path.write_bytes(portrait(random.Random(7), fmt="JPEG"))
    return lds.photo_to_jpeg(path)


def test_dg2_is_a_biometric_template_around_an_iso_19794_5_record(
    photo_jpeg: tuple[bytes, int, int],
) -> None:
    jpeg, width, height = photo_jpeg
    data = lds.dg2(jpeg, width=width, height=height, sex="F")

    (group,) = tlv.decode_children(tlv.decode_single(data, 0x75), [0x7F61])
    count, template = tlv.decode_children(group, [0x02, 0x7F60])
    assert count == b"\x01"
    header, record = tlv.decode_children(template, [0xA1, 0x5F2E])
    assert [(o.tag, o.value.hex()) for o in tlv.decode(header)] == [
        (0x80, "0101"),  # ICAO header version
        (0x81, "02"),  # facial features
        (0x82, "00"),  # no subtype
        (0x87, "0101"),  # format owner ISO/IEC JTC 1/SC 37
        (0x88, "0008"),  # format type: 19794-5 face
    ]
    assert record[:8] == b"FAC\x00010\x00"
    record_length, faces = struct.unpack(">IH", record[8:14])
    assert (record_length, faces) == (len(record), 1)
    facial_length, points, gender = struct.unpack(">IHB", record[14:21])
    assert (facial_length, points, gender) == (20 + 12 + len(jpeg), 0, 2)
    image_info = struct.unpack(">BBHHBBHH", record[34:46])
    assert image_info == (1, 0, width, height, 1, 1, 0, 0)
    assert record[46:] == jpeg


def test_dg2_round_trips(photo_jpeg: tuple[bytes, int, int]) -> None:
    jpeg, width, height = photo_jpeg
    data = lds.dg2(jpeg, width=width, height=height)
    assert lds.parse_dg2(data) == jpeg
    record = lds.parse_dg2_record(data)
    assert (record.width, record.height, record.gender, record.face_count) == (240, 320, 0, 1)
    assert str(len(jpeg)) in repr(record) and "FAC" not in repr(record)


def test_dg2_parsing_refuses_jpeg_2000_and_broken_records(
    photo_jpeg: tuple[bytes, int, int],
) -> None:
    jpeg, width, height = photo_jpeg
    good = lds.dg2(jpeg, width=width, height=height)
    offset = good.index(b"FAC\x00") + 35  # image data type
    jpeg2000 = good[:offset] + b"\x01" + good[offset + 1 :]
    with pytest.raises(lds.LdsError) as caught:
        lds.parse_dg2(jpeg2000)
    assert caught.value.reason_code == "lds.dg2.image_type"
    record_at = good.index(b"FAC\x00")
    wrong_version = good[: record_at + 4] + b"020\x00" + good[record_at + 8 :]
    with pytest.raises(lds.LdsError):
        lds.parse_dg2(wrong_version)
    with pytest.raises(lds.LdsError):
        lds.parse_dg2(good[:-1])


@given(st.binary(max_size=200))
def test_parsers_raise_only_lds_errors(data: bytes) -> None:
    for parse in (lds.parse_ef_com, lds.parse_dg1, lds.parse_dg2, lds.parse_dg13):
        with contextlib.suppress(lds.LdsError):
            parse(data)


def test_photo_to_jpeg_makes_a_small_baseline_portrait(
    photo_jpeg: tuple[bytes, int, int],
) -> None:
    jpeg, width, height = photo_jpeg
    assert (width, height) == (240, 320)
    assert len(jpeg) <= lds.PORTRAIT_MAX_BYTES
    assert b"\xff\xc0" in jpeg and b"\xff\xc2" not in jpeg  # SOF0 baseline, no progressive
    assert b"Exif" not in jpeg
    with Image.open(io.BytesIO(jpeg)) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (240, 320))


def test_photo_to_jpeg_flattens_png_transparency_and_crops_to_portrait(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGBA", (800, 400), (0, 0, 0, 0)).save(path)
    jpeg, width, height = lds.photo_to_jpeg(path)
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.size == (width, height) == (240, 320)
        darkest, _ = image.convert("L").getextrema()
        assert isinstance(darkest, int) and darkest > 240  # transparent became white


def test_photo_to_jpeg_turns_the_photo_upright(tmp_path: Path) -> None:
    path = tmp_path / "sideways.jpg"
    sideways = Image.new("RGB", (400, 300), (255, 255, 255))
    sideways.paste((0, 0, 0), (0, 0, 200, 300))  # left half black
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    sideways.save(path, exif=exif)
    jpeg, _, _ = lds.photo_to_jpeg(path)
    with Image.open(io.BytesIO(jpeg)) as image:
        grey = image.convert("L")
        top, bottom = grey.getpixel((120, 20)), grey.getpixel((120, 300))
        assert isinstance(top, int) and isinstance(bottom, int)
        assert top < 40 and bottom > 215  # the black half is on top


def test_photo_to_jpeg_tunes_quality_down_to_fit(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    rng = random.Random(3)
    Image.frombytes("RGB", (240, 320), rng.randbytes(240 * 320 * 3)).save(path)
    best, _, _ = lds.photo_to_jpeg(path, max_bytes=10**9)
    fitted, _, _ = lds.photo_to_jpeg(path, max_bytes=len(best) - 1)
    assert len(fitted) < len(best)


def test_photo_to_jpeg_refuses_what_is_not_a_photo_without_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nguyen-van-a.jpg"
    path.write_bytes(b"not an image")
    with pytest.raises(lds.LdsError) as caught:
        lds.photo_to_jpeg(path)
    assert caught.value.reason_code == "lds.photo"
    assert "nguyen" not in str(caught.value)
    gif = tmp_path / "photo.gif"
    Image.new("RGB", (10, 10)).save(gif)
    with pytest.raises(lds.LdsError, match="GIF"):
        lds.photo_to_jpeg(gif)


# --- DG13 -----------------------------------------------------------------------------------

CITIZEN = lds.national_data(
    id_number="079301001234",
    full_name="Nguyễn Thị Ánh Tuyết",
    date_of_birth=date(2001, 2, 28),
    sex="F",
    nationality="Việt Nam",
    place_of_origin="Xã Yên Phong, Huyện Yên Phong, Bắc Ninh",
    place_of_residence="12 Hàng Bạc, Phường Hàng Trống, Quận Hoàn Kiếm, Hà Nội",
    issue_date=date(2021, 4, 27),
    expiry_date=date(2026, 2, 28),
    old_id_number="025123456",
)


def test_dg13_holds_the_national_data_as_the_card_prints_it() -> None:
    assert CITIZEN == {
        "id_number": "079301001234",
        "full_name": "Nguyễn Thị Ánh Tuyết",
        "date_of_birth": "28/02/2001",
        "sex": "Nữ",
        "nationality": "Việt Nam",
        "place_of_origin": "Xã Yên Phong, Huyện Yên Phong, Bắc Ninh",
        "place_of_residence": "12 Hàng Bạc, Phường Hàng Trống, Quận Hoàn Kiếm, Hà Nội",
        "issue_date": "27/04/2021",
        "expiry_date": "28/02/2026",
        "old_id_number": "025123456",
    }
    data = lds.dg13(
        id_number="079301001234",
        full_name="Nguyễn Thị Ánh Tuyết",
        date_of_birth=date(2001, 2, 28),
        sex="F",
        nationality="Việt Nam",
        place_of_origin="Xã Yên Phong, Huyện Yên Phong, Bắc Ninh",
        place_of_residence="12 Hàng Bạc, Phường Hàng Trống, Quận Hoàn Kiếm, Hà Nội",
        issue_date=date(2021, 4, 27),
        expiry_date=date(2026, 2, 28),
        old_id_number="025123456",
    )
    assert data == lds.encode_dg13(CITIZEN)
    assert lds.parse_dg13(data) == CITIZEN


def test_dg13_layout_is_one_der_value_openssl_reads(tmp_path: Path) -> None:
    data = lds.encode_dg13({"id_number": "079301001234", "full_name": "Lê Văn Đạt"})
    assert data.hex().upper() == (
        "6D2E" "020101" "3029"
        "3011" "020101" "0C0C" + b"079301001234".hex().upper()
        + "3014" "020102" "0C0F" + "Lê Văn Đạt".encode().hex().upper()
    )  # fmt: skip
    parsed = openssl_asn1parse(data, tmp_path)
    assert "appl [ 13 ]" in parsed
    assert parsed.count("UTF8STRING") == 2 and parsed.count("INTEGER") == 3
    assert ":079301001234" in parsed


def test_dg13_leaves_out_what_a_citizen_does_not_have() -> None:
    fields = lds.national_data(
        id_number="079301001234",
        full_name="Lê Văn Đạt",
        date_of_birth=date(1950, 1, 1),
        sex="M",
        nationality="Việt Nam",
        place_of_origin="Hà Nội",
        place_of_residence="Hà Nội",
        issue_date=date(2021, 4, 27),
        expiry_date=None,
        old_id_number=None,
    )
    assert "expiry_date" not in fields and "old_id_number" not in fields
    assert lds.parse_dg13(lds.encode_dg13(fields)) == fields


def test_dg13_of_a_card_record(tmp_path: Path) -> None:
    card = CardData(
        application_id=1,
        card_serial="C0000000001-1",
        id_number="001089000123",
        full_name="Trần Văn Hùng",
        date_of_birth=date(1989, 5, 1),
        sex="M",
        nationality="Việt Nam",
        place_of_origin="Hà Nội",
        place_of_residence="Hà Nội",
        old_id_number=None,
        photo_path=tmp_path / "p.jpg",
        issue_date=date(2021, 4, 1),
        expiry_date=date(2029, 5, 1),
        destination="001-0001",
    )
    fields = lds.national_data_of(card)
    assert fields["sex"] == "Nam" and fields["date_of_birth"] == "01/05/1989"
    assert "old_id_number" not in fields


def test_dg13_refuses_unknown_fields() -> None:
    with pytest.raises(lds.LdsError) as caught:
        lds.encode_dg13({"blood_group": "O"})
    assert caught.value.reason_code == "lds.dg13.field"


def _field(number: bytes, value: bytes, string_tag: int = 0x0C) -> bytes:
    return tlv.encode(0x30, tlv.encode(0x02, number) + tlv.encode(string_tag, value))


def _dg13(*fields: bytes, version: bytes = b"\x01") -> bytes:
    return tlv.encode(0x6D, tlv.encode(0x02, version) + tlv.encode(0x30, b"".join(fields)))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_dg13(version=b"\x02"), "version"),
        (_dg13(_field(b"\x00", b"a")), "ascending"),  # field numbers start at 1
        (_dg13(_field(b"\x01", b"")), "empty"),
        (_dg13(_field(b"\x02", b"a"), _field(b"\x01", b"a")), "ascending"),
        (_dg13(_field(b"\x01", b"a"), _field(b"\x01", b"a")), "ascending"),
        (_dg13(_field(b"\x01", b"\xff")), "UTF-8"),
        (_dg13(_field(b"\x80", b"a")), "INTEGER"),
        (_dg13(_field(b"\x01", b"a", string_tag=0x13)), "expected tags"),  # PrintableString
        (_dg13(tlv.encode(0x02, b"\x01") + tlv.encode(0x0C, b"a")), "SEQUENCE"),
        (tlv.encode(0x6D, tlv.encode(0x02, b"\x01")), "expected tags"),
        (_dg13() + b"\x00", "after tag"),
    ],
)
def test_dg13_parsing_is_strict(data: bytes, message: str) -> None:
    with pytest.raises(lds.LdsError, match=message) as caught:
        lds.parse_dg13(data)
    assert caught.value.data_group == "DG13"


def test_dg13_parsing_skips_field_numbers_it_does_not_know() -> None:
    data = _dg13(_field(b"\x01", b"1"), _field(b"\x7f", b"x"))
    assert lds.parse_dg13(data) == {"id_number": "1"}


vietnamese_text = st.text(alphabet=VIETNAMESE, min_size=1, max_size=120).filter(str.strip)


@given(
    st.dictionaries(st.sampled_from(sorted(lds.DG13_FIELDS)), vietnamese_text, min_size=1),
    st.booleans(),
)
@settings(max_examples=200)
def test_dg13_round_trips_vietnamese_text_in_either_normal_form(
    fields: dict[str, str], decompose: bool
) -> None:
    given_fields = {
        k: unicodedata.normalize("NFD" if decompose else "NFC", v) for k, v in fields.items()
    }  # noqa: E501
    parsed = lds.parse_dg13(lds.encode_dg13(given_fields))
    assert parsed == {k: unicodedata.normalize("NFC", v) for k, v in fields.items()}
