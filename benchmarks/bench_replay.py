"""Replay benchmark (figures, not assertions): `target remote` -> `bt` printed against
`photondbg replay` (goal <= 0.5 s), next to the same on the live QEMU stub halted at the fault,
plus the time to load a capture and the whole `gdb-multiarch -batch` process.

    .venv/bin/python benchmarks/bench_replay.py [--runs N] [--capture DIR]

Without --capture it captures the deep_chain fault firmware (7 frames deep) first; with
--capture it replays that capture directory (e.g. the real multi-server bug) and skips the
live comparison.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_capture import build  # noqa: E402

from photondbg.capture.elfinfo import ElfInfo  # noqa: E402
from photondbg.capture.engine import CaptureRequest, run  # noqa: E402
from photondbg.procs import ProcessOwner  # noqa: E402
from photondbg.replay import image  # noqa: E402
from photondbg.replay.server import ReplayServer  # noqa: E402
from photondbg.targets.sim import SimTarget  # noqa: E402

# inside GDB: the clock starts just before `target remote` and stops after `bt` printed
TIMED = [
    "python import time; t0 = time.perf_counter()",
    "target remote 127.0.0.1:{port}",
    "bt",
    "python print('@elapsed', time.perf_counter() - t0)",
]


def gdb_once(elf: Path, port: int, before: list[str] = ()) -> tuple[float, float, int]:
    """(target remote -> bt seconds inside GDB, whole gdb process seconds, frames shown)."""
    argv = ["gdb-multiarch", "-q", "-nx", "-batch", str(elf)]
    for c in before:
        argv += ["-ex", c]
    for c in TIMED:
        argv += ["-ex", c.format(port=port)]
    t0 = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    whole = time.perf_counter() - t0
    lines = res.stdout.splitlines()
    elapsed = next(float(ln.split()[1]) for ln in lines if ln.startswith("@elapsed"))
    frames = sum(1 for ln in lines if ln.startswith("#"))
    return elapsed, whole, frames


def live_once(elf: Path, handler: int) -> tuple[float, float, int]:
    """The same on QEMU's gdbstub: connect, run to the handler breakpoint, then the timed part
    (a second `target remote` of the already halted board, so both measure the same thing)."""
    with ProcessOwner(logdir=Path(tempfile.mkdtemp(prefix="bench-replay-live-"))) as owner:
        target = SimTarget(elf, owner, gdb=True).start()
        port = target.gdb_port
        before = [
            f"target remote 127.0.0.1:{port}",
            f"break *0x{handler:x}",
            "continue",
            "disconnect",
        ]
        try:
            return gdb_once(elf, port, before)
        finally:
            target.stop()


def fmt(xs: list[float]) -> str:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(0.9 * len(xs)))]
    return f"median {statistics.median(xs) * 1000:7.1f} ms  p90 {p90 * 1000:7.1f} ms  (n={len(xs)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--capture", type=Path, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    elf = None
    if args.capture is None:
        elf = build("deep_chain", tmp)
        res = run(
            CaptureRequest(
                elf=elf, scenario="none", variant=None, out=tmp / "captures", timeout=30, follow=0
            )
        )
        capdir = res.capdir
    else:
        capdir = args.capture
    loads = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        img = image.load(capdir)
        loads.append(time.perf_counter() - t0)
    print(f"capture {capdir}")
    print(f"load capture (report, dumps, ELF segments): {fmt(loads)}")
    inner, whole = [], []
    with ReplayServer(img).start() as srv:
        for _ in range(args.runs):
            e, w, frames = gdb_once(img.elf, srv.port)
            inner.append(e)
            whole.append(w)
    print(f"replay: target remote -> bt printed ({frames} frames): {fmt(inner)}   goal <= 500 ms")
    print(f"replay: whole gdb-multiarch -batch process:        {fmt(whole)}")
    if elf is not None:
        handler = ElfInfo(elf).symbol("UsageFault_Handler").address
        linner, lwhole = [], []
        for _ in range(args.runs):
            e, w, lframes = live_once(elf, handler)
            linner.append(e)
            lwhole.append(w)
        print(f"live QEMU: target remote -> bt printed ({lframes} frames): {fmt(linner)}")
        print(
            f"ratio replay/live (target remote -> bt, medians): "
            f"{statistics.median(inner) / statistics.median(linner):.2f}"
        )


if __name__ == "__main__":
    main()
