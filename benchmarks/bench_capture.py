"""Capture benchmarks (figures, not assertions): fault-to-report latency on the sim, RAM dump
throughput against GDB's own ``dump binary memory`` in the same session, the cost of reading
MSP/PSP exactly (MRS stub) and of listing + unwinding threads, and the start-up time of
``photondbg --help``. Baseline (DESIGN §3.1): a whole plain ``gdb-multiarch -batch`` session
(connect, break, continue, bt, info registers, 128 KiB dump) takes 0.08 s.

    .venv/bin/python benchmarks/bench_capture.py [--runs N]
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
sys.path.insert(0, str(ROOT / "tests"))

from bench_firmwares import fault_firmwares  # noqa: E402

from photondbg.capture.engine import CaptureRequest, run  # noqa: E402
from photondbg.deadline import Deadline  # noqa: E402
from photondbg.gdb.session import GdbSession  # noqa: E402
from photondbg.ports import LOOPBACK  # noqa: E402
from photondbg.procs import ProcessOwner  # noqa: E402
from photondbg.targets.sim import SimTarget  # noqa: E402

PLAIN_GDB_BASELINE_S = 0.08  # DESIGN §3.1, the whole plain-gdb session


def build(name: str, outdir: Path) -> Path:
    """A fault firmware of tests/firmware/faults, built as the tests build it (one builder)."""
    conf = fault_firmwares()
    return conf._build_one(conf.require_tool("arm-none-eabi-gcc"), name, outdir)


def build_platform_thread_fault(outdir: Path) -> Path:
    """The simulated Photon's runtime + the thread-fault test app (3 threads, heap stacks)."""
    appdir = ROOT / "tests" / "firmware" / "platform_apps" / "thread-fault"
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT / "firmware"),
            "APP=thread-fault",
            f"APPDIR={appdir}",
            f"BUILD={outdir}",
        ],
        check=True,
        capture_output=True,
    )
    return outdir / "thread-fault-none" / "thread-fault.elf"


def stack_pointers_and_threads(elf: Path, tmp: Path, runs: int, label: str) -> None:
    """In one halted session at the fault: the MRS stub (save, step, restore, verify) against
    a plain register read, and listing + unwinding every thread from a RAM snapshot."""
    from photondbg.capture import threads
    from photondbg.capture.collect import Region
    from photondbg.capture.elfinfo import ElfInfo
    from photondbg.capture.stackptr import read_stack_pointers
    from photondbg.capture.unwind import Snapshot

    ram = Region(0x20000000, 128 * 1024)
    info = ElfInfo(elf)
    handler = info.vector_table()[1][3] & ~1  # HardFault's slot
    with ProcessOwner(tmp / f"sp-{label}") as owner:
        target = SimTarget(elf, owner, logdir=tmp / f"sp-{label}", gdb=True).start()
        gdb = GdbSession(elf, owner, logdir=tmp / f"sp-{label}").start()
        gdb.connect(LOOPBACK, target.gdb_port)
        gdb.break_at(handler)
        for n in (4, 6):  # MemManage/UsageFault, when distinct
            if info.vector_table()[1][n] & ~1 != handler:
                gdb.break_at(info.vector_table()[1][n] & ~1)
        gdb.cont()
        gdb.wait_stopped(Deadline(20))
        plain, stub, listing, layout_t = [], [], [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            regs = gdb.registers()
            plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            sps = read_stack_pointers(gdb, ram, regs)
            stub.append(time.perf_counter() - t0)
        mem = gdb.read_memory(ram.base, ram.size)
        for _ in range(runs):
            fresh = ElfInfo(elf)  # DWARF layout + CFI index built from cold for each run;
            fresh.load_lines()  # the line table is loaded while arming, before any fault
            t0 = time.perf_counter()
            threads.scheduler(fresh)
            layout_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            found, _, _ = threads.list_threads(
                fresh, Snapshot(mem.start, mem.data, mem.gaps), psp=sps.psp
            )
            listing.append(time.perf_counter() - t0)
            fresh.close()
    med = statistics.median
    s, p, li = med(stub), med(plain), med(listing)
    print(
        f"[{label}] MSP/PSP by MRS stub: median {s * 1000:.1f} ms ({runs} runs; restored: "
        f"{sps.restored}), plain register read {p * 1000:.1f} ms, stub = "
        f"{s / PLAIN_GDB_BASELINE_S * 100:.0f}% of the 0.08 s plain-gdb session"
    )
    print(
        f"[{label}] threads: {len(found)} listed + unwound from a RAM snapshot: median "
        f"{li * 1000:.1f} ms (DWARF layout + CFI index from cold; layout alone "
        f"{med(layout_t) * 1000:.1f} ms) = "
        f"{li / PLAIN_GDB_BASELINE_S * 100:.0f}% of the plain-gdb session"
    )


def latency(elf: Path, out: Path, runs: int) -> None:
    stop_to_fault, stop_to_full, total = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = run(
            CaptureRequest(elf=elf, scenario="none", variant=None, out=out, timeout=30, follow=0)
        )
        total.append(time.perf_counter() - t0)
        r = res.report
        stop_to_fault.append(r["timing"]["stop_to_report_s"])
        stages = {s["name"]: s["seconds"] for s in r["stages"]}
        stop_to_full.append(stages["capture"] + stages["dumps"])
    med = statistics.median
    print(
        f"fault-to-report (stop -> report.json with fault + backtrace): "
        f"median {med(stop_to_fault) * 1000:.1f} ms  (goal <= 1000 ms, {runs} runs)"
    )
    print(
        f"fault-to-report incl. stack + 128 KiB RAM dumps:            "
        f"median {med(stop_to_full) * 1000:.1f} ms"
    )
    print(
        f"whole capture-fault run (boot, attach, arm, run, capture):   "
        f"median {med(total) * 1000:.0f} ms"
    )


def real_bug_latency(out: Path, seeds: int) -> None:
    """The default capture (multi-server, variant none, WiFi loss) for seeds 1..N: time from
    start to the first capture, with what the capture found (stack, threads)."""
    times, stops, kinds = [], [], []
    for seed in range(1, seeds + 1):
        t0 = time.perf_counter()
        res = run(CaptureRequest(seed=seed, timeout=180, follow=0, out=out))
        total = time.perf_counter() - t0
        r = res.report
        if res.outcome == "none":
            print(f"real bug seed {seed}: no fault within 180 s")
            continue
        times.append(total)
        stops.append(r["timing"]["stop_to_report_s"])
        f = r.get("fault") or {}
        kinds.append(f"{f.get('stack')}/{(f.get('stack_pointers') or {}).get('method')}")
        stages = {s["name"]: s["seconds"] for s in r["stages"]}
        print(
            f"real bug seed {seed}: {res.outcome} {f.get('kind')} on {kinds[-1]}, "
            f"{len(r.get('threads') or [])} threads, whole run {total:.1f} s, stop -> report "
            f"{stops[-1] * 1000:.0f} ms, threads stage {stages.get('threads', 0) * 1000:.0f} ms"
        )
    if times:
        print(
            f"capture-fault time to first capture over {len(times)}/{seeds} seeds: median "
            f"{statistics.median(times):.1f} s, max {max(times):.1f} s; stop -> report median "
            f"{statistics.median(stops) * 1000:.0f} ms; stacks {sorted(set(kinds))}"
        )


def dump_throughput(elf: Path, tmp: Path, runs: int) -> None:
    size = 128 * 1024
    with ProcessOwner(tmp / "dump") as owner:
        target = SimTarget(elf, owner, logdir=tmp / "dump", gdb=True).start()
        gdb = GdbSession(elf, owner, logdir=tmp / "dump").start()
        gdb.connect(LOOPBACK, target.gdb_port)
        gdb.cli("break UsageFault_Handler")
        gdb.cont()
        gdb.wait_stopped(Deadline(10))
        ours, theirs = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            mem = gdb.dump_memory(tmp / "ours.bin", 0x20000000, size)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            gdb.dump_binary(tmp / "gdb-dump.bin", 0x20000000, size)
            theirs.append(time.perf_counter() - t0)
        same = (tmp / "gdb-dump.bin").read_bytes() == mem.data
    o, t = statistics.median(ours), statistics.median(theirs)
    mb = size / 1e6
    print(
        f"RAM dump 128 KiB: photondbg {o * 1000:.1f} ms ({mb / o:.1f} MB/s), "
        f"gdb dump binary memory {t * 1000:.1f} ms ({mb / t:.1f} MB/s), "
        f"ratio {t / o:.2f}x (goal >= 0.9x), identical bytes: {same}"
    )


def help_startup(runs: int) -> None:
    exe = ROOT / ".venv" / "bin" / "photondbg"
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "photondbg"]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([*argv, "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    print(
        f"photondbg --help: median {statistics.median(times) * 1000:.0f} ms "
        f"(goal <= 300 ms, {runs} runs)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="skip the real-bug capture (~10-60 s)")
    ap.add_argument(
        "--seeds", type=int, default=1, help="real-bug captures with seeds 1..N (10: ~3 min)"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        elf = build("div_zero", tmp)
        latency(elf, tmp / "captures", args.runs)
        stack_pointers_and_threads(
            build("threads", tmp), tmp, max(args.runs, 5), "fixture scheduler"
        )
        stack_pointers_and_threads(
            build_platform_thread_fault(tmp / "platform"),
            tmp,
            max(args.runs, 5),
            "platform runtime",
        )
        dump_throughput(elf, tmp, max(args.runs, 5))
        help_startup(args.runs)
        if not args.quick:
            real_bug_latency(tmp / "real", args.seeds)


if __name__ == "__main__":
    main()
