"""``cardline keys``: the TEST country signing CA and the Document Signer that sign chips."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.context import actor, cli_context, echo_json
from line.errors import NotFound
from line.types import utc_now

app = typer.Typer(help="The CSCA and Document Signer that sign the chips.", no_args_is_help=True)


Custodians = Annotated[
    list[str] | None,
    typer.Option(
        "--custodian",
        help="A key custodian present (twice: two different people). Without any: a TEST "
        "ceremony with generated shares, refused once operators are enrolled.",
    ),
]
ShareFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--share-file",
        help="An owner-only file holding one custodian's share, in --custodian order "
        "(twice; without it each share is prompted for, never taken from the arguments).",
    ),
]


def _shares(custodians: list[str], files: list[Path] | None, *, confirm: bool) -> list[str]:
    """The custodians' shares, from their files or prompted for (hidden)."""
    from printers.ceremony import CeremonyError, read_share_file

    if files:
        if len(files) != len(custodians):
            raise CeremonyError(
                f"{len(files)} --share-file for {len(custodians)} custodians: one each"
            )
        return [read_share_file(path) for path in files]
    return [
        typer.prompt(f"share of {name}", hide_input=True, confirmation_prompt=confirm)
        for name in custodians
    ]


@app.command("init")
def keys_init(
    ctx: typer.Context,
    custodian: Custodians = None,
    share_file: ShareFiles = None,
    test_shares: Annotated[
        bool,
        typer.Option(
            "--test-shares",
            help="TEST set-ups only: generate both shares and keep them beside the offline "
            "CA key (refused once operators are enrolled).",
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace existing test keys.")] = False,
) -> None:
    """The key ceremony that makes a TEST country signing CA (its key in the offline CA
    file, encrypted under two custodians' shares), a Document Signer whose key is made in
    the PKCS#11 token, and the data key of personal data at rest (wrapped by the token)."""
    from line.db import session_scope
    from printers.ceremony import (
        TEST_CUSTODIANS,
        check_custodians,
        init_ceremony,
        test_share_files,
    )
    from printers.keys import KeyPaths, keys_info

    c = cli_context(ctx)
    paths = KeyPaths.from_settings(c.settings)
    test = test_shares or not custodian
    names = custodian or list(TEST_CUSTODIANS)
    with session_scope(c.ready_engine()) as session:
        if not test:
            check_custodians(session=session, names=names)  # before any share is asked for
        shares = None if test else _shares(names, share_file, confirm=True)
        init_ceremony(
            session=session,
            paths=paths,
            custodians=names,
            shares=shares,
            now=utc_now(),
            actor=actor(ctx),
            overwrite=force,
        )
    info = keys_info(paths)
    typer.echo(f"TEST keys (not for production) in {paths.directory}:")
    typer.echo(f"  CSCA        {paths.csca_cert.name}; its key offline in {paths.csca_key}")
    typer.echo(f"              encrypted under the shares of {names[0]} and {names[1]}")
    if test:
        first, second = test_share_files(paths)
        typer.echo(f"              TEST shares generated, kept in {first} and {second}")
    typer.echo(f"  DS          {paths.ds_cert.name}; its key in the token: {info['ds_key']}")
    typer.echo(f"  data key    {paths.data_key.name}; wrapped by an AES key in the token")


@app.command("rotate")
def keys_rotate(
    ctx: typer.Context, custodian: Custodians = None, share_file: ShareFiles = None
) -> None:
    """The key ceremony that issues a new Document Signer under the CSCA (the offline CA
    key opened with both custodians' shares): the line signs with it from its next run;
    cards signed before still verify against the CSCA."""
    from line.db import session_scope
    from printers.ceremony import TEST_CUSTODIANS, check_custodians, rotate_ceremony
    from printers.keys import KeyPaths, keys_info

    c = cli_context(ctx)
    paths = KeyPaths.from_settings(c.settings)
    names = custodian or list(TEST_CUSTODIANS)
    with session_scope(c.ready_engine()) as session:
        shares = None
        if custodian:
            check_custodians(session=session, names=names)
            shares = _shares(names, share_file, confirm=False)
        ds = rotate_ceremony(
            session=session,
            paths=paths,
            custodians=names,
            shares=shares,
            now=utc_now(),
            actor=actor(ctx),
        )
    info = keys_info(paths)
    typer.echo(
        f"new Document Signer {ds.serial_number:x}, signs until {info['ds_key_usage'][1]}; "
        f"key {info['ds_key']}; custodians {names[0]} and {names[1]}"
        + ("" if custodian else " (TEST shares kept beside the offline CA key)")
    )


@app.command("show")
def keys_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The CSCA and Document Signer certificates, the DS key's pkcs11: URI, its usage period
    and how many signatures it made."""
    from printers.keys import KeyFileMissing, KeyPaths, keys_info

    c = cli_context(ctx)
    try:
        info = keys_info(KeyPaths.from_settings(c.settings))
    except KeyFileMissing as exc:
        raise NotFound(f"no certificate at {exc.path}: run `cardline keys init`") from None
    if as_json:
        echo_json(info)
        return
    for label in ("csca", "ds"):
        typer.echo(f"{label.upper():<5}{info[f'{label}_cert']}")
        typer.echo(f"     {info[f'{label}_subject']}, valid until {info[f'{label}_not_after']}")
        typer.echo(f"     key signs until {info[f'{label}_key_usage'][1]}")
    typer.echo(f"     key {info['ds_key']}; {info['ds_signatures']} signatures")
    for retired in info["ds_retired"]:
        typer.echo(
            f"     retired DS {retired['serial']}: signed until {retired['key_usage_ended']}, "
            f"{retired['signatures']} signatures"
        )
