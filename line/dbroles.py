"""The operators' roles as PostgreSQL roles: what the database itself lets each one do.

On PostgreSQL each :class:`~line.operators.Role` is a group role (``cardline_operator``,
``cardline_stock_clerk``, ``cardline_supervisor``, ``cardline_key_custodian``,
``cardline_auditor``) with only the grants its duties need, and each active operator is a
LOGIN role that is a member of the group roles of its roles (and of no other). So an
operator who connects as themself cannot do what their role may not, whichever program
they use: the refusals are the database's own.

What each group may do, on the tables of the schema in use:

* every group reads every table and appends to ``audit_event`` (every action records an
  audit row; the table refuses UPDATE and DELETE to everyone);
* ``auditor``: nothing more, and of the audit record only the rows of its own views
  (``card.show_full``, ``card.export``): it cannot write anything else;
* ``operator``: the line's tables (applications, cards, stage events, machines and their
  leases, dispatch batches, intake runs, lots' counters, reservations) and the stock
  ledger's movements except receipts and adjustments (row-level security on
  ``stock_movement``);
* ``stock_clerk``: stock items, lots, purchase orders, and receipts and adjustments in
  the ledger (an adjustment waits for a supervisor's approval: maker-checker);
* ``supervisor``: every table (operators, machines, approvals, adjustments);
* ``key_custodian``: reads only (the keys are in the token, not in the database).

The table owner (the account that runs the migrations) is not subject to row-level
security; :func:`sync_roles` runs as an account that may create roles (the DBA's).
Nothing here applies to SQLite: one machine, one user, the command line's check only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from line.errors import CardlineError
from line.operators import Role

LINE_TABLES = (
    "application", "card", "stage_event", "dispatch_batch", "intake_run", "machine",
    "machine_lease", "stock_lot", "stock_movement", "chip_reservation", "stock_item",
)  # fmt: skip
"""What a line run, an intake and a dispatch write."""

STOCK_TABLES = ("stock_item", "stock_lot", "stock_movement", "purchase_order")
"""What receiving and expecting stock write."""

OPERATOR_MOVEMENTS = ("receipt", "adjustment")
"""Movements of the ledger an operator's connection may not insert."""

CLERK_MOVEMENTS = ("receipt", "adjustment")
"""Movements of the ledger a stock clerk's connection may insert."""

AUDITOR_KINDS = ("card.show_full", "card.export")
"""The audit rows an auditor's connection may append: the record of its own views."""


class DatabaseRoleError(CardlineError):
    """The database roles cannot be set up here (not PostgreSQL, or no right to)."""


@dataclass(frozen=True, slots=True)
class RolesReport:
    """What :func:`sync_roles` set up: the schema, the group roles, and each operator's
    login with the group roles it is now a member of."""

    schema: str
    groups: dict[Role, str]
    logins: dict[str, list[str]]


def group_names(prefix: str = "cardline") -> dict[Role, str]:
    """The group role of each role: ``<prefix>_<role>``."""
    return {role: f"{prefix}_{role.value}" for role in Role}


def sync_roles(
    engine: Engine, *, operators: dict[str, set[Role]], prefix: str = "cardline"
) -> RolesReport:
    """Create the group roles (if missing) with their grants on the current schema, and
    make each of ``operators`` (name -> active roles; an empty set: no role left) a LOGIN
    role that is a member of exactly its roles' groups. One transaction; run again after
    ``db upgrade`` (new tables) and after operators change."""
    if engine.dialect.name != "postgresql":
        raise DatabaseRoleError(
            "database roles are PostgreSQL's; on SQLite the command line checks the roles"
        )
    groups = group_names(prefix)
    with engine.begin() as connection:
        schema = connection.execute(sa.text("SELECT current_schema()")).scalar_one()
        q = connection.dialect.identifier_preparer.quote
        for group in groups.values():
            _ensure_role(connection, group, login=False)
        _grant(connection, q(schema), {role: q(name) for role, name in groups.items()})
        _policies(connection, {role: q(name) for role, name in groups.items()}, prefix)
        logins = {
            name: _membership(connection, name, held, groups)
            for name, held in sorted(operators.items())
        }
    return RolesReport(schema=schema, groups=groups, logins=logins)


def _ensure_role(connection: Connection, name: str, *, login: bool) -> None:
    found = connection.execute(
        sa.text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": name}
    ).first()
    if found is None:
        quoted = connection.dialect.identifier_preparer.quote(name)
        connection.exec_driver_sql(f"CREATE ROLE {quoted} {'LOGIN' if login else 'NOLOGIN'}")


def _tables(connection: Connection) -> list[str]:
    rows = connection.execute(
        sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename <> 'alembic_version' ORDER BY tablename"
        )
    )
    return [row[0] for row in rows]


def _grant(connection: Connection, schema: str, groups: dict[Role, str]) -> None:
    """Each group's table grants, afresh (what it had before is revoked first)."""
    q = connection.dialect.identifier_preparer.quote
    tables = _tables(connection)
    every = ", ".join(groups.values())
    run = connection.exec_driver_sql
    run(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {every}")
    run(f"GRANT USAGE ON SCHEMA {schema} TO {every}")
    run(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {every}")
    run(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {every}")
    run(f"GRANT INSERT ON audit_event TO {every}")
    # every chained row (audit_event, stage_event, stock_movement) moves its chain's head
    run(f"GRANT SELECT, UPDATE ON chain_head TO {every}")
    writes = {
        Role.OPERATOR: [t for t in LINE_TABLES if t in tables],
        Role.STOCK_CLERK: [t for t in STOCK_TABLES if t in tables],
        Role.SUPERVISOR: [t for t in tables if t != "audit_event"],
    }
    for role, names in writes.items():
        if names:
            listed = ", ".join(q(t) for t in names)
            run(f"GRANT INSERT, UPDATE, DELETE ON {listed} TO {groups[role]}")


def _policies(connection: Connection, groups: dict[Role, str], prefix: str) -> None:
    """Row-level security on the ledger and the audit record: who may insert which rows."""
    run = connection.exec_driver_sql
    writers = ", ".join(g for role, g in groups.items() if role is not Role.AUDITOR)

    def listed(values: Iterable[str]) -> str:
        return ", ".join(f"'{v}'" for v in values)  # our own constants, never user input

    rules = {
        "stock_movement": [
            ("read", f"FOR SELECT TO {', '.join(groups.values())} USING (true)"),
            (
                "operator_insert",
                f"FOR INSERT TO {groups[Role.OPERATOR]} "
                f"WITH CHECK (kind NOT IN ({listed(OPERATOR_MOVEMENTS)}))",
            ),
            (
                "clerk_insert",
                f"FOR INSERT TO {groups[Role.STOCK_CLERK]} "
                f"WITH CHECK (kind IN ({listed(CLERK_MOVEMENTS)}))",
            ),
            ("supervisor_insert", f"FOR INSERT TO {groups[Role.SUPERVISOR]} WITH CHECK (true)"),
        ],
        "audit_event": [
            ("read", f"FOR SELECT TO {', '.join(groups.values())} USING (true)"),
            ("insert", f"FOR INSERT TO {writers} WITH CHECK (true)"),
            (
                "auditor_insert",
                f"FOR INSERT TO {groups[Role.AUDITOR]} "
                f"WITH CHECK (kind IN ({listed(AUDITOR_KINDS)}))",
            ),
        ],
    }
    for table, policies in rules.items():
        run(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        for name, body in policies:
            policy = connection.dialect.identifier_preparer.quote(f"{prefix}_{name}")
            run(f"DROP POLICY IF EXISTS {policy} ON {table}")
            run(f"CREATE POLICY {policy} ON {table} {body}")


def _membership(
    connection: Connection, name: str, held: set[Role], groups: dict[Role, str]
) -> list[str]:
    """``name`` a LOGIN role, member of the groups of ``held`` and of no other of ours."""
    q = connection.dialect.identifier_preparer.quote
    if held:
        _ensure_role(connection, name, login=True)
    elif not connection.execute(
        sa.text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": name}
    ).first():
        return []
    for role, group in groups.items():
        verb = "GRANT {g} TO {n}" if role in held else "REVOKE {g} FROM {n}"
        connection.exec_driver_sql(verb.format(g=q(group), n=q(name)))
    return sorted(groups[role] for role in held)
