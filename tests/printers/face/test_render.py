"""The card faces: a real ReportLab PDF, read back with pdfium, poppler and zxing-cpp.

Two ID-1 pages per card; Vietnamese text with its diacritics comes back out of the PDF's
text layer; the QR code, rasterised and decoded, says what ``qr_payload`` says; every
font is embedded.
"""

from __future__ import annotations

import dataclasses
import io
import subprocess
from datetime import date
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp

from line.card import ISSUER, CardData
from printers.face.fonts import FontMissing, font_files, register_fonts
from printers.face.render import (
    FaceRenderError,
    mrz_font_size,
    qr_matrix,
    qr_payload,
    render_card,
    render_cards,
)
from printers.mrz import mrz_lines
from tests.factories import card_for, photo_file

ID1_POINTS = (85.60 / 25.4 * 72, 53.98 / 25.4 * 72)  # 242.65 x 153.01 pt


@pytest.fixture
def tuyet(tmp_path: Path) -> CardData:
    return card_for(
        1,
        photo_file(tmp_path, "tuyet.jpg"),
        id_number="079301123456",
        full_name="Nguyễn Thị Ánh Tuyết",
        date_of_birth=date(2001, 5, 17),
        sex="F",
        place_of_origin="xã Quỳnh Lưu, Nghệ An",
        place_of_residence="Số 12 Phan Đình Phùng, phường Hàng Trống, Thành phố Hà Nội",
        old_id_number="123456789",
        expiry_date=date(2026, 5, 17),
    )


def page_texts(pdf: bytes | Path) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    try:
        return [
            document[i].get_textpage().get_text_bounded().replace("\r\n", "\n")
            for i in range(len(document))
        ]
    finally:
        document.close()


def test_two_id1_pages_per_card_in_order(tmp_path: Path) -> None:
    photos = [photo_file(tmp_path, "a.jpg", seed=1), photo_file(tmp_path, "b.png", seed=2)]
    cards = [card_for(seed, photos[seed % 2]) for seed in range(3)]
    out = tmp_path / "batch.pdf"
    pages = render_cards(cards, out)
    assert pages == [(0, 1), (2, 3), (4, 5)]
    document = pdfium.PdfDocument(out)
    assert len(document) == 6
    for index in range(6):
        width, height = document[index].get_size()
        assert width == pytest.approx(ID1_POINTS[0], abs=0.01)
        assert height == pytest.approx(ID1_POINTS[1], abs=0.01)
    texts = page_texts(out)
    for card, (front, back) in zip(cards, pages, strict=True):
        assert card.id_number in texts[front]
        assert mrz_lines(card)[2] in texts[back]
    document.close()


def test_vietnamese_text_survives_with_its_diacritics(tuyet: CardData) -> None:
    front, back = page_texts(render_card(tuyet))
    assert "NGUYỄN THỊ ÁNH TUYẾT" in front  # names are printed in capitals, as on the card
    assert "Nguyễn Thị Ánh Tuyết".upper() == "NGUYỄN THỊ ÁNH TUYẾT"
    assert "xã Quỳnh Lưu, Nghệ An" in front
    # The residence wraps onto two lines where it must.
    assert tuyet.place_of_residence in front.replace("\n", " ")
    for heading in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "CĂN CƯỚC CÔNG DÂN",
        "Họ và tên / Full name:",
        "Nơi thường trú / Place of residence:",
    ):
        assert heading in front
    assert "17/05/2001" in front and "17/05/2026" in front and "Nữ" in front
    assert "01/11/2026" in back and "Ngón trỏ trái" in back
    assert " ".join(ISSUER.split()[:3]) in back
    for line in mrz_lines(tuyet):
        assert line in back.split("\n")


def test_card_without_expiry_says_so(tmp_path: Path) -> None:
    card = card_for(5, photo_file(tmp_path), date_of_birth=date(1950, 1, 2), expiry_date=None)
    front, back = page_texts(render_card(card))
    assert "Không thời hạn" in front
    assert mrz_lines(card)[1] in back


def test_qr_code_decodes_to_the_payload(tuyet: CardData) -> None:
    document = pdfium.PdfDocument(render_card(tuyet))
    image = document[0].render(scale=300 / 72).to_pil()
    found = zxingcpp.read_barcodes(image)
    document.close()
    assert [(code.format, code.text) for code in found] == [
        (zxingcpp.BarcodeFormat.QRCode, qr_payload(tuyet))
    ]
    assert found[0].ec_level == "M"
    assert found[0].bytes == qr_payload(tuyet).encode("utf-8")  # byte mode, UTF-8
    assert qr_payload(tuyet) == (
        "079301123456|123456789|Nguyễn Thị Ánh Tuyết|17052001|Nữ|"
        "Số 12 Phan Đình Phùng, phường Hàng Trống, Thành phố Hà Nội|01112026"
    )


def test_qr_payload_has_seven_fields_and_an_empty_old_id(tmp_path: Path) -> None:
    card = card_for(7, photo_file(tmp_path), old_id_number=None, sex="M")
    fields = qr_payload(card).split("|")
    assert len(fields) == 7
    assert fields[1] == "" and fields[4] == "Nam"
    assert fields[3] == card.date_of_birth.strftime("%d%m%Y")


def test_qr_symbol_uses_level_m_and_a_valid_mask() -> None:
    # Format information next to the top-left finder (ISO/IEC 18004 7.9): 15 bits, XOR
    # 101010000010010; its top 5 bits are the error correction level (M = 00) and the mask.
    matrix = qr_matrix("079301123456||Nguyễn Thị Ánh Tuyết|17052001|Nữ|Hà Nội|01112026")
    cells = [(x, 8) for x in range(6)] + [(7, 8), (8, 8), (8, 7)]
    cells += [(8, y) for y in range(5, -1, -1)]
    bits = 0
    for x, y in cells:
        bits = (bits << 1) | matrix[y][x]
    fmt = bits ^ 0b101010000010010
    assert (fmt >> 13) & 0b11 == 0b00  # level M
    assert 0 <= (fmt >> 10) & 0b111 <= 7  # the mask the encoder chose by the penalty rules
    # The same 15 bits are repeated by the other finders: both copies must agree.
    other = [(8, y) for y in range(len(matrix) - 1, len(matrix) - 8, -1)]
    other += [(x, 8) for x in range(len(matrix) - 8, len(matrix))]
    copy = 0
    for x, y in other:
        copy = (copy << 1) | matrix[y][x]
    assert copy == bits


def test_every_font_is_embedded(tuyet: CardData, tmp_path: Path) -> None:
    pdf = tmp_path / "card.pdf"
    pdf.write_bytes(render_card(tuyet))
    listing = subprocess.run(
        ["pdffonts", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert len(listing) >= 3  # sans, bold, OCR-B (ReportLab may split a font in subsets)
    families = " ".join(row.split()[0] for row in listing)
    assert "DejaVuSans" in families and "DejaVuSans-Bold" in families and "OCR" in families
    for row in listing:
        columns = row.split()
        emb = columns[-5]  # name type [encoding] emb sub uni object ID
        assert emb == "yes", row


def test_jpeg_and_png_photos_are_placed(tmp_path: Path) -> None:
    for name in ("p.jpg", "p.png"):
        card = card_for(3, photo_file(tmp_path, name))
        document = pdfium.PdfDocument(render_card(card))
        images = [obj for obj in document[0].get_objects(max_depth=2) if obj.type == 3]
        assert len(images) == 1, name  # FPDF_PAGEOBJ_IMAGE
        assert images[0].get_px_size() == (240, 320)
        document.close()


def test_a_photo_with_an_exif_rotation_is_printed_upright(tmp_path: Path) -> None:
    """A camera's JPEG stored sideways with EXIF orientation 6 (turn 90 degrees clockwise):
    intake judges it upright (line.portrait), DG2 stores it upright, so does the face."""
    import io

    from PIL import Image

    upright = Image.open(photo_file(tmp_path, "upright.jpg"))
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # as the sensor wrote it
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    sideways.save(out, format="JPEG", exif=exif.tobytes())
    path = tmp_path / "sideways.jpg"
    path.write_bytes(out.getvalue())
    document = pdfium.PdfDocument(render_card(card_for(3, path)))
    images = [obj for obj in document[0].get_objects(max_depth=2) if obj.type == 3]
    assert images[0].get_px_size() == (240, 320)  # upright, not 320 x 240
    document.close()


def test_an_unreadable_photo_is_a_typed_error(tmp_path: Path) -> None:
    card = card_for(4, tmp_path / "missing.jpg")
    with pytest.raises(FaceRenderError) as caught:
        render_cards([card], io.BytesIO())
    assert caught.value.reason_code == "print.photo_unreadable"
    assert caught.value.card_serial == card.card_serial
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    with pytest.raises(FaceRenderError):
        render_cards([dataclasses.replace(card, photo_path=broken)], io.BytesIO())


def test_a_missing_font_names_its_debian_package(tmp_path: Path) -> None:
    with pytest.raises(FontMissing) as caught:
        font_files(dejavu_dir=tmp_path)
    assert "fonts-dejavu-core" in str(caught.value)
    with pytest.raises(FontMissing) as caught:
        font_files(ocrb_path=tmp_path / "OCRB.otf")
    assert caught.value.package == "fonts-ocr-b"


def test_fonts_register_once_and_ocr_b_keeps_the_icao_pitch() -> None:
    from reportlab.pdfbase import pdfmetrics

    names = register_fonts()
    assert register_fonts() is names
    registered = pdfmetrics.getRegisteredFontNames()
    assert all(registered.count(n) == 1 for n in (names.sans, names.bold, names.mrz))
    # ICAO 9303: MRZ characters at 2.54 mm pitch; 30 of them span 76.2 mm.
    for text in ("<" * 30, "IDVNM0123456789ABCDEFGHIJKLMNO", "W" * 30):
        width_mm = pdfmetrics.stringWidth(text, names.mrz, mrz_font_size(names)) / 72 * 25.4
        assert width_mm == pytest.approx(76.2, abs=0.01)
