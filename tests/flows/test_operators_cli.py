"""Operators and roles at the command line: enrolment, the role table, refusals in one
line, and the record of who saw which citizen's full ID.

The tests run as one OS user (``os_user()``: whoever runs pytest); the other operators are
enrolled straight into the database (``line.operators``), so the commands are run as the
user the test gives this or that role.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from flows.cli import run
from flows.cli.app import command
from flows.cli.roles import COMMAND_ROLES, EVERYONE, RoleRefused, leaf_commands, roles_needed
from flows.cli.status import NOT_ENROLLED
from line.db import make_engine, session_scope
from line.models import AuditEvent, Machine, Operator, StageEvent
from line.operators import Role, add_roles, os_user
from line.synthetic import write_csv
from line.types import utc_now
from tests.conftest import PG_URL
from tests.factories import good_rows, photo_file

ME = os_user()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CARDLINE_HOME", str(home))
    monkeypatch.delenv("CARDLINE_DB_URL", raising=False)
    assert run(["-q", "db", "upgrade"]) == 0
    return home


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["-q", *args])
    out, err = capsys.readouterr()
    return code, out, err


def db(home: Path) -> Engine:
    return make_engine(f"sqlite:///{home / 'cardline.db'}")


def enrol(home: Path, *people: tuple[str, list[Role]]) -> None:
    """Give each named person their roles, as a supervisor would have (the first listed
    must be a supervisor: the centre's rule)."""
    engine = db(home)
    with session_scope(engine) as session:
        for name, roles in people:
            add_roles(session=session, name=name, roles=roles, actor="boss@HN1", at=utc_now())
    engine.dispose()


def audit_rows(home: Path, kind: str | None = None) -> list[AuditEvent]:
    engine = db(home)
    with session_scope(engine) as session:
        query = select(AuditEvent).order_by(AuditEvent.id)  # type: ignore[arg-type]
        rows = [r for r in session.exec(query) if kind is None or r.kind == kind]
    engine.dispose()
    return rows


def test_a_fresh_centre_is_not_enrolled_and_nothing_is_role_checked(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "status")
    assert code == 0 and out.splitlines()[-1] == NOT_ENROLLED
    code, out, _ = cli(capsys, "status", "--json")
    assert json.loads(out)["operators_enrolled"] is False
    code, _, err = cli(capsys, "check")  # an auditor's, once enrolled
    assert code == 0, err
    code, out, _ = cli(capsys, "machine", "out", "print-01", "--reason", "jam")
    assert code == 0
    code, out, _ = cli(capsys, "operator", "list")
    assert "not enrolled" in out


def test_the_first_operator_is_a_supervisor_then_only_a_supervisor_adds(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "operator", "add", "bob", "--role", "operator")
    assert code == 1 and err.count("\n") == 1
    assert "the first operator of a centre must be a supervisor" in err
    assert audit_rows(home) == []  # nothing written

    code, out, err = cli(capsys, "operator", "add", ME, "--role", "supervisor", "--role", "auditor")
    assert code == 0, err
    assert out == f"operator {ME}: now auditor, supervisor\n"
    [added] = audit_rows(home, "operator.add")
    assert (added.actor, added.subject) == (f"{ME}@HN1", ME)
    assert json.loads(added.detail) == {"roles": ["auditor", "supervisor"]}
    code, out, _ = cli(capsys, "status")
    assert NOT_ENROLLED not in out

    assert cli(capsys, "operator", "add", "bob", "--role", "operator")[0] == 0
    code, _, err = cli(capsys, "operator", "remove", ME, "--role", "supervisor")
    assert code == 1 and "last supervisor" in err
    code, out, _ = cli(capsys, "operator", "list", "--json")
    listed = {o["name"]: [r["role"] for r in o["roles"]] for o in json.loads(out)}
    assert listed == {"bob": ["operator"], ME: ["auditor", "supervisor"]}

    # someone else becomes the supervisor; this user keeps only auditor
    enrol(home, ("boss", [Role.SUPERVISOR]))
    assert cli(capsys, "operator", "remove", ME, "--role", "supervisor")[0] == 0
    code, _, err = cli(capsys, "operator", "add", "carol", "--role", "auditor")
    assert (code, err) == (
        1,
        f"cardline: error: operator add needs the supervisor role; {ME} has auditor\n",
    )
    code, out, _ = cli(capsys, "operator", "list", "--json")
    assert "carol" not in out
    assert [r.kind for r in audit_rows(home)] == [
        "operator.add", "operator.add", "operator.add", "operator.remove",
    ]  # fmt: skip


def test_commands_outside_ones_roles_are_refused_in_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enrol(home, ("boss", [Role.SUPERVISOR]), (ME, [Role.OPERATOR]))
    refusals = {
        ("machine", "out", "print-01", "--reason", "jam"): "machine out needs the supervisor role",
        ("machine", "in", "print-01"): "machine in needs the supervisor role",
        ("check",): "check needs the auditor role",
        ("card", "show", "1", "--full"): "card show --full needs the supervisor role",
        ("card", "export", "1", "--out", str(home)): "card export needs the auditor role",
        ("stock", "receive", "--lot", "L", "--supplier", "S", "--quantity", "1"): (
            "stock receive needs the stock_clerk role"
        ),
        ("keys", "init"): "keys init needs the key_custodian role",
        ("db", "upgrade"): "db upgrade needs the supervisor role",
    }
    for args, why in refusals.items():
        code, out, err = cli(capsys, *args)
        assert (code, out, err) == (1, "", f"cardline: error: {why}; {ME} has operator\n"), args
    engine = db(home)
    with session_scope(engine) as session:
        assert session.exec(select(Machine)).all() == []  # nothing done
    engine.dispose()
    # within the role, or read-only: not refused
    assert cli(capsys, "status")[0] == 0
    assert cli(capsys, "machine", "list")[0] == 0
    code, _, err = cli(capsys, "card", "show", "1")
    assert code == 1 and "no application for '1'" in err  # it ran: there is none


def test_a_user_who_is_no_operator_is_refused_even_what_only_reads(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enrol(home, ("boss", [Role.SUPERVISOR]))
    code, _, err = cli(capsys, "status")
    assert code == 1
    assert err == (
        f"cardline: error: status needs an operator of this centre; {ME} is not an operator "
        "(cardline operator list)\n"
    )
    assert cli(capsys, "stock", "status")[0] == 1


def test_full_ids_shown_and_cards_exported_are_recorded_with_who_did_it(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "keys", "init")[0] == 0  # test keys, before anyone is enrolled
    enrol(home, (ME, [Role.SUPERVISOR, Role.AUDITOR, Role.OPERATOR, Role.STOCK_CLERK]))
    photo_file(tmp_path / "in" / "photos", "a.jpg")
    photo_file(tmp_path / "in" / "photos", "b.png")
    rows = good_rows(3)
    write_csv(tmp_path / "in" / "batch.csv", rows)
    assert cli(capsys, "intake", str(tmp_path / "in" / "batch.csv"))[0] == 0
    code, _, err = cli(
        capsys, "stock", "receive", "--lot", "L1", "--supplier", "Chip Co", "--quantity", "10",
        "--first-uid", "04D00000000001",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = cli(capsys, "run", "--without-prefect")
    assert code == 0, err
    who = rows[0]

    code, out, _ = cli(capsys, "card", "show", who["id_number"])
    assert code == 0 and who["id_number"] not in out
    assert audit_rows(home, "card.show_full") == []  # a masked view is not one of full IDs
    code, out, _ = cli(capsys, "card", "show", who["id_number"], "--full")
    assert code == 0 and who["id_number"] in out
    [shown] = audit_rows(home, "card.show_full")
    detail = json.loads(shown.detail)
    assert shown.actor == f"{ME}@HN1" and shown.subject == detail["card_serial"]
    assert detail["id_number"] == "********" + who["id_number"][-4:]
    assert who["id_number"] not in shown.detail and who["full_name"] not in shown.detail

    code, _, err = cli(capsys, "card", "export", who["id_number"], "--out", str(tmp_path / "x"))
    assert code == 0, err
    [exported] = audit_rows(home, "card.export")
    assert exported.actor == f"{ME}@HN1" and exported.subject == shown.subject
    assert who["id_number"] not in exported.detail

    engine = db(home)
    with session_scope(engine) as session:
        actors = {e.actor for e in session.exec(select(StageEvent))}
    engine.dispose()
    # the direct run: who ran it, and which process
    assert actors and all(a.startswith(f"{ME}@HN1/") for a in actors), actors


def test_machine_out_is_recorded(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "machine", "out", "print-01", "--reason", "ribbon jam")
    assert code == 0, err
    [out] = audit_rows(home, "machine.out")
    assert (out.actor, out.subject) == (f"{ME}@HN1", "print-01")
    assert json.loads(out.detail) == {"stage": "print", "reason": "ribbon jam"}
    engine = db(home)
    with session_scope(engine) as session:
        machine = session.get(Machine, "print-01")
        assert machine is not None and machine.changed_by == f"{ME}@HN1"
        assert session.exec(select(Operator)).all() == []
    engine.dispose()


def test_every_command_is_in_the_role_table() -> None:
    leaves = leaf_commands(command())
    missing = sorted(set(leaves) - set(COMMAND_ROLES))
    assert missing == [], f"commands with no row in flows/cli/roles.py: {missing}"
    for rule in COMMAND_ROLES:  # an option's rule names a real option of a real command
        head, _, option = rule.partition(" --")
        if option:
            assert option.replace("-", "_") in {p.name for p in leaves[head].params}, rule
    assert roles_needed("card show", {"full": True}) == ("card show --full", {Role.SUPERVISOR})
    assert roles_needed("card show", {"full": False}) == ("card show", EVERYONE)
    # a command no one put in the table is refused to everyone
    assert roles_needed("new thing", {}) == ("new thing", frozenset())
    refused = RoleRefused("new thing", user="alice", needs=frozenset(), has={Role.SUPERVISOR})
    assert "new thing needs a row in the role table" in str(refused)


@pytest.mark.postgres
def test_on_postgresql_the_roles_are_checked_and_db_roles_makes_the_groups(
    empty_pg: Engine,
    pg_admin: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with empty_pg.connect() as connection:
        schema = connection.execute(sa.text("SELECT current_schema()")).scalar_one()
    monkeypatch.setenv("CARDLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARDLINE_DB_URL", f"{PG_URL}?options=-csearch_path%3D{schema}")
    tag = uuid.uuid4().hex[:10]
    prefix, boss = f"t{tag}", f"boss_{tag}"
    groups = [f"{prefix}_{role.value}" for role in Role]
    try:
        assert cli(capsys, "db", "upgrade")[0] == 0
        code, out, err = cli(capsys, "db", "roles", "--prefix", prefix)  # not enrolled yet
        assert code == 0, err
        assert out.splitlines() == [f"schema {schema}: group roles {', '.join(groups)}"]
        with pg_admin.connect() as connection:
            made = connection.execute(
                sa.text("SELECT rolname FROM pg_roles WHERE rolname LIKE :p ORDER BY 1"),
                {"p": f"{prefix}\\_%"},
            ).scalars()
            assert sorted(made) == sorted(groups)
        code, out, err = cli(capsys, "operator", "add", boss, "--role", "supervisor")
        assert code == 0, err
        assert "cardline db roles gives" in out  # on PostgreSQL: what to run next
        code, _, err = cli(capsys, "status")
        assert code == 1 and f"status needs an operator of this centre; {ME} is not" in err
        code, _, err = cli(capsys, "db", "roles", "--prefix", prefix)
        assert code == 1 and "db roles needs the supervisor role" in err
    finally:
        with pg_admin.begin() as connection:
            for role in [boss, *groups]:
                if connection.execute(
                    sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
                ).first():
                    connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
                    connection.exec_driver_sql(f'DROP ROLE "{role}"')


def test_an_export_that_fails_leaves_no_record_of_it(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo_file(tmp_path / "in" / "photos", "a.jpg")
    photo_file(tmp_path / "in" / "photos", "b.png")
    rows = good_rows(1)
    write_csv(tmp_path / "in" / "batch.csv", rows)
    assert cli(capsys, "intake", str(tmp_path / "in" / "batch.csv"))[0] == 0
    code, _, err = cli(capsys, "card", "export", rows[0]["id_number"], "--out", str(tmp_path))
    assert code == 1 and "has no card yet" in err
    assert audit_rows(home, "card.export") == []
