"""Capture time per fault firmware (median, max), and what RTOS awareness costs in a capture.

Every firmware of tests/capture/conftest.py's FIRMWARES (the fault firmwares the tests check
against ground truth, on every QEMU machine they name) is built once with the real toolchain
and captured ``--runs`` times through the real engine (QEMU + GDB, follow 0). Per firmware:
outcome, whole-run median and max (boot, attach, arm, run, capture, dumps, threads, analysis),
the evidence time after the stop (stop -> report), and the ``threads`` stage (kernel awareness:
the task list by symbol + DWARF, stack bounds, high-water, one unwind per task) with its share of
the run, and the ``stack_check`` stage (stack bounds, MPU regions read by the core, return
addresses from the SP to the stack top). Figures, not assertions.

    .venv/bin/python benchmarks/bench_firmwares.py [--runs N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from photondbg.capture.engine import CaptureRequest, run  # noqa: E402

NO_FAULT = {"threads_hang", "spin"}  # run until the time-out on purpose: not a capture time


def fault_firmwares():
    """FIRMWARES and the builder of tests/capture/conftest.py (one table for tests and bench)."""
    spec = importlib.util.spec_from_file_location(
        "fault_conftest", ROOT / "tests" / "capture" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def stage_seconds(report: dict, name: str) -> float | None:
    for s in report.get("stages") or []:
        if s.get("name") == name and s.get("seconds") is not None:
            return float(s["seconds"])
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="firmware names (default: all that fault)")
    args = ap.parse_args()
    conf = fault_firmwares()
    names = [n for n in conf.FIRMWARES if n not in NO_FAULT and (not args.only or n in args.only)]
    gcc = conf.require_tool("arm-none-eabi-gcc")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for name in names:
            elf = conf._build_one(gcc, name, out)
            walls, after, thr, stk, outcomes, nthreads = [], [], [], [], set(), 0
            for i in range(args.runs):
                req = CaptureRequest(
                    elf=elf,
                    scenario="none",
                    variant=None,
                    out=out / f"cap-{name}-{i}",
                    timeout=30.0,
                    follow=0.0,
                    machine=conf.FIRMWARES[name],
                )
                t0 = time.monotonic()
                res = run(req)
                walls.append(time.monotonic() - t0)
                outcomes.add(res.outcome)
                stop = (res.report.get("timing") or {}).get("stop_to_report_s")
                if stop is not None:
                    after.append(stop)
                t = stage_seconds(res.report, "threads")
                if t is not None:
                    thr.append(t)
                t = stage_seconds(res.report, "stack_check")
                if t is not None:
                    stk.append(t)
                nthreads = len(res.report.get("threads") or [])
            rows.append(
                (
                    name,
                    conf.FIRMWARES[name],
                    "/".join(sorted(outcomes)),
                    walls,
                    after,
                    thr,
                    stk,
                    nthreads,
                )
            )
    print(
        f"{'firmware':22} {'machine':14} {'outcome':8} {'median':>8} {'max':>8} "
        f"{'stop->rep':>9} {'threads':>8} {'share':>6} {'stk':>8} tasks"
    )
    all_walls = []
    rtos_share = []
    for name, machine, outcome, walls, after, thr, stk, n in rows:
        all_walls += walls
        med, mx = statistics.median(walls), max(walls)
        a = f"{statistics.median(after) * 1000:7.1f}ms" if after else "-"
        if thr:
            tm = statistics.median(thr)
            th, share = f"{tm * 1000:6.1f}ms", f"{100 * tm / med:5.1f}%"
            if n:
                rtos_share.append((name, n, tm, tm / med))
        else:
            th, share = "-", "-"
        sk = f"{statistics.median(stk) * 1000:6.1f}ms" if stk else "-"
        print(
            f"{name:22} {machine:14} {outcome:8} {med:7.3f}s {mx:7.3f}s {a:>9} {th:>8} "
            f"{share:>6} {sk:>8} {n}"
        )
    if all_walls:
        print(
            f"all firmwares: median {statistics.median(all_walls):.3f} s, max "
            f"{max(all_walls):.3f} s over {len(all_walls)} captures ({args.runs} each)"
        )
    for name, n, tm, share in rtos_share:
        print(
            f"RTOS-aware capture overhead [{name}]: {n} tasks listed + unwound in "
            f"{tm * 1000:.1f} ms = {share * 100:.1f}% of the whole capture"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
