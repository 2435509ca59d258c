"""Rotation and the key usage period, through the wiring the line runs with and through the
command line: a card signed before a rotation and one signed after both verify against the
CSCA (cardline's QC check and, independently, ``openssl cms -verify``); the line signs with
the current DS; a DS whose private key usage period is over signs nothing, and says so in
one line. The tokens are SoftHSM2 tokens under each test's temporary CARDLINE_HOME."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pkcs11
import pytest

from flows.cli import run
from flows.wiring import build_line
from line.db import make_engine
from line.settings import Settings
from line.spec import default_spec
from line.types import utc_now
from printers import ceremony, hsm, keys, pki
from printers.chip import lds, sod, tlv
from schema import upgrade
from tests.conftest import StepClock

NOW = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
MRZ = (  # the ICAO 9303-5 TD1 specimen
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
)
GROUPS = {1: lds.dg1(MRZ), 2: lds.dg2(b"\xff\xd8\xff\xd9", width=1, height=1)}


def settings_for(home: Path) -> Settings:
    return Settings(
        home=home,
        db_url=f"sqlite:///{home / 'cardline.db'}",
        printer="spool",
        chip_stock="none",
        render_processes=0,
    )


def openssl_verifies(ef_sod: bytes, csca: Path, at: datetime, folder: Path) -> bool:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed for the independent check", pytrace=False)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sod.der").write_bytes(tlv.decode_single(ef_sod, 0x77))
    command = [
        openssl, "cms", "-verify", "-inform", "DER", "-in", str(folder / "sod.der"),
        "-CAfile", str(csca), "-purpose", "any", "-binary", "-out", str(folder / "lso.der"),
        "-attime", str(int(at.timestamp())),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def test_cards_signed_before_and_after_a_rotation_verify_and_the_line_signs_with_the_new_ds(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path / "home")
    settings.ensure_home()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    paths = keys.init_test_keys(settings.keys_path, now=NOW)

    before = build_line(settings=settings, spec=default_spec(), engine=engine, clock=StepClock(NOW))
    first_signer = before.devices.encoder.signer  # type: ignore[attr-defined]
    first_ds = first_signer.certificate
    signed_before = NOW + timedelta(days=10)
    old_card = sod.build_sod(GROUPS, first_signer, signing_time=signed_before)
    before.close()

    rotated = keys.rotate_ds(
        paths, now=NOW + timedelta(days=80), passphrase=ceremony.test_passphrase(paths)
    )
    after = build_line(
        settings=settings,
        spec=default_spec(),
        engine=engine,
        clock=StepClock(NOW + timedelta(days=100)),  # past the first DS's key usage period
    )
    signer = after.devices.encoder.signer  # type: ignore[attr-defined]
    assert signer.certificate == rotated == keys.load_certificate(paths.ds_cert)
    assert rotated.serial_number != first_ds.serial_number
    signed_after = NOW + timedelta(days=100)
    new_card = sod.build_sod(GROUPS, signer, signing_time=signed_after)
    after.close()

    csca = keys.load_csca(paths.csca_cert)
    for ef_sod, ds, at in ((old_card, first_ds, signed_before), (new_card, rotated, signed_after)):
        assert sod.parse_sod(ef_sod).signer_certificate == ds, "the SOD carries its DS"
        assert set(sod.verify_sod(ef_sod, csca)) == {1, 2}
        assert openssl_verifies(ef_sod, paths.csca_cert, at, tmp_path / f"{ds.serial_number:x}")
    info = keys.keys_info(paths)
    assert info["ds_serial"] == f"{rotated.serial_number:x}"
    assert [r["serial"] for r in info["ds_retired"]] == [f"{first_ds.serial_number:x}"]
    assert info["ds_retired"][0]["signatures"] == 2  # the check at opening, and the card


def test_a_run_refuses_to_sign_with_an_expired_ds_in_one_line(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    settings.ensure_home()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    keys.init_test_keys(settings.keys_path, now=NOW)
    late = StepClock(NOW + pki.DS_KEY_USAGE_PERIOD)  # the first read is one second past the end
    with pytest.raises(pki.KeyUsagePeriodOver) as caught:
        build_line(settings=settings, spec=default_spec(), engine=engine, clock=late)
    assert str(caught.value) == (
        "the Document Signer's private key usage period ended on 2027-02-01: cardline keys rotate"
    )


def test_cardline_run_says_rotate_and_keys_rotate_lets_it_sign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    made = utc_now() - timedelta(days=100)
    keys.init_test_keys(Settings().keys_path, now=made)
    assert run(["-q", "db", "upgrade"]) == 0
    capsys.readouterr()

    code = run(["-q", "run", "--without-prefect"])
    _, err = capsys.readouterr()
    ended = (made + pki.DS_KEY_USAGE_PERIOD).date().isoformat()
    assert code == 1
    assert err == (
        "cardline: error: the Document Signer's private key usage period ended on "
        f"{ended}: cardline keys rotate\n"
    )

    assert run(["-q", "keys", "rotate"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("new Document Signer ") and "pkcs11:token=cardline-ds;id=" in out
    assert run(["-q", "run", "--without-prefect"]) == 0
    capsys.readouterr()
    assert run(["-q", "keys", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["ds_retired"]) == 1 and shown["ds_retired"][0]["key_usage_ended"][:10] == ended
    assert shown["ds_key"].startswith("pkcs11:") and shown["ds_signatures"] >= 1


def test_a_run_that_outlives_the_key_usage_period_signs_no_more(tmp_path: Path) -> None:
    paths = keys.init_test_keys(tmp_path / "home" / "keys", now=NOW)
    signer = keys.load_signer(paths)
    last = NOW + pki.DS_KEY_USAGE_PERIOD
    sod.build_sod(GROUPS, signer, signing_time=last)
    made = signer.signatures
    with pytest.raises(pki.KeyUsagePeriodOver, match="ended on 2027-02-01: cardline keys rotate"):
        sod.build_sod(GROUPS, signer, signing_time=last + timedelta(seconds=1))
    assert signer.signatures == made, "the token was not asked to sign"
    signer.close()


def test_a_centre_plugs_in_its_own_hsm(tmp_path: Path) -> None:
    """The production path: a token the centre initialised (here another SoftHSM2 store,
    standing in for the HSM), named by CARDLINE_PKCS11_MODULE / _TOKEN_LABEL / _PIN_FILE;
    the installed command makes the DS key in it and keeps no token of its own."""
    centre = tmp_path / "centre-hsm"
    token = hsm.init_softhsm_token(
        tokendir=centre / "tokens", conf=centre / "softhsm2.conf",
        pin_file=centre / "user.pin", label="centre-ds",
    )  # fmt: skip
    home = tmp_path / "home"
    env = {
        **os.environ,
        "CARDLINE_HOME": str(home),
        "SOFTHSM2_CONF": str(centre / "softhsm2.conf"),  # the HSM's own configuration
        "CARDLINE_PKCS11_MODULE": str(token.module),
        "CARDLINE_PKCS11_TOKEN_LABEL": "centre-ds",
        "CARDLINE_PKCS11_PIN_FILE": str(centre / "user.pin"),
    }
    env.pop("CARDLINE_DB_URL", None)
    cardline = str(Path(sys.executable).parent / "cardline")

    def command(*args: str) -> str:
        done = subprocess.run(
            [cardline, "-q", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    command("db", "upgrade")  # the ceremony's audit row goes to the database
    command("keys", "init")
    command("keys", "rotate")
    shown = json.loads(command("keys", "show", "--json"))
    assert shown["ds_key"].startswith("pkcs11:token=centre-ds;id=%")
    assert f"pin-source=file:{centre / 'user.pin'}" in shown["ds_key"]
    assert sorted(p.name for p in (home / "keys").iterdir()) == [
        "csca.pem",
        "data.key",
        "ds-retired",
        "ds.pem",
    ]
    paths = keys.KeyPaths.in_directory(
        home / "keys", token=dataclasses.replace(token, label="centre-ds")
    )
    signer = keys.load_signer(paths)  # the current DS's key, in the centre's token
    with hsm.LOCK, hsm.open_session(token) as session:
        key = hsm.private_key(session, hsm.ds_key_id(signer.certificate.public_key()))  # type: ignore[arg-type]
        assert key[pkcs11.Attribute.SENSITIVE] and not key[pkcs11.Attribute.EXTRACTABLE]
    signer.close()
