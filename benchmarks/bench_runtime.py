#!/usr/bin/env python3
"""Figures for the simulated Photon's runtime: host CPU that QEMU burns, and boot time.

    .venv/bin/python benchmarks/bench_runtime.py [--elf ELF ...] [--seconds 5]

For each firmware (default: multi-server, variant all, built from this tree) it boots one QEMU,
plays the bridge's side of the link by hand (HELLO -> LINK up -> LISTEN_OK), and prints:
- boot-to-listening: QEMU start -> the device's LISTEN frame (s)
- QEMU's CPU share (utime+stime of the process / wall) in two states:
  * serving, no requests: Device OS 0.6.x runs loop() back to back with SYSTEM_THREAD(DISABLED),
    so the application thread is always ready and the idle thread never runs (as on the board);
  * WiFi down: the application thread blocks in the re-join, the idle thread sleeps in WFI.
Pass several --elf to compare firmwares (e.g. one built from an older tree).
No assertions: speed lives here, not in tests.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from photondbg.procs import ProcessOwner
from photondbg.sim.link import Decoder, Msg, pack
from photondbg.targets.sim import SimTarget

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def cpu_share(pid: int, seconds: float) -> float:
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def wait_frame(sock: socket.socket, dec: Decoder, kind: Msg, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sock.settimeout(max(0.05, end - time.monotonic()))
        try:
            data = sock.recv(4096)
        except TimeoutError:
            break
        if not data:
            break
        for f in dec.feed(data):
            if f.type == kind:
                return f
    raise RuntimeError(f"no {kind.name} from the device within {timeout:g} s")


def measure(elf: Path, seconds: float, tmp: Path) -> dict:
    with ProcessOwner(logdir=tmp / elf.parent.name) as owner:
        t0 = time.monotonic()
        target = SimTarget(elf, owner).start()
        link, dec = target.link, Decoder()
        wait_frame(link, dec, Msg.HELLO)
        link.sendall(pack(Msg.LINK, wifi=1, cloud=1))
        listen = wait_frame(link, dec, Msg.LISTEN)
        booted = time.monotonic() - t0
        link.sendall(pack(Msg.LISTEN_OK, listen.conn, status=0, host_port=40000))
        pid = target.child.pid
        serving = cpu_share(pid, seconds)
        link.sendall(pack(Msg.LINK, wifi=0, cloud=0))
        target.console.wait_for(r"@close_all", 10.0)
        down = cpu_share(pid, seconds)
        target.stop()
    return {
        "elf": str(elf),
        "boot_to_listen_s": booted,
        "cpu_serving": serving,
        "cpu_wifi_down": down,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--elf", action="append", type=Path)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    elves = args.elf
    if not elves:
        from photondbg import firmware

        elves = [firmware.build("multi-server", "all")]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(e, args.seconds, Path(tmp)) for e in elves]
    print(
        f"host load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        "(a loaded host caps what QEMU gets)"
    )
    print(f"#  {'firmware':60} {'boot->listen':>12} {'CPU serving':>12} {'CPU WiFi down':>14}")
    for i, r in enumerate(rows):
        print(
            f"{i}  {r['elf'][-60:]:60} {r['boot_to_listen_s']:11.2f}s "
            f"{100 * r['cpu_serving']:11.0f}% {100 * r['cpu_wifi_down']:13.0f}%"
        )
    for i, r in enumerate(rows[1:], 1):
        base = rows[0]
        down = r["cpu_wifi_down"] / base["cpu_wifi_down"] if base["cpu_wifi_down"] else 0
        busy = r["cpu_serving"] / base["cpu_serving"] if base["cpu_serving"] else 0
        print(f"ratio {i}/0: CPU serving {busy:.2f}, CPU WiFi down {down:.2f}")


if __name__ == "__main__":
    main()
