"""The line controller with the real virtual devices: ReportLab faces, signed LDS, virtual
chips in process and through pcscd + vpcd, QC read-back; rework of what QC rejects."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from flows.archive import CHIP_FILES
from inventory.check import reconcile
from line.card import CardData
from line.controller import Devices, card_data
from line.db import session_scope
from line.devices import ChipRecord, EncodesOneByOne, PrintedFace
from line.events import qc_verdicts
from line.kpi import status_counts
from line.models import Application, Card
from line.sealed import MAGIC
from printers.chip import lds, tlv
from printers.chip.bodies import CardBodies, PcscReader
from printers.chip.vpcd import ChipSlot
from printers.mrz import mrz_lines
from tests.conftest import TODAY, StepClock
from tests.printers.lines import controller, intake, line_for, settings_for

ACCESS = ("070751984", "700412", "300412")  # document number, birth, expiry: as in an MRZ


def test_cards_go_through_print_encode_and_qc(
    engine: Engine, tmp_path: Path, clock: StepClock
) -> None:
    """On SQLite and on PostgreSQL: the whole line, stock ledger included."""
    sqlite_engine = engine  # the body reads the same on both
    intake(sqlite_engine, tmp_path / "in", 12, clock)
    settings = settings_for(tmp_path / "home")
    line = line_for(settings, sqlite_engine, clock)
    summary = controller(sqlite_engine, line.devices, clock, line).run(batch_size=5)
    assert (summary.started, summary.printed, summary.encoded, summary.passed) == (12, 12, 12, 12)
    with session_scope(sqlite_engine) as session:
        assert reconcile(session=session) == [], "every card's chip from its lot, ledger adds up"
    with session_scope(sqlite_engine) as session:
        assert status_counts(session=session).cards["qc_passed"] == 12
        cards = session.exec(select(Card)).all()
        uids = [card.chip_uid for card in cards]
        assert len(set(uids)) == 12 and all(uid and len(uid) == 14 for uid in uids)
        verdicts = qc_verdicts(session=session, card_ids=[c.id for c in cards if c.id])
        assert {verdicts.get(card.id or 0) for card in cards} == {"passed"}
        first = cards[0]
    face = PrintedFace(
        first.serial, Path(first.print_pdf or ""), first.front_page or 0, first.back_page or 0
    )
    exported = line.archive.export(first.serial, face, tmp_path / "export")
    assert sorted(p.name for p in exported) == sorted(
        ["front.pdf", "back.pdf", "mrz.txt", *CHIP_FILES]
    )
    archive = tmp_path / "export"
    # What the chip holds is what the database says: DG1 is the MRZ of the application.
    with session_scope(sqlite_engine) as session:
        application = session.get(Application, first.application_id)
        assert application is not None
        data = card_data(application, first, issue_date=TODAY)
    assert lds.parse_dg1((archive / "DG1").read_bytes()) == mrz_lines(data)
    assert (archive / "mrz.txt").read_text().split() == list(mrz_lines(data))
    assert oct((settings.cards_dir / f"{first.serial}.chip").stat().st_mode & 0o777) == "0o600"
    # Independent evidence: openssl accepts the SOD read back from the chip.
    sod = (archive / "SOD").read_bytes()
    content_info = tlv.decode_single(sod, lds.TAG_SOD)  # EF.SOD is the ContentInfo in tag 77
    (tmp_path / "sod.der").write_bytes(content_info)
    done = subprocess.run(
        ["openssl", "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "sod.der"), "-CAfile", str(settings.keys_path / "csca.pem"), "-purpose", "any", "-binary", "-out", str(tmp_path / "econtent")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Verification successful" in done.stderr


class TamperingEncoder(EncodesOneByOne):
    """Encodes like the real station, then alters one data group in the chip's EEPROM."""

    def __init__(self, inner: object, bodies: CardBodies, fid: int, victims: set[str]) -> None:
        self.inner = inner
        self.bodies = bodies
        self.fid = fid
        self.victims = victims
        self.name = "encode-tampering"

    def encode(self, card: CardData) -> ChipRecord:
        record: ChipRecord = self.inner.encode(card)  # type: ignore[attr-defined]
        if card.card_serial in self.victims:
            chip = self.bodies.chip(card.card_serial)
            content = chip._files[self.fid]  # noqa: SLF001  (an attacker with an EEPROM probe)
            content[-1] ^= 0x01
        return record


@pytest.mark.parametrize(
    ("fid", "reason"), [(lds.DG_FIDS[1], "qc.dg.hash.DG1"), (lds.DG_FIDS[2], "qc.dg.hash.DG2")]
)
def test_a_chip_altered_after_signing_is_rejected_and_reworked(
    sqlite_engine: Engine, tmp_path: Path, clock: StepClock, fid: int, reason: str
) -> None:
    intake(sqlite_engine, tmp_path / "in", 3, clock)
    settings = settings_for(tmp_path / "home", qr_sample_rate=0.0)
    line = line_for(settings, sqlite_engine, clock)
    bodies = line.devices.encoder.connect.__self__  # type: ignore[attr-defined]
    assert isinstance(bodies, CardBodies)
    victims = {f"C{i:010d}-1" for i in (1, 2, 3)}
    devices = Devices(
        line.devices.printer,
        TamperingEncoder(line.devices.encoder, bodies, fid, victims),
        line.devices.qc,
    )
    summary = controller(sqlite_engine, devices, clock, line).run()
    assert summary.spoiled == {reason: 3}, "every altered chip is rejected"
    assert (summary.started, summary.passed) == (6, 3), "and its application gets a new card"
    with session_scope(sqlite_engine) as session:
        rejected = session.exec(select(Card).where(Card.attempt == 1)).all()
        assert {c.state.value for c in rejected} == {"spoiled"}
        verdicts = qc_verdicts(session=session, card_ids=[c.id for c in rejected if c.id])
        assert all(
            c.spoil_reason == reason and reason in (verdicts.get(c.id or 0) or "") for c in rejected
        )


@pytest.mark.usefixtures("pcscd")
def test_the_line_through_pcscd_and_vpcd(
    sqlite_engine: Engine, tmp_path: Path, clock: StepClock, empty_slot: ChipSlot
) -> None:
    slot = empty_slot
    intake(sqlite_engine, tmp_path / "in", 3, clock)
    settings = settings_for(tmp_path / "home", qr_sample_rate=0.0)
    line = line_for(settings, sqlite_engine, clock)
    in_process = line.devices.encoder
    bodies = in_process.connect.__self__  # type: ignore[attr-defined]
    reader = PcscReader(bodies, slot=slot)
    from printers.chip.encoder import LdsEncoder
    from printers.qc import Inspector

    devices = Devices(
        line.devices.printer,
        LdsEncoder(
            name="encode-pcsc", signer=in_process.signer, connect=reader.connect, clock=clock
        ),  # type: ignore[attr-defined]
        Inspector(
            name="qc-pcsc",
            connect=reader.connect,
            csca=line.devices.qc.csca,
            rng=__import__("random").Random(1),
            qr_sample_rate=0.0,
            keys=line.devices.qc.keys,  # the spool is sealed under the centre's data key
        ),  # type: ignore[attr-defined]
    )
    summary = controller(sqlite_engine, devices, clock, line).run()
    assert (summary.started, summary.passed) == (3, 3), (summary.spoiled, summary.device_faults)
    with session_scope(sqlite_engine) as session:
        cards = session.exec(select(Card)).all()
        assert all(bodies.chip(c.serial).uid.hex().upper() == c.chip_uid for c in cards)
        assert all(bodies.chip(c.serial).locked for c in cards)


@pytest.mark.usefixtures("pcscd")
def test_cardline_chip_serve_feeds_blank_chips_to_the_virtual_reader(tmp_path: Path) -> None:
    """``cardline chip serve`` as a real process on vpcd's second reader, driven by pyscard."""
    import os
    import signal
    import sys
    import time

    from printers.chip.apdu import LDS_AID, SecurityStatusNotSatisfied, select_aid, update_binary
    from printers.chip.personalise import initialise, personalise, read_back
    from printers.chip.reader import open_session
    from printers.chip.transport import PcscTransport

    env = {**os.environ, "CARDLINE_HOME": str(tmp_path / "home")}
    command = [
        str(Path(sys.executable).parent / "cardline"),
        "-q",
        "chip",
        "serve",
        "--port",
        "35964",
    ]
    command += ["--lot", "T-SERVE", "--first-uid", "04DD000000000A", "--count", "2"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        uids = []
        for n in range(2):
            deadline = time.monotonic() + 20
            while True:  # the next chip goes in once the last one is locked and let go of
                try:
                    transport = PcscTransport("Virtual PCD 00 01", timeout=1.0)
                    transport.connect()
                    break
                except Exception:
                    assert time.monotonic() < deadline, "no chip in the reader"
                    time.sleep(0.1)
            with transport:
                files = {0x011E: tlv.encode(0x60, bytes([n]) * 40)}
                initialise(transport, *ACCESS)
                uids.append(personalise(transport, files).hex().upper())
                transport.transmit(select_aid(LDS_AID))
                secure = open_session(transport, *ACCESS)
                assert read_back(secure, [0x011E]) == files
                with pytest.raises(SecurityStatusNotSatisfied):
                    secure.transmit(update_binary(0, b"\x00"))
        assert uids == ["04DD000000000A", "04DD000000000B"]
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=10)
    assert code == 0, server.stderr.read() if server.stderr else ""


@pytest.mark.usefixtures("pcscd")
def test_a_finished_card_is_read_by_an_outside_reader_over_pcsc(
    sqlite_engine: Engine, tmp_path: Path, clock: StepClock
) -> None:
    """The line makes cards (their virtual chips' images kept); ``cardline chip serve --card``
    presents one in vpcd's second reader; an outside reader opens it with pyscard as the
    national app would: BAC from the printed MRZ, Chip Authentication, the files under
    secure messaging, Active Authentication, passive authentication against the CSCA. With
    another MRZ it does not open."""
    import dataclasses
    import os
    import signal
    import sys
    import time

    from printers.chip.checks import check_chip
    from printers.chip.reader import read_chip
    from printers.chip.transport import PcscTransport
    from printers.mrz import access_data

    intake(sqlite_engine, tmp_path / "in", 2, clock)
    settings = settings_for(tmp_path / "home", qr_sample_rate=0.0)
    line = line_for(settings, sqlite_engine, clock)
    assert controller(sqlite_engine, line.devices, clock, line).run().passed == 2
    with session_scope(sqlite_engine) as session:
        card, application = session.exec(
            select(Card, Application).join(Application).where(Card.state == "qc_passed")
        ).first()  # type: ignore[misc]
        data = card_data(application, card, issue_date=TODAY)
    assert (settings.chips_dir / f"{card.serial}.vchip.json").stat().st_mode & 0o077 == 0
    image = (settings.chips_dir / f"{card.serial}.vchip.json").read_bytes()
    assert image.startswith(MAGIC) and b"kenc" not in image, "sealed: chip serve decrypts it"
    command = [str(Path(sys.executable).parent / "cardline"), "-q", "chip", "serve"]
    command += ["--card", card.serial, "--port", "35964"]
    env = {**os.environ, "CARDLINE_HOME": str(settings.home_dir)}
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                transport = PcscTransport("Virtual PCD 00 01", timeout=1.0)
                transport.connect()
                break
            except Exception:
                assert time.monotonic() < deadline, "the card is not in the reader"
                time.sleep(0.1)
        number, born, expires = access_data(data)
        with transport:
            reading = read_chip(
                transport, document_number=number, date_of_birth=born, date_of_expiry=expires
            )
            wrong = read_chip(
                transport,
                document_number=number,
                date_of_birth=dataclasses.replace(
                    data, date_of_birth=data.date_of_birth.replace(year=1950)
                ).date_of_birth,
                date_of_expiry=expires,
            )
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=10)
    assert code == 0, server.stderr.read() if server.stderr else ""
    assert reading.problems == () and reading.uid == card.chip_uid
    assert sorted(reading.files) == ["DG1", "DG13", "DG14", "DG15", "DG2", "EF.COM", "SOD"]
    passive = check_chip(
        reading.files,
        csca_cert=line.devices.qc.csca,  # type: ignore[attr-defined]
        expected_mrz=mrz_lines(data),
        expected_dg13=lds.national_data_of(data),
    )
    assert passive == []
    assert wrong.problems == ("qc.bac",) and wrong.files == {}
