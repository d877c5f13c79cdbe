"""A campaign interrupted after cycle k continues with ``--resume DIR``: the k finished cycles
are kept as they were, the rest run, no cycle is lost or repeated."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from support import StderrLines, require_tool

from photondbg.campaign.policy import CutSchedule

PHOTONDBG = [sys.executable, "-m", "photondbg"]
CYCLES, STOP_AFTER = 4, 2


def test_sim_run_interrupted_then_resumed(tmp_path):
    require_tool("qemu-system-arm")
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            *PHOTONDBG,
            "sim",
            "run",
            "--variant",
            "all",
            "--cycles",
            str(CYCLES),
            "--cut",
            "down",
            "--hold",
            "0.5:1",
            "--seed",
            "7",
            "--json",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    err = StderrLines(proc.stderr)
    try:
        assert err.wait_for(rf"^cycle {STOP_AFTER}/{CYCLES} ", 300), err.text(1)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.text()
    assert proc.returncode == 130, text
    last = text.strip().splitlines()[-1]
    assert (
        last.startswith("photondbg: interrupted (Ctrl-C); partial output: ")
        and f"--resume {out}" in last
    ), last
    first = [json.loads(x) for x in (out / "cycles.jsonl").read_text().splitlines()]
    assert first[0]["kind"] == "start" and first[0]["options"]["cycles"] == CYCLES
    done = [r["cycle"] for r in first[1:]]
    assert [c["index"] for c in done] == list(range(1, STOP_AFTER + 1))

    res = subprocess.run(
        [*PHOTONDBG, "sim", "run", "--resume", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["cycles"] == CYCLES and sum(summary["outcomes"].values()) == CYCLES
    assert f"resumed: {STOP_AFTER} of {CYCLES}" in res.stderr
    ran = [line for line in res.stderr.splitlines() if line.startswith("cycle ")]
    assert [int(x.split()[1].split("/")[0]) for x in ran] == list(range(STOP_AFTER + 1, CYCLES + 1))
    lines = [json.loads(x) for x in (out / "cycles.jsonl").read_text().splitlines()]
    cycles = [r["cycle"] for r in lines if r["kind"] == "cycle"]
    assert sorted(c["index"] for c in cycles) == list(range(1, CYCLES + 1))  # no duplicate
    assert cycles[:STOP_AFTER] == done  # the finished ones untouched
    report = json.loads((out / "campaign.json").read_text())
    assert [c["index"] for c in report["per_cycle"]] == list(range(1, CYCLES + 1))
    assert report["per_cycle"][:STOP_AFTER] == done
    # every cycle, resumed or not, has the cut its index has in the seeded schedule
    schedule = CutSchedule(7, ("down",), (0.5, 1.0))
    planned = [schedule.next() for _ in range(CYCLES)]
    assert [(c["cut"], c["hold"]) for c in report["per_cycle"]] == [
        (p.kind, p.hold) for p in planned
    ]
    fresh = subprocess.run(
        [*PHOTONDBG, "sim", "run", "--resume", str(out), "--cycles", "9"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert fresh.returncode == 2 and "drop --cycles" in fresh.stderr


def test_verify_fix_interrupted_then_resumed(tmp_path):
    """Both roles' finished cycles survive a SIGTERM; --resume runs only the missing ones."""
    require_tool("qemu-system-arm")
    out = tmp_path / "vf"
    cycles = 3
    proc = subprocess.Popen(
        [
            *PHOTONDBG,
            "verify-fix",
            "--baseline",
            "none",
            "--candidate",
            "all",
            "--cycles",
            str(cycles),
            "--jobs",
            "2",
            "--cut",
            "down",
            "--hold",
            "0.5:1",
            "--seed",
            "4",
            "--json",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    err = StderrLines(proc.stderr)
    try:
        assert err.wait_for(r"^(baseline|candidate) +1/3 ", 300), err.text(1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.text()
    assert proc.returncode == 143, text
    assert f"verify-fix --resume {out}" in text.strip().splitlines()[-1]
    first = [json.loads(x) for x in (out / "cycles.jsonl").read_text().splitlines()][1:]
    assert 1 <= len(first) < 2 * cycles

    res = subprocess.run(
        [*PHOTONDBG, "verify-fix", "--resume", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["baseline"]["cycles"] == summary["candidate"]["cycles"] == cycles
    lines = [json.loads(x) for x in (out / "cycles.jsonl").read_text().splitlines()][1:]
    for role in ("baseline", "candidate"):
        got = [r["cycle"]["index"] for r in lines if r["run"] == role]
        assert sorted(got) == list(range(1, cycles + 1)), (role, got)  # none lost or twice
    assert lines[: len(first)] == first
    full = json.loads((out / "verify.json").read_text())
    for r in first:
        per = full["runs"][r["run"]]["per_cycle"]
        assert per[r["cycle"]["index"] - 1] == r["cycle"]  # kept as it was
