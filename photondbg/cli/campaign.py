"""``photondbg campaign``: the WiFi-loss campaign against a real Photon on the LAN."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from photondbg.cli.campaign_runner import run_campaign
from photondbg.cli.common import (
    campaign_out_option,
    cycles_option,
    hold_option,
    json_option,
    out_dir,
    period_option,
    resume_option,
    seed_option,
    timeout_option,
)
from photondbg.cli.options import Seconds
from photondbg.errors import UsageError
from photondbg.photon import board as board_facts


@dataclass
class BoardOptions:
    """Where the board is and what the bench offers: the options of :func:`board_options`."""

    host: str | None = None
    port: int | None = None
    netcut_cmd: str | None = None
    netrestore_cmd: str | None = None
    serial: str | None = None
    baud: int = 9600
    probe: str | None = None
    reset_cmd: str | None = None
    recovery: float | None = None
    boot_timeout: float | None = None
    labgrid_place: str | None = None
    labgrid_env: str | None = None

    def given(self) -> list[str]:
        """The board options set on the command line, as flags (``--host``...)."""
        return [
            f"--{f.name.replace('_', '-')}"
            for f in dataclasses.fields(self)
            if f.name != "baud" and getattr(self, f.name) is not None
        ]


BOARD_FIELDS = tuple(f.name for f in dataclasses.fields(BoardOptions))


def board_options(fn):
    """The options that say where the board is and what the bench offers (campaign, verify-fix)."""
    opts = [
        click.option(
            "--host", metavar="HOST", help="The Photon's address on the LAN (its HTTP server)."
        ),
        click.option(
            "--port",
            type=click.IntRange(1, 65535),
            default=None,
            help="The Photon's HTTP port (multi-server: 7123, simple-server: 80).",
        ),
        click.option(
            "--netcut-cmd",
            metavar="CMD",
            help='Command that cuts the WiFi, e.g. "ssh pi@relay ./relay.sh off" '
            "[default: ask at a prompt].",
        ),
        click.option(
            "--netrestore-cmd",
            metavar="CMD",
            help="Command that restores it (goes with --netcut-cmd).",
        ),
        click.option(
            "--serial",
            metavar="PORT|URL",
            help="The Photon's console: /dev/ttyACM0 or a pyserial URL "
            "(socket://127.0.0.1:N). Without it a crash is only seen over HTTP.",
        ),
        click.option("--baud", type=click.IntRange(min=1), default=9600, show_default=True),
        click.option(
            "--probe",
            type=click.Choice(sorted(board_facts.INTERFACES)),
            default=None,
            help="Start OpenOCD on this probe: lock-up evidence, and resets.",
        ),
        click.option(
            "--reset-cmd",
            metavar="CMD",
            help='Command that resets a hung board without a probe, e.g. "particle usb reset".',
        ),
        click.option(
            "--recovery",
            type=Seconds(min=0.5, min_open=False),
            default=None,
            help="Seconds after the restore for the server to answer [default: 30].",
        ),
        click.option(
            "--boot-timeout",
            type=Seconds(min=1, min_open=False),
            default=None,
            help="Seconds from a reset until the server answers [default: 30].",
        ),
        click.option(
            "--labgrid-place",
            metavar="NAME",
            default=None,
            help="A Photon place in a labgrid farm (or $LG_PLACE; coordinator: "
            "$LG_COORDINATOR): its console, HTTP service, uplink and power "
            "through labgrid's drivers (docs/hardware.md §9).",
        ),
        click.option(
            "--labgrid-env",
            metavar="FILE",
            default=None,
            help="labgrid environment file with the place's drivers (or $LG_ENV).",
        ),
    ]

    @functools.wraps(fn)
    def collect(**kw):  # the board's options reach ``fn`` as one ``bench: BoardOptions``
        return fn(bench=BoardOptions(**{k: kw.pop(k) for k in BOARD_FIELDS}), **kw)

    return functools.reduce(lambda f, opt: opt(f), reversed(opts), collect)


@contextlib.contextmanager
def open_board(o: BoardOptions):
    """The board from the options; with a labgrid place (option or $LG_PLACE) its resources
    through labgrid, the place acquired for the run and released after it."""
    from photondbg.farm import PhotonPlace, place_from

    name, env = place_from(o.labgrid_place, o.labgrid_env)
    if name is None and env is None:
        yield make_board(o)
        return
    if name is None:
        raise UsageError("--labgrid-env needs --labgrid-place (or $LG_PLACE)")
    if o.serial:
        raise UsageError(
            "--serial and --labgrid-place exclude each other: the console is the place's"
        )
    from photondbg.campaign.board import Board

    with PhotonPlace(
        name, env_file=env, netcut_cmd=o.netcut_cmd, netrestore_cmd=o.netrestore_cmd
    ) as place:
        yield Board(
            host=o.host or place.host,
            port=o.port or place.port,
            netcut=place.netcut,
            baudrate=o.baud,
            probe=o.probe,
            reset_cmd=o.reset_cmd,
            place=place,
        )


def make_board(o: BoardOptions):
    """A :class:`photondbg.campaign.board.Board` from the options (UsageError on bad input)."""
    from photondbg.campaign.board import Board
    from photondbg.photon.netcut import netcut_from_options

    if not o.host:
        raise UsageError("--host is required with --target photon (the Photon's LAN address)")
    if o.port is None:
        raise UsageError("--port is required with --target photon (the Photon's HTTP port)")
    tty = sys.stdin.isatty()
    if o.netcut_cmd is None and o.netrestore_cmd is None and not tty:
        raise UsageError("no terminal to ask on: pass --netcut-cmd and --netrestore-cmd")
    netcut = netcut_from_options(o.netcut_cmd, o.netrestore_cmd)
    return Board(
        host=o.host,
        port=o.port,
        netcut=netcut,
        serial=o.serial,
        baudrate=o.baud,
        probe=o.probe,
        reset_cmd=o.reset_cmd,
        ask=input if tty else None,
    )


def board_config(
    *,
    variant,
    cycles,
    seed,
    hold,
    period,
    recovery,
    boot_timeout,
    timeout=None,
    elf=None,
    netcut=None,
):
    from photondbg.campaign.board import BOARD_BOOT, BOARD_RECOVERY
    from photondbg.campaign.records import CampaignConfig
    from photondbg.photon.netcut import CommandNetCut

    label = (
        "relay"
        if isinstance(netcut, CommandNetCut)
        else "labgrid"
        if type(netcut).__name__ == "PowerNetCut"
        else "prompt"
    )
    return CampaignConfig(
        elf=elf,
        app="board",
        variant=variant,
        cycles=cycles,
        seed=seed,
        cuts=(label,),
        hold=hold,
        period=period,
        recovery=recovery or BOARD_RECOVERY,
        boot_timeout=boot_timeout or BOARD_BOOT,
        timeout=timeout,
    )


@click.command("campaign")
@click.option(
    "--target",
    type=click.Choice(["photon"]),
    default="photon",
    show_default=True,
    help="A real board (the simulated one: `photondbg sim run`).",
)
@board_options
@cycles_option()
@seed_option("Seeds the hold times and the load before each cut.")
@hold_option("20:40")
@period_option(0.5, "Seconds between the tester's GET / requests.")
@click.option(
    "--variant",
    default="board",
    show_default=True,
    help="A label for the firmware on the board (goes into the summary).",
)
@timeout_option()
@json_option()
@campaign_out_option("openocd.log")
@resume_option(
    "Continue the interrupted campaign in DIR (its cycles.jsonl) "
    "with its options: only the missing cycles run."
)
def campaign(
    target, bench: BoardOptions, cycles, seed, hold, period, variant, timeout, as_json, out, resume
):
    """Load a real Photon with HTTP, cut and restore its WiFi CYCLES times and classify each
    cycle: OK, CRASH (serial dropped / panic / boot), LOCKUP (OpenOCD), HANG (no HTTP, no
    serial) or NO_RECOVERY (console alive, server silent after the restore).

    \b
    Example:
      photondbg campaign --target photon --host 192.168.1.50 --port 7123 \\
          --netcut-cmd "ssh pi@relay ./relay.sh off" \\
          --netrestore-cmd "ssh pi@relay ./relay.sh on" \\
          --serial /dev/ttyACM0 --probe cmsis-dap --cycles 20 --json
      LG_COORDINATOR=labhost:20408 photondbg campaign --labgrid-place photon-1 --cycles 20
    Exit 0 when the campaign ran (whatever the outcomes), 2 on bad input, 1 on tool failure.
    """
    from photondbg.campaign import journal
    from photondbg.campaign.board import BoardCampaign
    from photondbg.cli.campaign_runner import resume_options

    opts = {
        **dataclasses.asdict(bench),
        "cycles": cycles,
        "seed": seed,
        "hold": list(hold) if hold else None,
        "period": period,
        "variant": variant,
        "timeout": timeout,
    }
    done: dict = {}
    if resume:
        opts, runs = resume_options(resume, "campaign", opts)
        done = runs.get("board", {})
        bench = BoardOptions(**{k: opts[k] for k in BOARD_FIELDS if opts.get(k) is not None})
        cycles, seed, hold, period, variant, timeout = (
            opts.get(k) for k in ("cycles", "seed", "hold", "period", "variant", "timeout")
        )
        hold = tuple(hold) if hold else None
    with open_board(bench) as board:
        cfg = board_config(
            variant=variant,
            cycles=cycles,
            seed=seed,
            hold=hold,
            period=period,
            recovery=bench.recovery,
            boot_timeout=bench.boot_timeout,
            timeout=timeout,
            netcut=board.netcut,
        )
        outdir = Path(resume) if resume else out_dir(out, f"photon-{variant}")
        if resume:
            cfg.indexes = journal.remaining(done, cycles)
        record = journal.Journal(outdir, "campaign", opts, resume=bool(resume))
        where = f"labgrid place {board.place.place} ({board.url})" if board.place else board.url
        run_campaign(
            lambda owner, **hooks: BoardCampaign(cfg, board, owner, logdir=outdir, **hooks),
            header=f"campaign: photon at {where} variant={variant} cycles={cycles} "
            f"seed={seed} logs={outdir}"
            + (f" (resumed: {len(done)} of {cycles} cycles already done)" if done else ""),
            cycles=cycles,
            outdir=outdir,
            as_json=as_json,
            journal=record,
            label="board",
            done=done,
            resume_cmd=f"photondbg campaign --resume {outdir}",
            journal_meta=opts,
        )
