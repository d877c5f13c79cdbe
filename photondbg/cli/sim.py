"""``photondbg sim``: the simulated Photon (QEMU netduino2 + the bridge), no debugger needed."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from pathlib import Path

import click

from photondbg import firmware
from photondbg.cli.common import (
    CUT_CHOICES,
    app_option,
    hold_range,
    out_dir,
    variant_option,
)
from photondbg.cli.options import Seconds
from photondbg.errors import ToolFailure, UsageError


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
@variant_option()
@click.option(
    "--cycles", type=click.IntRange(min=1), default=5, show_default=True, help="WiFi cuts to run."
)
@app_option()
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds the cut kinds, hold times and WiFi delays.",
)
@click.option(
    "--hold",
    callback=hold_range,
    metavar="MIN:MAX",
    help="Seconds each cut is held [default: 1:3 for down, 4:6 for uplink].",
)
@click.option(
    "--cut",
    "cut",
    type=click.Choice(CUT_CHOICES),
    default="mixed",
    show_default=True,
    help="down = AP power off; uplink = AP cable pulled; mixed = seeded choice.",
)
@click.option(
    "--period",
    type=Seconds(min=0.05, min_open=False),
    default=1.0,
    show_default=True,
    help="Seconds between the tester's GET / requests (per client).",
)
@click.option(
    "--clients",
    type=click.IntRange(1, 8),
    default=1,
    show_default=True,
    help="Parallel HTTP clients.",
)
@click.option(
    "--timeout",
    type=Seconds(min=1, min_open=False),
    default=None,
    help="Stop starting cycles after this many seconds.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve the app on this 127.0.0.1 port [default: a free one].",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON summary as the last stdout line (progress goes to stderr).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory for serial.log, bridge.log, campaign.json, cycles.jsonl "
    "[default: ./photondbg-runs/...].",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    metavar="DIR",
    help="Continue the interrupted run in DIR (its cycles.jsonl): only "
    "the cycles it has not finished run, with its options.",
)
def run(
    variant, cycles, app, seed, hold, cut, period, clients, port, timeout, as_json, out, resume
):
    """Boot the simulated board, run HTTP load, cut and restore its WiFi CYCLES times and
    classify each cycle: OK, CRASH, LOCKUP, HANG or NO_RECOVERY.

    \b
    Example:
      photondbg sim run --variant none --cycles 5 --seed 1
      photondbg sim run --variant all --cycles 3 --cut down --hold 1:2 --json
      photondbg sim run --resume photondbg-runs/20261130-221500-sim-multi-server-none
    Every finished cycle is appended to OUT/cycles.jsonl at once; after Ctrl-C (or any end)
    --resume OUT runs only the missing cycles and reports all of them.
    Exit 0 when the campaign ran (whatever the outcomes), 2 on bad input, 1 on tool failure.
    """
    from photondbg.campaign import journal
    from photondbg.campaign.records import CampaignConfig
    from photondbg.campaign.sim import SimCampaign
    from photondbg.ports import port_is_free
    from photondbg.sim.wifi import CUT_KINDS

    opts = {
        "variant": variant,
        "cycles": cycles,
        "app": app,
        "seed": seed,
        "hold": list(hold) if hold else None,
        "cut": cut,
        "period": period,
        "clients": clients,
        "port": port,
        "timeout": timeout,
    }
    done: dict = {}
    if resume:
        opts, done = resume_options(resume, "sim run", opts)
        variant, cycles, app, seed, cut = (
            opts[k] for k in ("variant", "cycles", "app", "seed", "cut")
        )
        hold = tuple(opts["hold"]) if opts["hold"] else None
        period, clients, port, timeout = (opts[k] for k in ("period", "clients", "port", "timeout"))
        done = done.get("sim", {})
        outdir = Path(resume)
    else:
        outdir = out_dir(out, f"sim-{app}-{variant}")
    if port is not None and not port_is_free(port):
        raise UsageError(f"port {port} on 127.0.0.1 is already in use")
    record = journal.Journal(outdir, "sim run", opts, resume=bool(resume))
    elf = firmware.build(app=app, variant=variant)
    cfg = CampaignConfig(
        elf=Path(elf),
        app=app,
        variant=variant,
        cycles=cycles,
        seed=seed,
        cuts=CUT_KINDS if cut == "mixed" else (cut,),
        hold=hold,
        period=period,
        clients=clients,
        host_port=port,
        timeout=timeout,
        indexes=journal.remaining(done, cycles) if resume else None,
    )
    header = f"sim run: {app} variant={variant} cycles={cycles} seed={seed} elf={elf} logs={outdir}"
    if done:
        header += f" (resumed: {len(done)} of {cycles} cycles already done)"
    run_campaign(
        lambda owner, **hooks: SimCampaign(cfg, owner, logdir=outdir, **hooks),
        header=header,
        cycles=cycles,
        outdir=outdir,
        as_json=as_json,
        journal=record,
        label="sim",
        done=done,
        resume_cmd=f"photondbg sim run --resume {outdir}",
        journal_meta=opts,
    )


def resume_options(resume: str, verb: str, given: dict) -> tuple[dict, dict]:
    """The interrupted run's options and finished cycles; options repeated on the command line
    are refused (the run continues as it began)."""
    from photondbg.campaign import journal

    ctx = click.get_current_context()
    repeated = [
        k for k in given if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE
    ]
    if repeated:
        raise UsageError(
            f"--resume continues {resume} with the options it began with: drop --{repeated[0]}"
        )
    header, runs = journal.read(Path(resume))
    if header.get("verb") != verb:
        raise UsageError(f"{resume} holds a {header.get('verb')!r} run, not {verb!r}")
    return header["options"], runs


def run_campaign(
    make,
    *,
    header: str,
    cycles: int,
    outdir: Path,
    as_json: bool,
    journal=None,
    label: str = "sim",
    done: dict | None = None,
    resume_cmd: str | None = None,
    journal_meta: dict | None = None,
) -> None:
    """Run a campaign (sim or real board) with progress, campaign.json, the outcome table and
    the ``--json`` last line. ``make(owner, on_cycle=, on_note=, on_phase=)`` builds the runner.
    With a ``journal`` every finished cycle is recorded at once (cycles.jsonl); ``done`` are the
    cycles a resumed run already has (merged into the result by index)."""
    from photondbg.log import run_log
    from photondbg.procs import ProcessOwner, interruption

    progress = sys.stderr if as_json else sys.stdout
    tty = progress.isatty()

    def echo(text: str) -> None:
        click.echo(text, file=progress)

    echo(header)
    done = done or {}
    try:
        if done and len(done) >= cycles:
            result = _from_journal(done, cycles, journal_meta or {})
        else:
            with (
                ProcessOwner(logdir=outdir) as owner,
                run_log(outdir),
                _status(tty, progress) as status,
            ):

                def on_phase(index, phase):
                    status(f"cycle {index}/{cycles}: {phase.value}" if index else phase.value)

                def on_cycle(r):
                    echo(cycle_line(r, cycles))

                runner = make(
                    owner,
                    on_note=echo,
                    on_phase=on_phase,
                    on_cycle=journal.hook(label, on_cycle) if journal else on_cycle,
                )
                result = runner.run()
    except KeyboardInterrupt as e:  # the journal has every finished cycle: say how to go on
        intr = interruption(e)
        if journal is not None:
            intr.partial = f"{journal.path}" + (f" (continue: {resume_cmd})" if resume_cmd else "")
        if intr is not e:
            raise intr from None
        raise
    if done:
        _merge(result, done)
    (outdir / "campaign.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    if tty:
        _table(result, progress)
    else:
        echo("outcomes: " + " ".join(f"{k}={v}" for k, v in result.outcomes.items()))
        echo("http: " + " ".join(f"{k}={v}" for k, v in result.http.items()))
    if getattr(result, "stopped_early", None):
        echo(f"stopped early: {result.stopped_early}")
    if as_json:
        click.echo(json.dumps(result.summary(), separators=(",", ":")))


def _merge(result, done: dict) -> None:
    """A resumed run's result holds every cycle, by index; its counters add the earlier ones."""
    new = {r.index: r for r in result.cycles}
    result.cycles = [new.get(i) or done[i] for i in sorted(set(done) | set(new))]
    http: dict = {}
    for r in result.cycles:
        for k, v in (r.http or {}).items():
            if isinstance(v, (int, float)):
                http[k] = http.get(k, 0) + v
    result.http = http


def _from_journal(done: dict, cycles: int, meta: dict):
    """Nothing left to run: the result from the recorded cycles alone."""
    from photondbg.campaign.records import CampaignResult

    return CampaignResult(
        variant=meta.get("variant", "?"),
        app=meta.get("app", "?"),
        seed=meta.get("seed", 0),
        requested=cycles,
    )


def cycle_line(r, cycles: int) -> str:
    """One progress line per finished cycle (sim run and the real-board campaign)."""
    extra = f"  cut->crash {r.cut_to_crash:.2f}s" if r.cut_to_crash is not None else ""
    rec = f"  recovered in {r.recovery_time:.2f}s" if r.recovery_time is not None else ""
    http = " ".join(f"{k}={v}" for k, v in r.http.items() if v and k != "requests")
    return (
        f"cycle {r.index}/{cycles}  {r.outcome:<11}  cut={r.cut:<6} hold={r.hold:.2f}s"
        f"{extra}{rec}  http[{http}]" + (f"  {r.detail}" if r.detail else "")
    )


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
        table.add_row(
            str(r.index),
            r.cut,
            f"{r.hold:.2f}s",
            f"[{style.get(r.outcome, 'red')}]{r.outcome}[/]",
            "" if r.cut_to_crash is None else f"{r.cut_to_crash:.2f}s",
            "" if r.recovery_time is None else f"{r.recovery_time:.2f}s",
            f"{r.http.get('ok', 0)}/{r.http.get('timeout', 0)}/{r.http.get('conn_error', 0)}",
            r.detail,
        )
    con = Console(file=stream)
    con.print(table)
    con.print("outcomes: " + "  ".join(f"{k} {v}" for k, v in result.outcomes.items()))


@sim.command("boot")
@app_option()
@variant_option()
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve the app on this 127.0.0.1 port [default: a free one].",
)
@click.option(
    "--seconds",
    type=Seconds(min=0, min_open=False),
    default=None,
    help="Stop after this many seconds [default: run until Ctrl-C].",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory for serial.log and bridge.log.",
)
@click.option(
    "--console-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Also relay the console to this 127.0.0.1 TCP port (0: a free one), "
    "readable as --serial socket://127.0.0.1:N.",
)
@click.option(
    "--control-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Accept `cut down|uplink`, `restore`, `status` lines on this 127.0.0.1 port "
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


@sim.command("netcut")
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
