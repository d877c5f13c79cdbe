"""Root-cause analysis benchmarks (figures, not assertions).

1. Analysis time on 128 KiB RAM captures: the heap-full test firmware (thousands of linked
   heap objects), the small use-after-free firmware and a real capture of the multi-server app
   (variant none) on the sim: heap walk + DWARF pointer walk + provenance (median of N runs,
   the capture itself not counted).
2. What ``--track-heap`` costs: WiFi-cut cycles per minute of the capture scenario on the
   multi-server app, variant ``all`` (it recovers, so the run lasts the whole window), for the
   plain build, the instrumented build with the trace ring (HEAP_TRACE=1) and the plain build
   with GDB breakpoints on malloc/free (gdb_scripts/heaptrack.py).

    .venv/bin/python benchmarks/bench_analysis.py [--runs N] [--window SECONDS] [--skip-cost]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support import linker_script  # noqa: E402

from photondbg import firmware
from photondbg.analysis.rootcause import analyze_capture
from photondbg.capture.elfinfo import ElfInfo
from photondbg.capture.engine import CaptureRequest, run

HEAP = ROOT / "tests" / "firmware" / "heap"
FAULTS = ROOT / "tests" / "firmware" / "faults"


def build_heap_firmware(name: str, outdir: Path) -> Path:
    ld = outdir / "link.ld"
    ld.write_text(linker_script("netduino2"))
    elf = outdir / f"{name}.elf"
    subprocess.run(
        [
            "arm-none-eabi-gcc",
            "-mcpu=cortex-m3",
            "-mthumb",
            "-g3",
            "-O1",
            "--specs=nano.specs",
            "-nostartfiles",
            "-T",
            str(ld),
            "-o",
            str(elf),
            str(FAULTS / "startup.c"),
            str(HEAP / "sbrk.c"),
            str(HEAP / f"{name}.c"),
        ],
        check=True,
    )
    return elf


def time_analysis(capdir: Path, runs: int) -> dict:
    report = json.loads((capdir / "report.json").read_text())
    elf = ElfInfo(report["target"]["elf"])
    times, section = [], None
    try:
        for _ in range(runs):
            t0 = time.perf_counter()
            section = analyze_capture(capdir, report, elf)
            times.append(time.perf_counter() - t0)
    finally:
        elf.close()
    heap = (section.get("heaps") or [{}])[0]
    walked = next((c for c in section["checked"] if c.startswith("pointers:")), "")
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "ram": report["dumps"]["ram"]["length"],
        "blocks": heap.get("blocks"),
        "kind": section["kind"],
        "walk": walked,
    }


def cycles_per_minute(window: float, **kw) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        r = run(
            CaptureRequest(variant="all", seed=7, timeout=window, follow=0.0, out=Path(tmp), **kw)
        )
        events = r.report["scenario"]["events"]
        run_s = next(s["seconds"] for s in r.report["stages"] if s["name"] == "run")
        cuts = sum(1 for e in events if e["name"] == "cut")
        served = sum(1 for e in events if e["name"] == "served")
        calls = None
        log = r.capdir / "heap-track.jsonl"
        if log.exists():
            calls = sum(1 for _ in log.open())
        return {
            "outcome": r.outcome,
            "run_s": run_s,
            "cuts": cuts,
            "served": served,
            "per_min": cuts * 60.0 / run_s if run_s else 0.0,
            "gdb_calls": calls,
            "method": (r.report.get("heap_track") or {}).get("method", "off"),
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--window", type=float, default=60.0, help="seconds per cost run")
    ap.add_argument("--skip-cost", action="store_true")
    args = ap.parse_args()

    print("== analysis time (heap walk + DWARF pointer walk + provenance), 128 KiB RAM ==")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = []
        for name in ("heap_many", "uaf"):
            elf = build_heap_firmware(name, tmp)
            r = run(
                CaptureRequest(
                    elf=elf, scenario="none", variant=None, out=tmp / name, timeout=60.0, follow=0.0
                )
            )
            cases.append((name, r.capdir))
        r = run(CaptureRequest(seed=1, timeout=150, follow=0.0, out=tmp / "real"))
        if r.outcome in ("fault", "lockup"):
            cases.append(("multi-server none (sim capture)", r.capdir))
        for name, capdir in cases:
            f = time_analysis(capdir, args.runs)
            print(
                f"{name:32s} {f['median_s'] * 1000:7.1f} ms median ({f['min_s'] * 1000:.1f} "
                f"min) RAM {f['ram'] // 1024} KiB, {f['blocks']} heap blocks, {f['kind']}; "
                f"{f['walk']}"
            )
    if args.skip_cost:
        return
    print(
        f"\n== --track-heap cost: WiFi-cut cycles per minute, variant all, "
        f"{args.window:.0f} s window =="
    )
    plain = cycles_per_minute(args.window)
    ring = cycles_per_minute(args.window, track_heap=True)
    elf = firmware.build("multi-server", "all")
    gdb = cycles_per_minute(
        args.window, elf=elf, app="multi-server", scenario="wifi-loss", track_heap=True
    )
    for label, f in (("off", plain), ("trace ring (HEAP_TRACE=1)", ring), ("GDB breakpoints", gdb)):
        ratio = f["per_min"] / plain["per_min"] if plain["per_min"] else float("nan")
        extra = f", {f['gdb_calls']} calls logged" if f["gdb_calls"] is not None else ""
        print(
            f"{label:28s} {f['per_min']:5.1f} cycles/min ({f['cuts']} cuts, {f['served']} "
            f"served, {f['run_s']:.0f} s, outcome {f['outcome']}) = {ratio:.2f} x off{extra}"
        )


if __name__ == "__main__":
    main()
