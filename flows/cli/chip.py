"""``cardline chip``: virtual chips served to pcscd's virtual reader (vsmartcard vpcd)."""

from __future__ import annotations

from typing import Annotated

import typer

from flows.cli.context import cli_context, not_nan
from line.errors import CardlineError
from line.types import MAX_DB_INTEGER

app = typer.Typer(help="Virtual chips.", no_args_is_help=True)


@app.command("serve")
def chip_serve(
    ctx: typer.Context,
    card: Annotated[
        str | None,
        typer.Option(
            "--card",
            metavar="SERIAL",
            help="Serve this finished card's chip, as personalised (virtual chips only), "
            "for any PC/SC reader program to read with BAC from the card's MRZ.",
        ),
    ] = None,
    port: Annotated[
        int,
        typer.Option(min=1, max=65535, help="vpcd port (35963: reader 'Virtual PCD 00 00')."),
    ] = 35963,
    host: Annotated[str, typer.Option(help="Where pcscd's vpcd listens.")] = "127.0.0.1",
    lot: Annotated[str, typer.Option(help="Lot number of the chips served.")] = "VCHIP-0001",
    first_uid: Annotated[
        str, typer.Option(help="UID of the lot's first chip (hex, 4 to 10 bytes).")
    ] = "04000000000001",
    count: Annotated[
        int, typer.Option(min=1, max=MAX_DB_INTEGER, help="Chips in the lot.")
    ] = 1_000_000,
    defect_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of defective chips.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the defects.")] = 0,
    wait_seconds: Annotated[
        float,
        typer.Option(min=0, max=3600, help="How long to wait for vpcd to answer before giving up."),
    ] = 10.0,
) -> None:
    """Serve virtual chips to pcscd's virtual reader (vsmartcard vpcd) until stopped.

    With --card SERIAL: that card's chip as the line personalised it (its image under
    $CARDLINE_HOME/chips), locked, readable only with BAC from the MRZ printed on the
    card, with Chip and Active Authentication. Without: blank chips of a lot, each a card
    body in the reader; once personalised, locked and powered down, the next goes in.
    Needs pcscd running with the vsmartcard-vpcd driver: if nothing answers at HOST:PORT
    within --wait-seconds, one line says so (exit 1). (Long by its option declarations.)
    """
    from printers.chip import vpcd

    uid = _chip_uid(first_uid, count)
    not_nan(defect_rate, "--defect-rate")
    not_nan(wait_seconds, "--wait-seconds")
    if card is not None:
        from printers.atrest import centre_sealer
        from printers.chip.vimage import ChipImages

        settings = cli_context(ctx).settings
        chip = ChipImages(settings.chips_dir, sealer=centre_sealer(settings)).load(card)
        _wait_for_vpcd(host, port, wait_seconds)
        reader = f"Virtual PCD 00 {(port - 35963):02d}" if 35963 <= port < 35963 + 100 else ""
        typer.echo(
            f"serving card {card} (chip {chip.uid.hex().upper()}, a VIRTUAL chip) to vpcd "
            f"{host}:{port}{f' (reader {reader!r})' if reader else ''}; read it with BAC "
            "from the MRZ printed on the card; Ctrl-C stops"
        )
        vpcd.serve_until_signalled(vpcd.ChipSlot(chip), host, port)
        return
    _wait_for_vpcd(host, port, wait_seconds)
    code = vpcd.main(
        [
            f"--host={host}", "--port", str(port), f"--lot={lot}", "--first-uid", uid,
            "--count", str(count), "--defect-rate", str(defect_rate), "--seed", str(seed),
        ]
    )  # fmt: skip
    if code:
        raise typer.Exit(code)


def _chip_uid(text: str, count: int) -> str:
    """``text`` as a lot's first UID (hex, 4 to 10 bytes) with room for ``count`` chips."""
    import re

    if not re.fullmatch(r"(?:[0-9A-Fa-f]{2}){4,10}", text):
        raise typer.BadParameter(
            f"{text[:40]!r} is not a chip UID (hex, 4 to 10 bytes)", param_hint="--first-uid"
        )
    if int(text, 16) + count > 1 << (4 * len(text)):
        raise typer.BadParameter(
            f"{count} chips from {text} do not fit in {len(text) // 2} bytes",
            param_hint="--first-uid",
        )
    return text


def _wait_for_vpcd(host: str, port: int, seconds: float) -> None:
    """Return once something accepts a connection at ``host:port`` (vpcd, normally); after
    ``seconds`` without, a ``CardlineError`` saying what to start."""
    import socket
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection((host, port), timeout=min(1.0, max(seconds, 0.1))):
                return
        except (OSError, UnicodeError, ValueError) as exc:  # refused, unknown host, bad name
            why = getattr(exc, "strerror", None) or str(exc)
        if time.monotonic() >= deadline:
            raise CardlineError(
                f"nothing answers at {host[:80]}:{port} (vpcd) after {seconds:g} s ({why}): "
                "start pcscd with vsmartcard's vpcd driver (pcscd --foreground), then "
                "cardline chip serve again"
            )
        time.sleep(0.2)
