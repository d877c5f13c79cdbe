"""``photondbg sim``: the simulated Photon (QEMU netduino2 + the bridge), no debugger needed."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

import click

from photondbg.errors import ToolFailure, UsageError

VARIANTS = ("none", "clients", "all")
APPS = ("multi-server", "simple-server")
CUT_CHOICES = ("mixed", "down", "uplink")


def _firmware():
    try:
        from photondbg import firmware
    except ImportError as e:  # the builder is part of the package; missing means a broken install
        raise ToolFailure(f"firmware builder unavailable: {e}") from None
    return firmware


def _hold(ctx, param, value):
    if value is None:
        return None
    try:
        lo, hi = (float(x) for x in value.split(":"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not MIN:MAX in seconds (e.g. 1:3)") from None
    if not 0 < lo <= hi:
        raise click.BadParameter(f"{value!r}: need 0 < MIN <= MAX")
    return lo, hi


def _out_dir(out: str | None, what: str) -> Path:
    """The run's output folder, created: ``--out`` or build/runs/<time>-<what>."""
    if out:
        path = Path(out)
    else:
        from photondbg.paths import build_dir

        path = build_dir() / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{what}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create --out {path}: {e.strerror}") from None
    return path


@click.group("sim")
def sim():
    """Run the simulated Photon: boot it, load it with HTTP, cut its WiFi.

    \b
    Examples:
      photondbg sim run --variant none --cycles 5
      photondbg sim run --variant clients --cycles 10 --json
      photondbg sim boot --app simple-server
    """


@sim.command("run")
@click.option("--variant", type=click.Choice(VARIANTS), default="none", show_default=True,
              help="none = the bug; clients = PR #1250 fix; all = both fixes.")
@click.option("--cycles", type=click.IntRange(min=1), default=5, show_default=True,
              help="WiFi cuts to run.")
@click.option("--app", type=click.Choice(APPS), default="multi-server", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the cut kinds, hold times and WiFi delays.")
@click.option("--hold", callback=_hold, metavar="MIN:MAX",
              help="Seconds each cut is held [default: 1:3 for down, 4:6 for uplink].")
@click.option("--cut", "cut", type=click.Choice(CUT_CHOICES), default="mixed", show_default=True,
              help="down = AP power off; uplink = AP cable pulled; mixed = seeded choice.")
@click.option("--period", type=click.FloatRange(min=0.05), default=0.25, show_default=True,
              help="Seconds between the tester's GET / requests (per client).")
@click.option("--clients", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Parallel HTTP clients.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Stop starting cycles after this many seconds.")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Serve the app on this 127.0.0.1 port [default: a free one].")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON summary as the last stdout line (progress goes to stderr).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Directory for serial.log, bridge.log, campaign.json [default: build/runs/...].")
def run(variant, cycles, app, seed, hold, cut, period, clients, port, timeout, as_json, out):
    """Boot the simulated board, run HTTP load, cut and restore its WiFi CYCLES times and
    classify each cycle: OK, CRASH, LOCKUP, HANG or NO_RECOVERY.

    \b
    Example:
      photondbg sim run --variant none --cycles 5 --seed 1
      photondbg sim run --variant all --cycles 3 --cut down --hold 1:2 --json
    Exit 0 when the campaign ran (whatever the outcomes), 2 on bad input, 1 on tool failure.
    """
    from photondbg.procs import ProcessOwner
    from photondbg.sim.campaign import Campaign, CampaignConfig
    from photondbg.ports import port_is_free
    from photondbg.sim.wifi import CUT_KINDS

    if port is not None and not port_is_free(port):
        raise UsageError(f"port {port} on 127.0.0.1 is already in use")
    outdir = _out_dir(out, f"sim-{app}-{variant}")
    elf = _firmware().build(app=app, variant=variant)
    cfg = CampaignConfig(elf=Path(elf), app=app, variant=variant, cycles=cycles, seed=seed,
                         cuts=CUT_KINDS if cut == "mixed" else (cut,), hold=hold, period=period,
                         clients=clients, host_port=port, timeout=timeout)
    progress = sys.stderr if as_json else sys.stdout
    tty = progress.isatty()

    def echo(text: str) -> None:
        click.echo(text, file=progress)

    def on_cycle(r) -> None:
        extra = f"  cut->crash {r.cut_to_crash:.2f}s" if r.cut_to_crash is not None else ""
        rec = f"  recovered in {r.recovery_time:.2f}s" if r.recovery_time is not None else ""
        http = " ".join(f"{k}={v}" for k, v in r.http.items() if v and k != "requests")
        echo(f"cycle {r.index}/{cycles}  {r.outcome:<11}  cut={r.cut:<6} hold={r.hold:.2f}s"
             f"{extra}{rec}  http[{http}]" + (f"  {r.detail}" if r.detail else ""))

    echo(f"sim run: {app} variant={variant} cycles={cycles} seed={seed} elf={elf} logs={outdir}")
    with ProcessOwner(logdir=outdir) as owner, _status(tty, progress) as status:
        def on_phase(index, phase):
            status(f"cycle {index}/{cycles}: {phase.value}" if index else phase.value)

        campaign = Campaign(cfg, owner, logdir=outdir, on_cycle=on_cycle,
                            on_note=echo, on_phase=on_phase)
        result = campaign.run()
    (outdir / "campaign.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    if tty:
        _table(result, progress)
    else:
        echo("outcomes: " + " ".join(f"{k}={v}" for k, v in result.outcomes.items()))
        echo("http: " + " ".join(f"{k}={v}" for k, v in result.http.items()))
    if as_json:
        click.echo(json.dumps(result.summary(), separators=(",", ":")))


@contextlib.contextmanager
def _status(tty: bool, stream):
    """A live one-line status (rich spinner) on a terminal; nothing otherwise."""
    if not tty:
        yield lambda text: None
        return
    from rich.console import Console

    with Console(file=stream).status("starting") as st:
        yield lambda text: st.update(text)


def _table(result, stream) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result.app} variant={result.variant} seed={result.seed}")
    for col in ("#", "cut", "hold", "outcome", "crash after", "recovered", "ok/timeout/err"):
        table.add_column(col, no_wrap=True)
    table.add_column("detail", overflow="fold")
    style = {"OK": "green", "NO_RECOVERY": "yellow"}
    for r in result.cycles:
        table.add_row(str(r.index), r.cut, f"{r.hold:.2f}s",
                      f"[{style.get(r.outcome, 'red')}]{r.outcome}[/]",
                      "" if r.cut_to_crash is None else f"{r.cut_to_crash:.2f}s",
                      "" if r.recovery_time is None else f"{r.recovery_time:.2f}s",
                      f"{r.http.get('ok', 0)}/{r.http.get('timeout', 0)}/"
                      f"{r.http.get('conn_error', 0)}", r.detail)
    con = Console(file=stream)
    con.print(table)
    con.print("outcomes: " + "  ".join(f"{k} {v}" for k, v in result.outcomes.items()))


@sim.command("boot")
@click.option("--app", type=click.Choice(APPS), default="multi-server", show_default=True)
@click.option("--variant", type=click.Choice(VARIANTS), default="all", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Serve the app on this 127.0.0.1 port [default: a free one].")
@click.option("--seconds", type=click.FloatRange(min=0), default=None,
              help="Stop after this many seconds [default: run until Ctrl-C].")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Directory for serial.log and bridge.log.")
def boot(app, variant, port, seconds, out):
    """Boot the simulated board and serve until Ctrl-C, printing its host port and console.

    \b
    Example:
      photondbg sim boot --app simple-server
      curl http://127.0.0.1:<the printed port>/
    """
    from photondbg.procs import ProcessOwner
    from photondbg.sim.bridge import Bridge
    from photondbg.sim.campaign import app_port
    from photondbg.targets.sim import SimTarget

    from photondbg.ports import port_is_free

    if port is not None and not port_is_free(port):
        raise UsageError(f"port {port} on 127.0.0.1 is already in use")
    outdir = _out_dir(out, f"boot-{app}-{variant}")
    elf = _firmware().build(app=app, variant=variant)
    device_port = app_port(app)
    with ProcessOwner(logdir=outdir) as owner:
        target = SimTarget(elf, owner, logdir=outdir)
        target.start()
        target.console.on_line(lambda t, text: click.echo(f"serial| {text}"))
        bridge = Bridge(target.link, logdir=outdir,
                        host_ports={device_port: port} if port else None)
        owner.add_cleanup(bridge.close)
        port = bridge.wait_host_port(device_port, 15)
        if port is None:
            raise ToolFailure(f"the board never listened on port {device_port}; "
                              f"see {outdir}/serial.log")
        click.echo(f"serving: device port {device_port} -> http://127.0.0.1:{port}/ "
                   f"(Ctrl-C to stop)")
        end = None if seconds is None else time.monotonic() + seconds
        while target.running and (end is None or time.monotonic() < end):
            time.sleep(0.1)
        if not target.running:
            raise ToolFailure(f"qemu exited ({target.returncode})")
