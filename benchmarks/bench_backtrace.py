"""What a fault's backtrace costs: the CFI walk (capture/backtrace.py) from a capture's RAM dump.

Each firmware is built and captured once through the real engine (QEMU + GDB); then the walk
is repeated offline on the capture's ram.bin (no target): cold (a fresh ElfInfo, the CFI index
built first) and warm (the index cached, as in a capture: the engine builds it before the
fault). Per firmware: frames (exception-frame markers included), median and max of each.
Figures, not assertions.

    .venv/bin/python benchmarks/bench_backtrace.py [--runs N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_firmwares import fault_firmwares  # noqa: E402

from photondbg.capture import backtrace  # noqa: E402
from photondbg.capture.elfinfo import ElfInfo  # noqa: E402
from photondbg.capture.engine import CaptureRequest, run  # noqa: E402
from photondbg.capture.unwind import Snapshot  # noqa: E402

DEFAULT = ["deep_chain", "psp_deep", "irq_fault", "svc_escalate", "null_call_psp", "uaf_virtual"]


def ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:7.2f} {max(xs) * 1000:7.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--only", nargs="*", default=DEFAULT)
    args = ap.parse_args()
    conf = fault_firmwares()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        print(f"{'firmware':<16} frames  cold med/max ms  warm med/max ms")
        for name in args.only:
            elf_path = conf._build_one("arm-none-eabi-gcc", name, out)
            r = run(
                CaptureRequest(
                    elf=elf_path, scenario="none", variant=None, out=out / "caps", follow=0.0
                )
            )
            fault, ram = r.report["fault"], r.report["dumps"]["ram"]
            snap = Snapshot(ram["address"], (r.capdir / "ram.bin").read_bytes())
            cold, warm, frames = [], [], 0
            for _ in range(args.runs):
                t0 = time.perf_counter()
                elf = ElfInfo(elf_path)
                bt = backtrace.fault_backtrace(elf, fault, snap.word)
                cold.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                bt = backtrace.fault_backtrace(elf, fault, snap.word)
                warm.append(time.perf_counter() - t0)
                assert bt is not None  # the same walk (names: C++ ones stay mangled offline)
                assert [f["pc"] for f in bt.frames] == [f["pc"] for f in r.report["backtrace"]]
                frames = len(bt.frames)
            print(f"{name:<16} {frames:6d}  {ms(cold)}  {ms(warm)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
