"""Personal data encrypted at rest: the sealed file format (``line.sealed``), the data key
wrapped by an AES key in the token (``printers.atrest``, a real SoftHSM2 token), and the
line's files on disk: the chip archive, the virtual chip images and the spool's batch PDFs
are sealed (neither PDF nor TLV, none of the citizen's name or ID bytes), QC and ``card
export`` read them, one changed byte is caught with a clear error. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pkcs11
import pypdfium2 as pdfium
import pytest
from pkcs11 import Attribute, ObjectClass
from sqlalchemy.engine import Engine
from sqlmodel import select

from flows.archive import CardArchive
from line.controller import card_data
from line.db import session_scope
from line.devices import PrintedFace
from line.models import Application, Card
from line.sealed import (
    CHIP_ARCHIVE,
    MAGIC,
    SPOOL_PDF,
    SealedFileError,
    Sealer,
    read_sealed,
    write_sealed,
)
from printers import atrest, hsm, keys
from tests.conftest import TODAY, StepClock
from tests.printers.lines import controller, intake, line_for, settings_for

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def sealer() -> Sealer:
    return Sealer(key_id=secrets.token_bytes(16), key=secrets.token_bytes(32))


def test_a_sealed_file_opens_only_whole_under_its_name_role_and_key(tmp_path: Path) -> None:
    mine = sealer()
    path = write_sealed(tmp_path / "A.chip", b"\x60\x03abc", role=CHIP_ARCHIVE, sealer=mine)
    blob = path.read_bytes()
    assert blob.startswith(MAGIC) and b"abc" not in blob
    assert read_sealed(path, role=CHIP_ARCHIVE, sealer=mine) == b"\x60\x03abc"
    for index in (0, len(MAGIC), 20, len(blob) - 20, len(blob) - 1):  # header, body, tag
        changed = bytearray(blob)
        changed[index] ^= 0x01
        path.write_bytes(bytes(changed))
        with pytest.raises(SealedFileError) as caught:
            read_sealed(path, role=CHIP_ARCHIVE, sealer=mine)
        assert str(caught.value).startswith("A.chip: ") and "\n" not in str(caught.value)
    path.write_bytes(blob)
    other = tmp_path / "B.chip"
    other.write_bytes(blob)  # the same file under another card's name
    with pytest.raises(SealedFileError, match="authentication failed"):
        read_sealed(other, role=CHIP_ARCHIVE, sealer=mine)
    with pytest.raises(SealedFileError, match="authentication failed"):
        read_sealed(path, role=SPOOL_PDF, sealer=mine)
    with pytest.raises(SealedFileError, match="not this centre's"):
        read_sealed(path, role=CHIP_ARCHIVE, sealer=sealer())
    with pytest.raises(SealedFileError, match="no data key was given"):
        read_sealed(path, role=CHIP_ARCHIVE, sealer=None)
    plain = write_sealed(tmp_path / "C.chip", b"\x60\x03abc", role=CHIP_ARCHIVE, sealer=None)
    with pytest.raises(SealedFileError, match="not a sealed chip-archive file"):
        read_sealed(plain, role=CHIP_ARCHIVE, sealer=mine)


def test_the_data_key_is_wrapped_by_a_key_that_never_leaves_the_token(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "a" / "keys", now=NOW)
    unwrapped = atrest.unwrap(paths)
    assert atrest.unwrap(paths) == unwrapped, "the same key each time it is unwrapped"
    assert atrest.sealer_for(paths) is atrest.sealer_for(paths), "once per process"
    document = json.loads(paths.data_key.read_text())
    assert document["format"] == "cardline.data-key/1"
    stored = paths.data_key.read_bytes()
    assert unwrapped.key not in stored and unwrapped.key.hex().encode() not in stored
    assert paths.data_key.stat().st_mode & 0o077 == 0
    with hsm.LOCK, hsm.open_session(paths.token) as session:
        wrapping = session.get_key(
            object_class=ObjectClass.SECRET_KEY, id=bytes.fromhex(document["wrapping_key"])
        )
        assert wrapping[Attribute.SENSITIVE] and not wrapping[Attribute.EXTRACTABLE]
        with pytest.raises(pkcs11.AttributeSensitive):
            wrapping[Attribute.VALUE]
    other = keys.init_test_keys(tmp_path / "b" / "keys", now=NOW)
    other.data_key.write_bytes(stored)  # another centre's token cannot unwrap it
    with pytest.raises(atrest.DataKeyError, match="has no wrapping key"):
        atrest.unwrap(other)
    document["wrapped"] = ("00" if document["wrapped"][:2] != "00" else "01") + document["wrapped"][
        2:
    ]
    paths.data_key.write_text(json.dumps(document))
    with pytest.raises(atrest.DataKeyError, match="does not unwrap this data key"):
        atrest.unwrap(paths)


def test_the_line_keeps_personal_data_sealed_and_qc_and_export_read_it(
    engine: Engine, tmp_path: Path, clock: StepClock
) -> None:
    intake(engine, tmp_path / "in", 4, clock)
    settings = settings_for(tmp_path / "home")
    line = line_for(settings, engine, clock)
    try:
        summary = controller(engine, line.devices, clock, line).run(batch_size=4)
    finally:
        line.close()
    assert summary.passed == 4, "QC read every sealed face PDF back"
    with session_scope(engine) as session:
        rows = session.exec(select(Card, Application).join(Application)).all()
        people = [card_data(application, card, issue_date=TODAY) for card, application in rows]
        card = rows[0][0]
    secrets_ = [p.id_number.encode() for p in people] + [
        part.encode() for p in people for part in p.full_name.upper().split() if len(part) > 2
    ]
    files = [
        *settings.cards_dir.glob("*.chip"),
        *settings.chips_dir.glob("*.vchip.json"),
        *settings.spool_dir.glob("*.pdf"),
    ]
    assert len(files) == 4 + 4 + 1
    for path in files:
        blob = path.read_bytes()
        assert blob.startswith(MAGIC) and not blob.startswith(b"%PDF"), path.name
        assert blob[:1] != b"\x60", "not an EF.COM TLV object"
        assert not [s for s in secrets_ if s in blob], f"{path.name} shows personal data"

    archive = CardArchive(settings.cards_dir, sealer=atrest.centre_sealer(settings))
    face = PrintedFace(
        card.serial, Path(card.print_pdf or ""), card.front_page or 0, card.back_page or 0
    )
    out = archive.export(card.serial, face, tmp_path / "export")
    front = pdfium.PdfDocument(str(tmp_path / "export" / "front.pdf"))
    text = front[0].get_textpage().get_text_bounded()
    front.close()
    person = next(p for p in people if p.card_serial == card.serial)
    assert person.id_number in text.split(), "the export is the plaintext, by design"
    assert len(out) >= 9

    chip_file = settings.cards_dir / f"{card.serial}.chip"
    blob = bytearray(chip_file.read_bytes())
    blob[len(blob) // 2] ^= 0x80
    chip_file.write_bytes(bytes(blob))
    with pytest.raises(SealedFileError) as caught:
        archive.export(card.serial, face, tmp_path / "again")
    assert str(caught.value) == (
        f"{card.serial}.chip: changed since it was sealed, or not this chip-archive file "
        "(authentication failed)"
    )
