"""What a real-board session would find right now: probes, Photons in DFU mode, USB serial.

Each check runs the real program briefly (``openocd`` per interface, ``dfu-util -l``,
``particle usb list``, ``particle serial list``) and reports what it saw as information: "no probe
attached" is the normal answer on a machine without hardware, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from photondbg.errors import PhotondbgError
from photondbg.photon import board, dfu, particle
from photondbg.photon.openocd_argv import session_argv
from photondbg.photon.openocd_events import failure_message, parse_log
from photondbg.photon.run import run


@dataclass
class Finding:
    check: str
    found: bool  # hardware found
    detail: str


def probe_check(interface: str, openocd_bin: str) -> Finding:
    """Start OpenOCD with the session's probe settings but no servers and ``exit`` right after
    ``init``: it either reaches the target or says why not."""
    argv = session_argv(
        openocd_bin,
        interface=interface,
        gdb_port=0,
        telnet_port=0,
        vector_catch=False,
        extra_commands=["exit"],
    )
    for i, a in enumerate(argv):
        if a in ("gdb_port 0", "telnet_port 0"):
            argv[i] = a.replace(" 0", " disabled")
    try:
        res = run(argv, timeout=15)
    except PhotondbgError as e:
        return Finding(f"openocd {interface}", False, str(e))
    events = parse_log(res.output)
    if res.ok and not any(e.kind in ("no_probe", "no_target", "adapter_error") for e in events):
        return Finding(
            f"openocd {interface}",
            True,
            f"{board.INTERFACES[interface][1]} found and the target answered",
        )
    return Finding(f"openocd {interface}", False, failure_message(events, interface, res.exit_code))


def survey(
    openocd_bin: str | None, *, with_particle: bool = True, with_dfu: bool = True
) -> list[Finding]:
    findings = []
    if openocd_bin:
        for iface in board.INTERFACES:
            findings.append(probe_check(iface, openocd_bin))
    if with_dfu:
        try:
            devs = [d for d in dfu.list_devices() if d.is_photon]
            findings.append(
                Finding(
                    "dfu-util -l",
                    bool(devs),
                    f"{len(devs)} Photon DFU interface(s)" if devs else "no Photon in DFU mode",
                )
            )
        except PhotondbgError as e:
            findings.append(Finding("dfu-util -l", False, str(e)))
    if with_particle:
        for name, fn in (
            ("particle usb list", particle.usb_list),
            ("particle serial list", particle.serial_list),
        ):
            try:
                found = fn()
                findings.append(
                    Finding(
                        name,
                        bool(found),
                        ", ".join(getattr(d, "port", None) or d.id for d in found)
                        if found
                        else "no devices found",
                    )
                )
            except PhotondbgError as e:
                findings.append(Finding(name, False, str(e)))
    return findings
