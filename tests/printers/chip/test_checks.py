"""Chip QC: a good chip passes; every kind of bad chip gets its reason code; a chip altered
after signing is rejected every time; nothing a card holds makes QC raise."""

from __future__ import annotations

import io
import random
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from line.synthetic import portrait
from printers import keys
from printers.chip import lds, secinfo, sod
from printers.chip.checks import CHECKS, check_chip

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
AA_KEY = ec.generate_private_key(ec.SECP256R1())
CA_KEY = ec.generate_private_key(ec.SECP256R1())
SIGNED_AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
MRZ = (
    "IDVNM0890001231001089000123<<2",
    "8905013M2905019VNM<<<<<<<<<<<6",
    "NGUYEN<<THI<ANH<TUYET<<<<<<<<<",
)
NATIONAL = lds.national_data(
    id_number="001089000123",
    full_name="Nguyễn Thị Ánh Tuyết",
    date_of_birth=date(1989, 5, 1),
    sex="F",
    nationality="Việt Nam",
    place_of_origin="Xã Yên Phong, Bắc Ninh",
    place_of_residence="12 Hàng Bạc, Phường Hàng Trống, Quận Hoàn Kiếm, Hà Nội",
    issue_date=date(2021, 4, 27),
    expiry_date=date(2029, 5, 1),
    old_id_number="012345678",
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> keys.KeyPaths:
    return keys.init_test_keys(tmp_path_factory.mktemp("pki") / "keys", now=NOW)


@pytest.fixture(scope="module")
def signer(pki: keys.KeyPaths) -> keys.DocumentSigner:
    return keys.load_signer(pki)


@pytest.fixture(scope="module")
def csca(pki: keys.KeyPaths) -> x509.Certificate:
    return keys.load_csca(pki.csca_cert)


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int, int]:
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    path.write_bytes(portrait(random.Random(11), fmt="PNG"))
    return lds.photo_to_jpeg(path)


def make_chip(
    signer: keys.DocumentSigner,
    photo: tuple[bytes, int, int],
    *,
    mrz: tuple[str, str, str] = MRZ,
    national: Mapping[str, str] = NATIONAL,
    listed: tuple[int, ...] = (1, 2, 13, 14, 15),
) -> dict[str, bytes]:
    """The files of a chip personalised as the encoder does it (DG14 and DG15 with the
    public keys of key pairs made for the test, as the chip makes its own)."""
    jpeg, width, height = photo
    groups = {
        1: lds.dg1(mrz),
        2: lds.dg2(jpeg, width=width, height=height, sex="F"),
        13: lds.encode_dg13(national),
        14: secinfo.dg14(CA_KEY.public_key()),
        15: secinfo.dg15(AA_KEY.public_key()),
    }
    return {
        "EF.COM": lds.ef_com(listed),
        **{f"DG{number}": content for number, content in groups.items()},
        "SOD": sod.build_sod(groups, signer, signing_time=SIGNED_AT),
    }


@pytest.fixture(scope="module")
def chip(signer: keys.DocumentSigner, photo: tuple[bytes, int, int]) -> dict[str, bytes]:
    return make_chip(signer, photo)


def qc(
    files: Mapping[str, bytes],
    csca: x509.Certificate,
    *,
    mrz: tuple[str, str, str] = MRZ,
    national: Mapping[str, str] | None = NATIONAL,
) -> list[str]:
    return check_chip(files, csca_cert=csca, expected_mrz=mrz, expected_dg13=national)


def test_a_good_chip_passes(chip: dict[str, bytes], csca: x509.Certificate) -> None:
    assert qc(chip, csca) == []
    assert check_chip(chip, csca_cert=csca, expected_mrz=MRZ, expected_dg13=None) == []


def test_expected_national_data_may_come_decomposed(
    chip: dict[str, bytes], csca: x509.Certificate
) -> None:
    decomposed = {k: unicodedata.normalize("NFD", v) for k, v in NATIONAL.items()}
    assert decomposed != NATIONAL
    assert qc(chip, csca, national=decomposed) == []


def test_another_mrz_is_a_mismatch(chip: dict[str, bytes], csca: x509.Certificate) -> None:
    other = (MRZ[0], MRZ[1], "NGUYEN<<THI<ANH<TUYEN<<<<<<<<<")
    assert qc(chip, csca, mrz=other) == ["qc.dg1.mrz_mismatch"]


def test_other_national_data_is_a_mismatch(chip: dict[str, bytes], csca: x509.Certificate) -> None:
    moved = {**NATIONAL, "place_of_residence": "Số 1 Lê Lợi, Phường Bến Nghé, TP Hồ Chí Minh"}
    assert qc(chip, csca, national=moved) == ["qc.dg13.mismatch"]
    fewer = {k: v for k, v in NATIONAL.items() if k != "old_id_number"}
    assert qc(chip, csca, national=fewer) == ["qc.dg13.mismatch"]


def test_a_signed_dg2_that_is_no_jpeg_fails_the_image_check(
    signer: keys.DocumentSigner, csca: x509.Certificate
) -> None:
    png = io.BytesIO()
    Image.new("RGB", (240, 320)).save(png, format="PNG")
    assert qc(make_chip(signer, (png.getvalue(), 240, 320)), csca) == ["qc.dg2.image"]


def test_a_truncated_jpeg_fails_the_image_check(
    signer: keys.DocumentSigner, photo: tuple[bytes, int, int], csca: x509.Certificate
) -> None:
    jpeg, width, height = photo
    assert qc(make_chip(signer, (jpeg[: len(jpeg) // 2], width, height)), csca) == ["qc.dg2.image"]


def test_a_jpeg_of_another_size_than_its_header_says_fails(
    signer: keys.DocumentSigner, photo: tuple[bytes, int, int], csca: x509.Certificate
) -> None:
    jpeg, _, _ = photo
    assert qc(make_chip(signer, (jpeg, 480, 640)), csca) == ["qc.dg2.image"]


def test_a_sod_under_another_csca_is_a_certificate_failure(
    chip: dict[str, bytes], tmp_path: Path
) -> None:
    other = keys.load_csca(keys.init_test_keys(tmp_path / "other", now=NOW).csca_cert)
    assert qc(chip, other) == ["qc.sod.certificate"]


def test_a_tampered_signature_is_a_signature_failure(
    chip: dict[str, bytes], csca: x509.Certificate
) -> None:
    signature = sod.parse_sod(chip["SOD"]).signature
    at = chip["SOD"].index(signature) + len(signature) - 1
    tampered = bytearray(chip["SOD"])
    tampered[at] ^= 0x40
    assert qc({**chip, "SOD": bytes(tampered)}, csca) == ["qc.sod.signature"]


def test_a_sod_of_another_chip_fails_every_data_group(
    chip: dict[str, bytes],
    signer: keys.DocumentSigner,
    photo: tuple[bytes, int, int],
    csca: x509.Certificate,
) -> None:
    other = make_chip(signer, photo, mrz=(MRZ[0], MRZ[1], "TRAN<<VAN<HUNG" + "<" * 16))
    reasons = qc({**chip, "SOD": other["SOD"]}, csca)
    assert reasons == ["qc.dg.hash.DG1"]  # DG2 and DG13 are the same on both chips


def test_missing_files_are_named(chip: dict[str, bytes], csca: x509.Certificate) -> None:
    without_dg13 = {k: v for k, v in chip.items() if k != "DG13"}
    assert qc(without_dg13, csca) == ["qc.lds.missing.DG13"]
    without_sod = {k: v for k, v in chip.items() if k != "SOD"}
    assert qc(without_sod, csca) == ["qc.lds.missing.SOD"]
    without_com = {k: v for k, v in chip.items() if k != "EF.COM"}
    assert qc(without_com, csca) == ["qc.lds.missing.EF.COM"]
    assert qc({}, csca) == [
        "qc.lds.missing.EF.COM",
        "qc.lds.missing.SOD",
        "qc.lds.missing.DG1",
        "qc.lds.missing.DG2",
        "qc.lds.missing.DG13",
        "qc.lds.missing.DG14",
        "qc.lds.missing.DG15",
    ]


def test_ef_com_and_the_files_must_agree(
    signer: keys.DocumentSigner, photo: tuple[bytes, int, int], csca: x509.Certificate
) -> None:
    unlisted = make_chip(signer, photo, listed=(1, 2, 14, 15))
    assert qc(unlisted, csca) == ["qc.lds.unlisted.DG13"]
    over_listed = make_chip(signer, photo, listed=(1, 2, 3, 13, 14, 15))
    assert qc(over_listed, csca) == ["qc.lds.missing.DG3"]


def test_a_data_group_the_sod_does_not_hash_fails_its_hash_check(
    chip: dict[str, bytes], csca: x509.Certificate
) -> None:
    extra = {**chip, "EF.COM": lds.ef_com([1, 2, 11, 13, 14, 15]), "DG11": bytes.fromhex("6B00")}
    assert qc(extra, csca) == ["qc.dg.hash.DG11"]


def test_unparseable_files_are_reason_codes(chip: dict[str, bytes], csca: x509.Certificate) -> None:
    junk = b"\x00\x01\x02"
    assert qc({**chip, "EF.COM": junk}, csca) == ["qc.lds.format.EF.COM"]
    assert qc({**chip, "SOD": junk}, csca) == ["qc.sod.format"]
    assert qc({**chip, "DG1": junk}, csca) == ["qc.dg.hash.DG1", "qc.dg1.format"]
    assert qc({**chip, "DG2": junk}, csca) == ["qc.dg.hash.DG2", "qc.dg2.format"]
    assert qc({**chip, "DG13": junk}, csca) == ["qc.dg.hash.DG13", "qc.dg13.format"]


def test_the_chain_is_made_of_small_checks() -> None:
    assert [check.__name__ for check in CHECKS] == [
        "check_ef_com",
        "check_sod",
        "check_missing",
        "check_unlisted",
        "check_hashes",
        "check_dg1",
        "check_dg2",
        "check_dg13",
    ]


@st.composite
def altered(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` changed after signing: bytes overwritten, cut off, inserted or appended."""
    kind = draw(st.sampled_from(["overwrite", "truncate", "insert", "append"]))
    data = bytearray(original)
    if kind == "overwrite":
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] ^= draw(st.integers(1, 255))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "insert":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=8))
    else:
        data += draw(st.binary(min_size=1, max_size=8))
    result = bytes(data)
    if result == original:  # overwrites that cancel out
        result = original + b"\x00"
    return result


@pytest.mark.parametrize("name", ["DG1", "DG2"])
@given(data=st.data())
@settings(max_examples=250, deadline=None)
def test_a_data_group_altered_after_signing_is_always_rejected(
    name: str, chip: dict[str, bytes], csca: x509.Certificate, data: st.DataObject
) -> None:
    changed = data.draw(altered(chip[name]))
    reasons = qc({**chip, name: changed}, csca)
    assert f"qc.dg.hash.{name}" in reasons


@given(data=st.data())
@settings(max_examples=300, deadline=None)
def test_no_damage_to_any_file_makes_qc_raise(
    chip: dict[str, bytes], csca: x509.Certificate, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(chip)))
    reasons = qc({**chip, name: data.draw(altered(chip[name]))}, csca)
    assert all(code.startswith("qc.") for code in reasons)
    if name.startswith("DG"):
        assert reasons
