"""``cardline keys``: the TEST country signing CA and the Document Signer that sign chips."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli.context import cli_context, echo_json
from line.errors import NotFound
from line.types import utc_now

app = typer.Typer(help="The CSCA and Document Signer that sign the chips.", no_args_is_help=True)


@app.command("init")
def keys_init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Replace existing test keys.")] = False,
) -> None:
    """Create a TEST country signing CA (its key in the offline CA file) and a Document
    Signer whose key is made inside the PKCS#11 token (the embedded SoftHSM2 one by default)."""
    from printers.keys import KeyPaths, init_keys, keys_info

    c = cli_context(ctx)
    paths = init_keys(KeyPaths.from_settings(c.settings), now=utc_now(), overwrite=force)
    info = keys_info(paths)
    typer.echo(f"TEST keys (not for production) in {paths.directory}:")
    typer.echo(f"  CSCA        {paths.csca_cert.name}; its key offline in {paths.csca_key}")
    typer.echo(f"  DS          {paths.ds_cert.name}; its key in the token: {info['ds_key']}")


@app.command("rotate")
def keys_rotate(ctx: typer.Context) -> None:
    """Issue a new Document Signer under the CSCA (reads the offline CA key): the line signs
    with it from its next run; cards signed before still verify against the CSCA."""
    from printers.keys import KeyPaths, keys_info, rotate_ds

    c = cli_context(ctx)
    paths = KeyPaths.from_settings(c.settings)
    ds = rotate_ds(paths, now=utc_now())
    info = keys_info(paths)
    typer.echo(
        f"new Document Signer {ds.serial_number:x}, signs until {info['ds_key_usage'][1]}; "
        f"key {info['ds_key']}"
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
