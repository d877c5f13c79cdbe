"""``photondbg replay``: serve a capture to any GDB as a halted Cortex-M (GDB remote protocol on
127.0.0.1). Thin over :mod:`photondbg.replay`: loads and checks the capture before listening."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import click

from photondbg.ports import LOOPBACK


def vscode_config(image, port: int) -> dict:
    """A Cortex-Debug launch configuration that attaches to this replay server."""
    return {
        "version": "0.2.0",
        "configurations": [
            {
                "name": f"photondbg replay {image.capdir.name}",
                "type": "cortex-debug",
                "request": "attach",
                "servertype": "external",
                "gdbTarget": f"{LOOPBACK}:{port}",
                "gdbPath": "gdb-multiarch",
                "executable": str(image.elf.resolve()),
                "cwd": "${workspaceFolder}",
                "showDevDebugOutput": "none",
            }
        ],
    }


def write_vscode(image, port: int) -> Path:
    from photondbg.capture.report import atomic_write

    path = image.capdir / ".vscode" / "launch.json"
    atomic_write(path, json.dumps(vscode_config(image, port), indent=2) + "\n")
    return path


@click.command("replay")
@click.argument("capture_dir", type=click.Path(path_type=Path))
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="TCP port on 127.0.0.1 (0: the system picks a free one).",
)
@click.option(
    "--elf",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The firmware ELF, if the capture holds no copy and its recorded path is gone "
    "(its sha256 must match the capture).",
)
@click.option(
    "--vscode",
    is_flag=True,
    help="Write CAPTURE_DIR/.vscode/launch.json: a Cortex-Debug configuration "
    "(servertype external) that attaches to this server.",
)
@click.option("--once", is_flag=True, help="Exit when the first GDB client disconnects.")
def replay(capture_dir, port, elf, vscode, once):
    """Serve a capture to GDB: registers at the fault, captured RAM/stack, flash from the ELF.

    \b
    The capture stays halted: reads of memory that was not captured fail
    ("Cannot access memory"), writes, breakpoints, stepping and continuing are refused.
    The first line on stdout is `listening on 127.0.0.1:PORT`. `kill` in GDB or
    Ctrl-C stops the server; `detach` leaves it running for the next client.

    \b
    Example:
      photondbg replay captures/20261130T214453Z-sim --port 3333 &
      gdb-multiarch captures/20261130T214453Z-sim/firmware.elf \\
          -ex 'target remote 127.0.0.1:3333' -ex bt -ex 'info registers' -ex 'x/16x $sp'
    Exit 0 when stopped, 2 bad capture or port in use, 1 server failure.
    """
    from photondbg.replay import image as image_mod
    from photondbg.replay.server import ReplayServer

    img = image_mod.load(capture_dir, elf)
    server = ReplayServer(
        img, port, log=lambda msg: click.echo(f"photondbg: replay: {msg}", err=True)
    )

    def _term(signum, frame):
        raise SystemExit(0)

    old = signal.signal(signal.SIGTERM, _term)
    try:
        if vscode:  # written before the first line, so a client that reads it finds the file
            click.echo(f"photondbg: replay: wrote {write_vscode(img, server.port)}", err=True)
        click.echo(f"listening on {LOOPBACK}:{server.port}")
        server.serve(once=once)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        signal.signal(signal.SIGTERM, old)
