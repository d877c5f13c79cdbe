"""``photondbg sim boot`` and ``photondbg sim netcut``: one simulated board serving until
Ctrl-C, and its WiFi cut or restored from another shell."""

from __future__ import annotations

import threading
import time

import click

from photondbg import firmware
from photondbg.cli.common import (
    app_option,
    out_dir,
    out_option,
    port_option,
    seconds_option,
    variant_option,
)
from photondbg.errors import ToolFailure, UsageError


def _local_port_option(name: str, help: str):
    """A 127.0.0.1 TCP port the board also listens on (0: a free one)."""
    return click.option(name, type=click.IntRange(0, 65535), default=None, help=help)


@click.command("boot")
@app_option()
@variant_option()
@port_option()
@seconds_option("--seconds", 0, help="Stop after this many seconds [default: run until Ctrl-C].")
@out_option("Directory for serial.log and bridge.log.")
@_local_port_option(
    "--console-port",
    "Also relay the console to this 127.0.0.1 TCP port (0: a free one), "
    "readable as --serial socket://127.0.0.1:N.",
)
@_local_port_option(
    "--control-port",
    "Accept `cut down|uplink`, `restore`, `status` lines on this 127.0.0.1 port "
    "(0: a free one); see `photondbg sim netcut`.",
)
@click.option(
    "--console-usb",
    is_flag=True,
    help="Drop the --console-port readers at each reset, as the Photon's USB serial "
    "disappears and re-enumerates.",
)
def boot(app, variant, port, seconds, out, console_port, control_port, console_usb):
    """Boot the simulated board and serve until Ctrl-C, printing its host port and console.

    With --console-port and --control-port it is a stand-in for a Photon on the LAN: run
    `photondbg campaign --target photon` against it.

    \b
    Example:
      photondbg sim boot --app simple-server
      curl http://127.0.0.1:<the printed port>/
      photondbg sim boot --variant none --port 8080 --console-port 8081 --control-port 8082
    """
    from photondbg.firmware import app_port
    from photondbg.ports import listen
    from photondbg.procs import ProcessOwner
    from photondbg.sim.bridge import Bridge
    from photondbg.targets.sim import SimTarget

    for name, value in (
        ("--port", port),
        ("--console-port", console_port),
        ("--control-port", control_port),
    ):
        # bound the way the servers bind (SO_REUSEADDR): a port whose last connections are
        # in TIME_WAIT, as after a quick restart of the board, is free for them
        if value:
            try:
                listen(value).close()
            except UsageError:
                raise UsageError(
                    f"{name} {value}: port {value} on 127.0.0.1 is already in use"
                ) from None
    given = [v for v in (port, console_port, control_port) if v]
    if console_usb and console_port is None:
        raise UsageError("--console-usb needs --console-port")
    if len(set(given)) != len(given):
        raise UsageError("--port, --console-port and --control-port must differ")
    outdir = out_dir(out, f"boot-{app}-{variant}")
    elf = firmware.build(app=app, variant=variant)
    device_port = app_port(app)
    with ProcessOwner(logdir=outdir) as owner:
        relay = None
        if console_port is not None:
            from photondbg.sim.lan import ConsoleRelay

            relay = ConsoleRelay(console_port, usb=console_usb)
            owner.add_cleanup(relay.close)

        def start_board(n: int) -> SimTarget:
            t = SimTarget(elf, owner, logdir=outdir if n == 1 else outdir / f"reset-{n - 1:02d}")
            t.start()
            t.console.on_line(lambda _, text: click.echo(f"serial| {text}"))
            if relay is not None:
                t.console.on_line(relay.send_line)
            return t

        boots = 1
        target = start_board(boots)
        bridge = Bridge(
            target.link, logdir=outdir, host_ports={device_port: port} if port else None
        )
        owner.add_cleanup(bridge.close)
        if relay is not None:
            click.echo(f"console: socket://127.0.0.1:{relay.port}")
        reset = threading.Event()
        if control_port is not None:
            from photondbg.sim.lan import ControlServer

            control = ControlServer(bridge, control_port, on_reset=reset.set)
            owner.add_cleanup(control.close)
            click.echo(
                f"control: 127.0.0.1:{control.port} (cut down|uplink, restore, reset, status)"
            )
        port = bridge.wait_host_port(device_port, 15)
        if port is None:
            raise ToolFailure(
                f"the board never listened on port {device_port}; see {outdir}/serial.log"
            )
        click.echo(
            f"serving: device port {device_port} -> http://127.0.0.1:{port}/ (Ctrl-C to stop)"
        )
        end = None if seconds is None else time.monotonic() + seconds
        dead = False
        while end is None or time.monotonic() < end:
            if reset.is_set():  # the reset line of a real board: a new QEMU, same ports
                reset.clear()
                bridge.detach()
                target.stop()
                boots += 1
                target = start_board(boots)
                bridge.attach(target.link)
                click.echo(f"reset: board restarted (boot {boots})")
                dead = False
            if not target.running and not dead:
                if control_port is None:
                    raise ToolFailure(f"qemu exited ({target.returncode})")
                # a locked-up board stays dead until someone resets it
                click.echo(f"qemu exited ({target.returncode}); waiting for a reset")
                dead = True
            time.sleep(0.1)


@click.command("netcut")
@click.option(
    "--control",
    required=True,
    metavar="127.0.0.1:PORT",
    help="The --control-port of a running `photondbg sim boot`.",
)
@click.option(
    "--kind",
    type=click.Choice(("down", "uplink")),
    default="down",
    show_default=True,
    help="down = AP power off; uplink = AP cable pulled (for `cut`).",
)
@click.argument("action", type=click.Choice(("cut", "restore", "reset", "status")))
def netcut(control, kind, action):
    """Cut or restore the WiFi of a running `photondbg sim boot`, like a relay on a real AP
    (what a user puts in --netcut-cmd / --netrestore-cmd); `reset` restarts the board (what
    a user puts in --reset-cmd).

    \b
    Example:
      photondbg sim netcut --control 127.0.0.1:8082 cut --kind uplink
      photondbg sim netcut --control 127.0.0.1:8082 restore
    """
    from photondbg.sim.lan import control_request

    request = f"cut {kind}" if action == "cut" else action
    click.echo(control_request(control, request).removeprefix("ok ").strip())
