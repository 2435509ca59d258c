"""QC of a chip's data as read back: a chain of small checks, each turning one condition into
one reason code. ``check_chip`` returns every reason code that applies (none: the chip
passes) and never raises for a bad card: data it cannot parse is a reason code too.

Reason codes, in the order the chain reports them:

- ``qc.lds.missing.EF.COM`` / ``qc.lds.format.EF.COM``: EF.COM absent / unparseable;
- ``qc.lds.missing.SOD`` and the ``qc.sod.*`` codes of ``printers.chip.sod`` (format,
  content_type, algorithm, digest, signature, certificate);
- ``qc.lds.missing.DGn``: a data group listed in EF.COM, hashed in the SOD, or required
  (DG1, DG2; DG13 when national data is expected) that was not read back;
- ``qc.lds.unlisted.DGn``: a data group read back that EF.COM does not list;
- ``qc.dg.hash.DGn``: a data group whose hash is not the one the SOD holds (or is not in it);
- ``qc.dg1.format`` / ``qc.dg1.mrz_mismatch``: DG1 unparseable / not the expected MRZ;
- ``qc.dg2.format`` / ``qc.dg2.image``: DG2 unparseable / its image not a decodable JPEG of
  the size its header gives;
- ``qc.dg13.format`` / ``qc.dg13.mismatch``: DG13 unparseable / not the expected national
  data.

Chip contents are personal data: nothing here logs or quotes them.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cryptography import x509

from printers.chip import lds
from printers.chip.sod import SUPPORTED_DIGESTS, SodContents, SodError, inspect_sod

EF_COM = "EF.COM"
SOD = "SOD"
REQUIRED_DATA_GROUPS = (1, 2, 14, 15)
"""Every chip of the line: the MRZ, the face, and Chip and Active Authentication's keys."""
_DG_NAME = re.compile(r"DG([1-9][0-9]?)")


@dataclass(frozen=True, slots=True)
class ChipReadback:
    """The files read back from one chip, what QC expects of them, and the parts every check
    needs parsed once (``None`` when absent or unparseable)."""

    files: Mapping[str, bytes]
    csca: x509.Certificate
    expected_mrz: tuple[str, str, str]
    expected_dg13: Mapping[str, str] | None
    ef_com: lds.EfCom | None
    sod: SodContents | None
    sod_problems: tuple[SodError, ...]

    def data_groups(self) -> dict[int, bytes]:
        """Data groups read back, by number."""
        found = {}
        for name, data in self.files.items():
            match = _DG_NAME.fullmatch(name)
            if match and int(match.group(1)) in lds.DG_TAGS:
                found[int(match.group(1))] = data
        return found


Check = Callable[[ChipReadback], Iterable[str]]


def check_ef_com(chip: ChipReadback) -> Iterable[str]:
    if EF_COM not in chip.files:
        yield f"qc.lds.missing.{EF_COM}"
    elif chip.ef_com is None:
        yield f"qc.lds.format.{EF_COM}"


def check_sod(chip: ChipReadback) -> Iterable[str]:
    if SOD not in chip.files:
        yield f"qc.lds.missing.{SOD}"
        return
    yield from dict.fromkeys(problem.reason_code for problem in chip.sod_problems)


def check_missing(chip: ChipReadback) -> Iterable[str]:
    expected = set(REQUIRED_DATA_GROUPS)
    if chip.expected_dg13 is not None:
        expected.add(13)
    if chip.ef_com is not None:
        expected.update(chip.ef_com.data_groups)
    if chip.sod is not None:
        expected.update(chip.sod.dg_hashes)
    for number in sorted(expected - set(chip.data_groups())):
        yield f"qc.lds.missing.DG{number}"


def check_unlisted(chip: ChipReadback) -> Iterable[str]:
    if chip.ef_com is None:
        return  # reported by check_ef_com
    for number in sorted(set(chip.data_groups()) - set(chip.ef_com.data_groups)):
        yield f"qc.lds.unlisted.DG{number}"


def check_hashes(chip: ChipReadback) -> Iterable[str]:
    sod = chip.sod
    if sod is None or sod.hash_algorithm not in SUPPORTED_DIGESTS:
        return  # reported by check_sod
    for number, data in sorted(chip.data_groups().items()):
        digest = hashlib.new(sod.hash_algorithm, data).digest()
        if sod.dg_hashes.get(number) != digest:
            yield f"qc.dg.hash.DG{number}"


def check_dg1(chip: ChipReadback) -> Iterable[str]:
    data = chip.files.get("DG1")
    if data is None:
        return  # reported by check_missing
    try:
        mrz = lds.parse_dg1(data)
    except lds.LdsError:
        yield "qc.dg1.format"
        return
    if mrz != tuple(chip.expected_mrz):
        yield "qc.dg1.mrz_mismatch"


def _decodes(image: lds.FacialImage) -> bool:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(image.image)) as decoded:
            if decoded.format != "JPEG" or decoded.size != (image.width, image.height):
                return False
            # Every scan decoded (a truncated or corrupt image fails), at 1/8 scale: the
            # pixels themselves are not looked at, and the full scale costs three times more.
            decoded.draft(None, (max(1, image.width // 8), max(1, image.height // 8)))
            decoded.load()
            return True
    except Exception:  # a decoder fed bytes off a card: any failure means "not an image"
        return False


def check_dg2(chip: ChipReadback) -> Iterable[str]:
    data = chip.files.get("DG2")
    if data is None:
        return
    try:
        image = lds.parse_dg2_record(data)
    except lds.LdsError:
        yield "qc.dg2.format"
        return
    if not _decodes(image):
        yield "qc.dg2.image"


def _normalised(fields: Mapping[str, str]) -> dict[str, str]:
    return {name: unicodedata.normalize("NFC", text) for name, text in fields.items() if text}


def check_dg13(chip: ChipReadback) -> Iterable[str]:
    data = chip.files.get("DG13")
    if data is None:
        return
    try:
        fields = lds.parse_dg13(data)
    except lds.LdsError:
        yield "qc.dg13.format"
        return
    if chip.expected_dg13 is not None and fields != _normalised(chip.expected_dg13):
        yield "qc.dg13.mismatch"


CHECKS: tuple[Check, ...] = (
    check_ef_com,
    check_sod,
    check_missing,
    check_unlisted,
    check_hashes,
    check_dg1,
    check_dg2,
    check_dg13,
)
"""The chain, in reporting order."""


def read_chip(
    readback: Mapping[str, bytes],
    *,
    csca_cert: x509.Certificate,
    expected_mrz: tuple[str, str, str],
    expected_dg13: Mapping[str, str] | None,
) -> ChipReadback:
    """Parse EF.COM and the SOD of ``readback`` once for the checks."""
    ef_com = None
    if EF_COM in readback:
        try:
            ef_com = lds.parse_ef_com(readback[EF_COM])
        except lds.LdsError:
            ef_com = None
    sod, problems = (None, ()) if SOD not in readback else inspect_sod(readback[SOD], csca_cert)
    return ChipReadback(
        files=readback,
        csca=csca_cert,
        expected_mrz=expected_mrz,
        expected_dg13=expected_dg13,
        ef_com=ef_com,
        sod=sod,
        sod_problems=problems,
    )


def check_chip(
    readback: Mapping[str, bytes],
    *,
    csca_cert: x509.Certificate,
    expected_mrz: tuple[str, str, str],
    expected_dg13: Mapping[str, str] | None,
    checks: Iterable[Check] = CHECKS,
) -> list[str]:
    """The reason codes of every check the chip fails, in chain order; empty if it passes.

    ``readback`` maps ``EF.COM``, ``DG1``, ``DG2``, ``DG13``, ``SOD`` to the files' bytes;
    ``expected_dg13`` is the national data the card should hold (``lds.national_data``), or
    ``None`` to check DG13 only for form.
    """
    chip = read_chip(
        readback, csca_cert=csca_cert, expected_mrz=expected_mrz, expected_dg13=expected_dg13
    )
    return list(dict.fromkeys(code for check in checks for code in check(chip)))
