"""``photondbg flash``: write firmware to a real Photon (particle-cli, dfu-util or OpenOCD)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from photondbg.cli.options import default_probe
from photondbg.photon import board
from photondbg.photon.flash import METHODS


def _address(ctx, param, value):
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        raise click.BadParameter(f"not an address: {value!r} (e.g. 0x080A0000)") from None


@click.command("flash")
@click.option("--target", type=click.Choice(["photon"]), default="photon", show_default=True)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="particle",
    show_default=True,
    help="particle: particle flash --usb; dfu: dfu-util (Photon in DFU mode); "
    "openocd: program ... verify reset through a debug probe.",
)
@click.option(
    "--probe",
    type=click.Choice(sorted(board.INTERFACES)),
    default=None,
    help="openocd: the debug probe [default: $PHOTONDBG_PROBE, else cmsis-dap].",
)
@click.option(
    "--address",
    callback=_address,
    default=None,
    help="dfu/openocd with a .bin: flash address (default: from the image; "
    "0x080A0000 user part, 0x08020000 monolithic).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON line.")
@click.argument("file", type=click.Path(path_type=Path))
def flash(target, method, probe, address, as_json, file):
    """Flash FILE (.bin, or an ELF for openocd) to a Photon and verify it.

    \b
    Examples:
      photondbg flash --method particle app.bin
      photondbg flash --method dfu build/.../multi-server.bin
      photondbg flash --method openocd --probe stlink multi-server.elf
    Exit 0 flashed and verified, 2 bad input or no device attached, 1 flashing failed.
    """
    from photondbg.photon.flash import flash as do_flash

    res = do_flash(file, method, interface=default_probe(probe), address=address)
    info = {
        "method": res.method,
        "image": str(res.image),
        "address": res.address,
        "verified": res.verified,
        "detail": res.detail,
    }
    if as_json:
        click.echo(json.dumps(info))
    else:
        where = f" at 0x{res.address:08X}" if res.address is not None else ""
        click.echo(
            f"flashed {res.image}{where} by {res.method}" + (" (verified)" if res.verified else "")
        )
