#!/usr/bin/env python3
"""Figures for the real-board path, measured here without hardware (prints figures and ratios).

1. How fast each real tool reports "nothing attached" (OpenOCD per probe, dfu-util, particle),
   and what the ``sh`` wrapper adds over a bare subprocess.run.
2. GDB through the fake OpenOCD relay vs straight to QEMU's gdbstub: connect + registers +
   128 KiB RAM read.
3. Lock-up evidence: from GDB's ``continue`` to PhotonTarget.lockup() returning registers.

Run: .venv/bin/python benchmarks/photon_paths.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from photondbg import tools  # noqa: E402
from photondbg.deadline import Deadline  # noqa: E402
from photondbg.gdb.mi import TargetDied  # noqa: E402
from photondbg.gdb.session import GdbSession  # noqa: E402
from photondbg.photon.openocd import NoProbe, OpenOcdSession  # noqa: E402
from photondbg.photon.run import run  # noqa: E402
from photondbg.procs import ProcessOwner  # noqa: E402
from photondbg.targets.photon import PhotonTarget  # noqa: E402
from photondbg.targets.sim import SimTarget  # noqa: E402

DATA = ROOT / "tests" / "data"
FAKE = ROOT / "tests" / "fakes" / "fake_openocd.py"


def timed(fn, repeat):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def no_probe(interface):
    with ProcessOwner() as o:
        try:
            OpenOcdSession(o, interface).start()
        except NoProbe:
            return
    raise SystemExit("a probe is attached: this benchmark expects none")


def lockup_elf(tmp: Path) -> Path:
    out = tmp / "lockup.elf"
    subprocess.run(
        [
            "arm-none-eabi-gcc",
            "-mcpu=cortex-m3",
            "-mthumb",
            "-nostdlib",
            "-g",
            "-T",
            str(DATA / "firmware" / "lockup.ld"),
            str(DATA / "firmware" / "lockup.S"),
            "-o",
            str(out),
        ],
        check=True,
    )
    return out


def gdb_round(elf, port, o, logdir):
    g = GdbSession(elf, o, logdir=logdir).start()
    t = time.perf_counter()
    g.connect("127.0.0.1", port)
    g.registers()
    data = g.read_memory(0x20000000, 128 * 1024)
    dt = time.perf_counter() - t
    assert data.readable == 128 * 1024
    g.close()
    return dt


def relay_vs_direct(elf, tmp, repeat):
    direct, relay = [], []
    for i in range(repeat):
        with ProcessOwner(tmp / f"d{i}") as o:
            sim = SimTarget(elf, o, logdir=tmp / f"d{i}", gdb=True).start()
            direct.append(gdb_round(elf, sim.gdb_port, o, tmp / f"d{i}"))
        with ProcessOwner(tmp / f"r{i}") as o:
            t = fake_photon(elf, o, tmp / f"r{i}")
            relay.append(gdb_round(elf, t.gdb_port, o, tmp / f"r{i}"))
    return statistics.median(direct), statistics.median(relay)


def fake_photon(elf, owner, logdir):
    """A PhotonTarget whose OpenOCD is the fake one, relaying GDB to a QEMU of its own."""
    sim = SimTarget(elf, owner, logdir=logdir / "q", gdb=True).start()
    env = dict(
        os.environ,
        FAKE_OPENOCD_UPSTREAM=f"127.0.0.1:{sim.gdb_port}",
        FAKE_OPENOCD_SCENARIO=str(DATA / "openocd" / "session-lockup-0.12.log"),
        FAKE_OPENOCD_QEMU_STDERR=str(logdir / "q" / "qemu-stderr.log"),
    )
    return PhotonTarget(elf, owner, logdir=logdir, openocd_bin=str(FAKE), env=env).start()


def lockup_latency(elf, tmp, repeat):
    out = []
    for i in range(repeat):
        with ProcessOwner(tmp / f"l{i}") as o:
            t = fake_photon(elf, o, tmp / f"l{i}")
            g = GdbSession(elf, o, logdir=tmp / f"l{i}").start()
            g.connect("127.0.0.1", t.gdb_port)
            t0 = time.perf_counter()
            g.cont()
            try:
                g.wait_stopped(Deadline(20))
            except TargetDied:
                pass
            t.wait_exit(5)
            dump = t.lockup()
            out.append(time.perf_counter() - t0)
            assert dump is not None and "r4" in dump.registers
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    n = ap.parse_args().repeat
    print(f"photon paths, median of {n}")
    for iface in ("cmsis-dap", "stlink"):
        took = timed(lambda: no_probe(iface), n)
        print(f"  openocd {iface:<9} no probe -> NoProbe  {took * 1000:8.1f} ms")
    bare = timed(lambda: subprocess.run(["dfu-util", "-l"], capture_output=True), n)
    wrapped = timed(lambda: run(["dfu-util", "-l"], timeout=20), n)
    print(
        f"  dfu-util -l  bare {bare * 1000:.1f} ms, through sh wrapper {wrapped * 1000:.1f} ms "
        f"(x{wrapped / bare:.2f})"
    )
    particle = tools.which("particle")
    if particle:
        took = timed(lambda: run([particle, "usb", "list"], timeout=60), n)
        print(f"  particle usb list                 {took * 1000:8.1f} ms")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        elf = lockup_elf(tmp)
        direct, relay = relay_vs_direct(elf, tmp, n)
        print(
            f"  gdb connect+regs+128 KiB: direct to QEMU {direct * 1000:.1f} ms, via fake "
            f"OpenOCD relay {relay * 1000:.1f} ms (x{relay / direct:.2f})"
        )
        took = lockup_latency(elf, tmp, n)
        print(f"  continue -> lock-up evidence (line + reg): {took * 1000:.1f} ms")


if __name__ == "__main__":
    main()
