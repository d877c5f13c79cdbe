#!/usr/bin/env python3
"""Figures for verify-fix: time to a verdict, cycles per minute by --jobs, CPU per board.

    nice .venv/bin/python benchmarks/bench_verify.py [--alpha 0.001] [--max-cycles 60]
        [--cycles 6] [--seed 3] [--cut mixed|down|uplink] [--skip-verdicts]
        [--skip-throughput]

Prints (no assertions; speed lives here, not in tests), each from real `photondbg` runs:
- time to a verdict with the sequential design (--max-cycles, --alpha, default --jobs):
  none -> all and none -> clients; the cycle it stopped at, the verdict, the anytime p
- cycles per minute of `verify-fix --cycles N` with --jobs 1 and --jobs 2 (both roles, all
  cycles) and the ratio
- CPU per simulated board: QEMU's CPU seconds per wall second (sampled from /proc) and the
  whole photondbg process tree's (getrusage of the waited children)
- the sim's own nondeterminism: how many paired cycles of the two throughput runs (same seed,
  same schedule per index) ended differently (crashed or not)
Other processes share this machine: the figures are what this machine gave at that moment.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTONDBG = [sys.executable, "-m", "photondbg"]
CLK = os.sysconf("SC_CLK_TCK")
CRASHED = ("CRASH", "LOCKUP", "HANG")


def descendants(pid: int) -> dict[int, str]:
    parents, names = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry)] = int(fields[1])
        names[int(entry)] = name
    out, frontier = {}, {pid}
    while frontier:
        nxt = {p for p, pp in parents.items() if pp in frontier}
        out.update({p: names[p] for p in nxt})
        frontier = nxt
    return out


def cpu_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


class QemuMeter:
    """Samples the CPU of every qemu-system-arm under ``pid`` until stopped; the last sample
    of each QEMU is its CPU time (within the sampling period)."""

    def __init__(self, pid: int, period: float = 0.25):
        self.pid, self.period = pid, period
        self.last: dict[int, int] = {}
        self.alive_samples: list[int] = []  # QEMUs running at each sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(self.period):
            qemus = [p for p, n in descendants(self.pid).items() if n.startswith("qemu-system")]
            self.alive_samples.append(len(qemus))
            for p in qemus:
                t = cpu_ticks(p)
                if t is not None:
                    self.last[p] = t

    def stop(self) -> tuple[float, int, float]:
        self._stop.set()
        self._thread.join()
        busy = [n for n in self.alive_samples if n]
        mean_boards = sum(busy) / len(busy) if busy else 0.0
        return sum(self.last.values()) / CLK, len(self.last), mean_boards


def run(args: list[str], label: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [*PHOTONDBG, *args, "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    meter = QemuMeter(proc.pid)
    out, err = proc.communicate()
    wall = time.monotonic() - t0
    qemu_cpu, qemus, mean_boards = meter.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        print(f"{label}: failed ({proc.returncode}): {err.strip().splitlines()[-1:]}")
        return {}
    summary = json.loads(out.strip().splitlines()[-1])
    tree_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary.update(
        wall=wall, qemu_cpu=qemu_cpu, qemus=qemus, tree_cpu=tree_cpu, mean_boards=mean_boards
    )
    return summary


def verdict(base: str, cand: str, a, tmp: Path) -> None:
    s = run(
        [
            "verify-fix",
            "--baseline",
            base,
            "--candidate",
            cand,
            "--max-cycles",
            str(a.max_cycles),
            "--alpha",
            str(a.alpha),
            "--seed",
            str(a.seed),
            "--cut",
            a.cut,
            "--out",
            str(tmp / f"verdict-{base}-{cand}"),
        ],
        f"{base}->{cand}",
    )
    if not s:
        return
    print(
        f"{base} -> {cand} (--cut {a.cut}): {s['verdict']} after {s.get('stopped_at')} "
        f"paired cycles in {s['wall']:.0f} s wall (jobs {s['jobs']}), "
        f"anytime p = {s['p_value']:.2g}; "
        f"cycles run: baseline {s['baseline']['cycles']}, candidate "
        f"{s['candidate']['cycles']}; outcomes {s['baseline']['outcomes']} / "
        f"{s['candidate']['outcomes']}"
    )
    print(f"  stop: {s.get('stop_reason')}")


def throughput(jobs: int, a, tmp: Path) -> dict:
    out = tmp / f"jobs{jobs}"
    s = run(
        [
            "verify-fix",
            "--baseline",
            "none",
            "--candidate",
            "all",
            "--cycles",
            str(a.cycles),
            "--jobs",
            str(jobs),
            "--seed",
            str(a.seed),
            "--cut",
            a.cut,
            "--out",
            str(out),
        ],
        f"jobs {jobs}",
    )
    if not s:
        return {}
    total = s["baseline"]["cycles"] + s["candidate"]["cycles"]
    s["cpm"] = 60 * total / s["wall"]
    s["runs"] = json.loads((out / "verify.json").read_text())["runs"]
    print(
        f"--jobs {jobs}: {total} cycles in {s['wall']:.0f} s = {s['cpm']:.1f} cycles/min; "
        f"QEMU CPU {s['qemu_cpu']:.0f} s over {s['qemus']} QEMU processes, "
        f"{s['mean_boards']:.2f} boards running on average -> "
        f"{s['qemu_cpu'] / s['wall'] / max(s['mean_boards'], 1e-9):.2f} CPU per board "
        f"(QEMU only); whole process tree {s['tree_cpu'] / s['wall']:.2f} CPU "
        f"({s['tree_cpu'] / s['wall'] / max(s['mean_boards'], 1e-9):.2f} per board)"
    )
    return s


def nondeterminism(one: dict, two: dict) -> None:
    diff = same = 0
    for role in ("baseline", "candidate"):
        a = {c["index"]: c["outcome"] in CRASHED for c in one["runs"][role]["per_cycle"]}
        b = {c["index"]: c["outcome"] in CRASHED for c in two["runs"][role]["per_cycle"]}
        for i in set(a) & set(b):
            same += a[i] == b[i]
            diff += a[i] != b[i]
    print(
        f"same seed, --jobs 1 vs --jobs 2: {diff} of {diff + same} cycles crashed in one run "
        f"and not in the other (the sim's own nondeterminism: QEMU timing, thread scheduling)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alpha", type=float, default=0.001)
    p.add_argument("--max-cycles", type=int, default=60)
    p.add_argument("--cycles", type=int, default=6)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--cut", choices=("mixed", "down", "uplink"), default="mixed")
    p.add_argument("--skip-verdicts", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    a = p.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not a.skip_verdicts:
            verdict("none", "all", a, tmp)
            verdict("none", "clients", a, tmp)
        if not a.skip_throughput:
            one, two = throughput(1, a, tmp), throughput(2, a, tmp)
            if one and two:
                print(f"--jobs 2 / --jobs 1: {two['cpm'] / one['cpm']:.2f}x cycles per minute")
                nondeterminism(one, two)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
