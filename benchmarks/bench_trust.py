#!/usr/bin/env python3
"""Figures for "nothing left running" and "nothing lost" (issue 10). Run late and nice'd.

    nice .venv/bin/python benchmarks/bench_trust.py [--runs 20] [--soak 200] [--cpu-cycles 6]
                                                    [--only orphans|soak|cpu]

Prints (no assertions; goals in brackets):
- orphans: `photondbg capture-fault` (multi-server, WiFi-loss scenario) interrupted at a random
  moment of its first seconds (build, boot, arming, running, collecting), --runs times with
  each of SIGINT, SIGTERM, SIGHUP, SIGKILL; then every process mentioning the run's folder is
  counted after a bounded wait (8 s, the keeper's SIGTERM->SIGKILL included) [goal 0]
- soak: `photondbg sim run --cycles N`, killed again and again at random moments (SIGINT,
  SIGTERM, SIGKILL in turn) and continued with --resume until it completes; cycles lost,
  duplicated, and the number of interruptions [goal 0 lost, 0 duplicated]
- cpu: CPU time of a `sim run` (photondbg + QEMU + GDB-less board) over its wall time, in
  cores [goal <= 1.5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support import wait_gone  # noqa: E402 - the tests' /proc scan, one copy

PHOTONDBG = [sys.executable, "-m", "photondbg"]
SIGNALS = {
    "INT": signal.SIGINT,
    "TERM": signal.SIGTERM,
    "HUP": signal.SIGHUP,
    "KILL": signal.SIGKILL,
}
GRACE = 8.0
FAST = ["--cut", "down", "--hold", "0.5:1"]


def orphans(runs: int, rng: random.Random, window: float) -> None:
    print(
        f"orphans: capture-fault interrupted at a random moment in [0, {window:.0f}] s, "
        f"{runs} runs per signal"
    )
    total_left = 0
    for name, sig in SIGNALS.items():
        left_runs, codes = 0, {}
        for i in range(runs):
            with tempfile.TemporaryDirectory(prefix=f"trust-{name}-") as tmp:
                env = (
                    dict(os.environ, PHOTONDBG_BUILD=str(Path(tmp) / "build"))
                    if i % 5 == 0
                    else dict(os.environ)
                )  # every 5th run builds from scratch
                proc = subprocess.Popen(
                    [
                        *PHOTONDBG,
                        "capture-fault",
                        "--timeout",
                        "60",
                        "--quiet",
                        "--out",
                        str(Path(tmp) / "caps"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    cwd=tmp,
                    env=env,
                )
                time.sleep(rng.uniform(0, window))
                if proc.poll() is None:
                    proc.send_signal(sig)
                try:
                    rc = proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rc = proc.wait()
                codes[rc] = codes.get(rc, 0) + 1
                left = wait_gone(tmp, GRACE)
                if left:
                    left_runs += 1
                    total_left += len(left)
                    for pid, _ in left:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except OSError:
                            pass
        print(
            f"  SIG{name:<4} runs {runs:3d}  runs leaving a process: {left_runs}  "
            f"exit codes {dict(sorted(codes.items()))}"
        )
    print(f"  processes left in all: {total_left} [goal 0]")


def soak(cycles: int, rng: random.Random, max_gap: float) -> None:
    print(
        f"soak: sim run --cycles {cycles}, interrupted at random moments (up to "
        f"{max_gap:.0f} s apart) and resumed until complete"
    )
    with tempfile.TemporaryDirectory(prefix="trust-soak-") as tmp:
        out = Path(tmp) / "run"
        argv = [
            *PHOTONDBG,
            "sim",
            "run",
            "--variant",
            "none",
            "--cycles",
            str(cycles),
            "--seed",
            "11",
            *FAST,
            "--json",
            "--out",
            str(out),
        ]
        sigs = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
        interruptions, t0, rounds = 0, time.monotonic(), 0
        while True:
            rounds += 1
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=tmp, text=True
            )
            try:
                proc.wait(timeout=rng.uniform(5, max_gap))
            except subprocess.TimeoutExpired:
                proc.send_signal(sigs[interruptions % len(sigs)])
                interruptions += 1
                proc.wait(timeout=120)
            stdout = proc.stdout.read()
            proc.stdout.close()
            if proc.returncode == 0:
                summary = json.loads(stdout.strip().splitlines()[-1])
                break
            wait_gone(tmp, GRACE)
            argv = [*PHOTONDBG, "sim", "run", "--resume", str(out), "--json"]
        lines = [
            json.loads(x) for x in (out / "cycles.jsonl").read_text().splitlines() if x.strip()
        ]
        idx = [r["cycle"]["index"] for r in lines if r.get("kind") == "cycle"]
        lost = sorted(set(range(1, cycles + 1)) - set(idx))
        dup = len(idx) - len(set(idx))
        print(
            f"  {cycles} cycles in {time.monotonic() - t0:.0f} s, {rounds} runs, "
            f"{interruptions} interruptions"
        )
        print(
            f"  reported cycles {summary['cycles']}, lost {len(lost)} [goal 0], duplicated "
            f"{dup} [goal 0], outcomes {summary['outcomes']}"
        )


def cpu(cycles: int) -> None:
    with tempfile.TemporaryDirectory(prefix="trust-cpu-") as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        subprocess.run(
            [
                *PHOTONDBG,
                "sim",
                "run",
                "--variant",
                "none",
                "--cycles",
                str(cycles),
                "--seed",
                "2",
                "--json",
                "--out",
                str(Path(tmp) / "run"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp,
            check=True,
        )
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        f"cpu: sim run --cycles {cycles}: {used:.1f} s CPU over {wall:.1f} s wall = "
        f"{used / wall:.2f} cores [goal <= 1.5] (photondbg, QEMU and every child, waited)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="interrupted runs per signal")
    ap.add_argument("--window", type=float, default=12.0, help="s: latest interrupt moment")
    ap.add_argument("--soak", type=int, default=200, help="cycles of the resume soak")
    ap.add_argument("--gap", type=float, default=40.0, help="s: longest run between kills")
    ap.add_argument("--cpu-cycles", type=int, default=6)
    ap.add_argument("--only", choices=["orphans", "soak", "cpu"], default=None)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    from photondbg import firmware

    firmware.build("multi-server", "none")  # warm cache: the runs interrupt, not wait for make
    if a.only in (None, "cpu"):
        cpu(a.cpu_cycles)
    if a.only in (None, "orphans"):
        orphans(a.runs, rng, a.window)
    if a.only in (None, "soak"):
        soak(a.soak, rng, a.gap)


if __name__ == "__main__":
    main()
