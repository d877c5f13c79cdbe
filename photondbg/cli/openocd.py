"""``photondbg openocd``: an OpenOCD session for a Photon, for a GDB of your own."""

from __future__ import annotations

import json
import time

import click

from photondbg.cli.options import Seconds, default_probe
from photondbg.photon import board
from photondbg.photon.openocd_argv import RTOS_CHOICES


@click.command("openocd")
@click.option(
    "--probe",
    type=click.Choice(sorted(board.INTERFACES)),
    default=None,
    help="cmsis-dap: Particle Debugger; stlink: ST-Link [default: $PHOTONDBG_PROBE, "
    "else cmsis-dap].",
)
@click.option(
    "--rtos",
    type=click.Choice(RTOS_CHOICES),
    default=None,
    help="Thread awareness (Device OS runs FreeRTOS).",
)
@click.option("--no-vector-catch", is_flag=True, help="Do not halt on faults.")
@click.option(
    "--timeout",
    type=Seconds(min=0.1, min_open=False),
    default=15.0,
    show_default=True,
    help="Seconds to wait for OpenOCD's GDB server.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the ports as one JSON line.")
def openocd(probe, rtos, no_vector_catch, timeout, as_json):
    """Start OpenOCD on 127.0.0.1 (free ports), vector catch on every fault; Ctrl-C stops it.

    \b
    Then, in another terminal:
      gdb-multiarch firmware.elf -ex 'target extended-remote 127.0.0.1:PORT'
    Exit 0 after a clean stop, 2 no probe / bad usage, 1 OpenOCD failed.
    """
    from photondbg.photon.openocd import OpenOcdSession
    from photondbg.procs import ProcessOwner

    interface = default_probe(probe)
    with ProcessOwner() as owner:
        session = OpenOcdSession(owner, interface, rtos=rtos, vector_catch=not no_vector_catch)
        session.start(timeout=timeout)
        info = {
            "gdb_port": session.gdb_port,
            "telnet_port": session.telnet_port,
            "interface": interface,
            "pid": session.child.pid,
        }
        if as_json:
            click.echo(json.dumps(info))
        else:
            click.echo(
                f"OpenOCD ready: gdb 127.0.0.1:{session.gdb_port}, "
                f"telnet 127.0.0.1:{session.telnet_port} (Ctrl-C to stop)"
            )
        session.on_event(
            lambda e: e.kind in ("lockup", "halted", "state") and click.echo(e.line, err=True)
        )
        try:
            while session.running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        rc = session.stop()
    if rc not in (0, None, -15):
        click.echo(f"photondbg: OpenOCD ended with status {rc}", err=True)
