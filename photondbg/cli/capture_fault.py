"""``photondbg capture-fault``: run until the first fault and write a full fault report.

Thin over :mod:`photondbg.capture.engine`: checks arguments before anything starts, maps the
outcome to the exit code (0 captured, 3 nothing within the time-out, 2 bad input, 1 tool
failure) and prints a short summary (or one JSON line with ``--json``).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click

from photondbg.cli.common import app_option, variant_option
from photondbg.cli.options import Seconds, build_dir_option
from photondbg.cortexm.machines import MACHINES
from photondbg.errors import EXIT_NOTHING, EXIT_OK

EXIT_CODES = {"fault": EXIT_OK, "panic": EXIT_OK, "lockup": EXIT_OK, "none": EXIT_NOTHING}


@click.command("capture-fault")
@click.option(
    "--target",
    type=click.Choice(["sim", "photon"]),
    default="sim",
    show_default=True,
    help="Simulated Photon (QEMU) or a real one (OpenOCD).",
)
@click.option(
    "--elf",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Run this Cortex-M ELF instead of building the app.",
)
@variant_option(None, help="Firmware fixes built in (default none); with --elf only a label.")
@app_option()
@click.option(
    "--scenario",
    type=click.Choice(["wifi-loss", "none"]),
    default=None,
    help="wifi-loss: HTTP load + WiFi cuts (default); none: just run until it faults "
    "(default with --elf).",
)
@click.option(
    "--timeout",
    type=Seconds(min=0),
    default=300.0,
    show_default=True,
    help="Give up after this many seconds (exit 3).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("captures"),
    show_default=True,
    help="Captures go to OUT/<UTC time>-<target>/.",
)
@click.option(
    "--machine",
    type=click.Choice(list(MACHINES)),
    default=None,
    help="QEMU machine: netduino2 (STM32F205, the Photon's MCU), netduinoplus2 (STM32F405, "
    "Cortex-M4F), mps2-an385 (Cortex-M3 with bus faults), mps2-an386 (Cortex-M4F), "
    "lm3s6965evb (Stellaris, Zephyr's qemu_cortex_m3). Default: inferred from the ELF (load "
    "addresses, initial SP, .ARM.attributes CPU/FPU; docs/machines.md); an ELF that fits no "
    "machine, or not the one given, is refused (exit 2).",
)
@click.option("--seed", type=int, default=None, help="Seed of the WiFi-loss schedule.")
@click.option(
    "--follow",
    type=Seconds(min=0, min_open=False),
    default=5.0,
    show_default=True,
    help="After the first fault is captured, let the core run on up to this many "
    "seconds (past the panic entry) to see whether it escalates: a lock-up is "
    "recorded beside the fault; a reset ends the watch. 0: stop at the fault.",
)
@click.option(
    "--probe",
    type=click.Choice(["cmsis-dap", "stlink"]),
    default=None,
    help="photon: the SWD probe (default $PHOTONDBG_PROBE or cmsis-dap).",
)
@click.option(
    "--serial",
    default=None,
    metavar="PATH",
    help="photon: the Photon's USB serial, kept in serial.log (default $PHOTONDBG_SERIAL).",
)
@click.option(
    "--labgrid-place",
    metavar="NAME",
    default=None,
    help="photon: a Photon place in a labgrid farm (or $LG_PLACE): its console is "
    "taken from the place (the probe stays --probe, on this machine).",
)
@click.option(
    "--labgrid-env",
    metavar="FILE",
    default=None,
    help="photon: labgrid environment file for the place (or $LG_ENV).",
)
@click.option(
    "--track-heap",
    is_flag=True,
    help="Log every malloc/free from GDB during the run (heap-track.jsonl): the report "
    "then says who freed the stale object and who reused it. Slows the target.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line {report, outcome}.")
@build_dir_option
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="No progress on stderr (stages and live counters are shown by default).",
)
def capture_fault(
    target,
    elf,
    variant,
    app,
    scenario,
    timeout,
    out,
    machine,
    seed,
    follow,
    probe,
    serial,
    labgrid_place,
    labgrid_env,
    track_heap,
    as_json,
    quiet,
):
    """Boot, arm the fault vectors, run (and cut the WiFi) until the first fault, capture it.

    \b
    Examples:
      photondbg capture-fault                     # sim, multi-server, variant none, WiFi cuts
      photondbg capture-fault --variant clients --timeout 120
      photondbg capture-fault --elf fw.elf        # any Cortex-M ELF, run until it faults
      photondbg capture-fault --track-heap        # + who freed the stale object, who reused it
      photondbg capture-fault --target photon --elf app.elf --probe stlink --serial /dev/ttyACM0
    Exit 0 fault/panic/lock-up captured, 3 nothing within --timeout, 2 bad input, 1 tool failure.
    """
    from photondbg.capture.engine import CaptureRequest, run
    from photondbg.errors import UsageError
    from photondbg.progress import Progress

    if target == "photon":
        if elf is None:
            raise UsageError(
                "--target photon needs --elf: the Device OS debug build of the app "
                "that is on the board (with symbols)"
            )
        if scenario == "wifi-loss":
            raise UsageError(
                "--scenario wifi-loss drives the simulated WiFi; on a real Photon "
                "cut the WiFi yourself (--scenario none)"
            )
    from photondbg.farm import place_from

    place_name, place_env = place_from(labgrid_place, labgrid_env)
    if place_name is None and labgrid_env:
        raise UsageError("--labgrid-env needs --labgrid-place (or $LG_PLACE)")
    if place_name is not None:
        if target != "photon":
            raise UsageError("--labgrid-place needs --target photon")
        if serial:
            raise UsageError(
                "--serial and --labgrid-place exclude each other: the console is the place's"
            )
    if scenario is None:
        scenario = "none" if elf is not None else "wifi-loss"
    if scenario == "wifi-loss" and target == "sim" and machine not in (None, "netduino2"):
        raise UsageError("the wifi-loss scenario needs the netduino2 machine (USART2 link)")
    # with --elf nothing is built: --variant only labels the report (e.g. for verify-fix)
    req = CaptureRequest(
        target=target,
        elf=elf,
        variant=variant,
        app=app,
        scenario=scenario,
        timeout=timeout,
        out=out,
        machine=machine,
        seed=seed,
        follow=follow,
        probe=probe,
        serial_port=serial,
        track_heap=track_heap,
    )
    if elf is None and req.variant is None:
        req.variant = "none"
    with contextlib.ExitStack() as stack:
        if place_name is not None:
            from photondbg.farm import PhotonPlace

            place = stack.enter_context(PhotonPlace(place_name, env_file=place_env, needs=()))
            req.serial_port = place.console_url()
        with Progress(quiet=quiet) as progress:  # stages + live counters on stderr
            result = run(req, progress=progress)
    if as_json:
        click.echo(json.dumps({"report": str(result.report_path), "outcome": result.outcome}))
    else:
        from photondbg.capture.report import summary

        click.echo(summary(result.report, result.report_path))
    if (
        result.outcome == "none"
        and scenario == "none"
        and target == "sim"
        and elf is not None
        and _is_wifi_app(elf)
    ):
        click.echo(
            f"photondbg: hint: {elf.name} is a TCPServer app of the simulated Photon: "
            "its fault comes with WiFi cuts, try --scenario wifi-loss",
            err=True,
        )
    raise SystemExit(EXIT_CODES[result.outcome])


def _is_wifi_app(elf: Path) -> bool:
    """An app serving TCP with TCPServer (multi-server, simple-server): its fault needs the
    WiFi loss that makes the socket layer close every socket."""
    from photondbg.capture.elfinfo import ElfInfo

    try:
        info = ElfInfo(elf)
    except Exception:  # noqa: BLE001 - only a hint
        return False
    try:
        return info.symbol("_ZN9TCPServer9availableEv") is not None  # TCPServer::available
    finally:
        info.close()
