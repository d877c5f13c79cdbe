"""photondbg ends however it is told to, at every stage, and leaves nothing running.

Each case starts ``photondbg capture-fault`` as a user would, waits for a stage from its own
progress lines on stderr (``photondbg: stage: NAME``), sends one signal, and checks:
- SIGINT / SIGTERM / SIGHUP: exit 128+signal, no traceback, the last stderr line names the
  signal and the partial report, which says ``"status": "partial"`` and which signal stopped it;
- SIGKILL: nothing in photondbg runs, yet every process it started (make, QEMU, GDB) goes:
  the parent-death signal and the keeper (photondbg/keeper.py) stop them.
In every case no process mentioning the test's directory is left (bounded wait, then fail).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import StderrLines, procs_mentioning, wait_gone

SIGNALS = {
    "INT": signal.SIGINT,
    "TERM": signal.SIGTERM,
    "HUP": signal.SIGHUP,
    "KILL": signal.SIGKILL,
}
REASON = {
    "INT": "interrupted (Ctrl-C)",
    "TERM": "interrupted by SIGTERM",
    "HUP": "interrupted by SIGHUP",
}
STAGES = [
    "build",
    "boot",
    "connect",
    "arm",
    "run",
    "capture",
    "dumps",
    "threads",
    "analysis",
    "follow",
    "done",
]
# every signal at the long stage (run); each short stage with two signals, KILL among them
CASES = [
    ("run", "INT"),
    ("run", "TERM"),
    ("run", "HUP"),
    ("run", "KILL"),
    ("build", "TERM"),
    ("build", "KILL"),
    ("build", "HUP"),
    ("boot", "INT"),
    ("boot", "KILL"),
    ("arm", "HUP"),
    ("arm", "KILL"),
    ("capture", "TERM"),
    ("capture", "KILL"),
]
STAGE_WAIT = 120.0  # s: a cold firmware build on a loaded machine
KILL_GRACE = 8.0  # s: the keeper stops what a SIGKILLed photondbg left (SIGTERM, 1 s, SIGKILL)


def _start(args: list[str], tmp_path: Path) -> tuple[subprocess.Popen, StderrLines]:
    env = dict(os.environ, PHOTONDBG_BUILD=str(tmp_path / "build"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "photondbg",
            "capture-fault",
            "--json",
            "--out",
            str(tmp_path / "caps"),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    return proc, StderrLines(proc.stderr)


def _wait_build_running(tmp_path: Path) -> None:
    """The build stage has begun; wait until make works in the test's build directory."""
    end = time.monotonic() + STAGE_WAIT
    while time.monotonic() < end:
        if any(
            "make" in c or "arm-none-eabi" in c or "cc1" in c
            for _, c in procs_mentioning(str(tmp_path / "build"))
        ):
            return
        time.sleep(0.01)
    pytest.fail("make never ran in the test's build directory")


@pytest.mark.parametrize("stage,sig", CASES, ids=[f"{s}-{g}" for s, g in CASES])
def test_signal_at_stage_leaves_nothing(stage, sig, fault_elves, tmp_path):
    if stage == "build":
        args = ["--scenario", "none", "--timeout", "60"]
    elif stage == "capture":
        elf = tmp_path / "bad_pc.elf"
        shutil.copy(fault_elves["bad_pc"], elf)
        args = ["--elf", str(elf), "--follow", "0"]
    else:
        elf = tmp_path / "spin.elf"  # never faults: the run stage lasts until the time-out
        shutil.copy(fault_elves["spin"], elf)
        args = ["--elf", str(elf), "--timeout", "60"]
    proc, err = _start(args, tmp_path)
    try:
        seen = err.wait_for(rf"^photondbg: stage: {stage}$", STAGE_WAIT)
        assert seen, f"stage {stage} never announced:\n{err.text(1)}"
        if stage == "build":
            _wait_build_running(tmp_path)
        proc.send_signal(SIGNALS[sig])
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.text()
    assert "Traceback" not in text, text
    left = wait_gone(str(tmp_path), KILL_GRACE)
    assert left == [], f"left running after SIG{sig} at {stage}: {left}"
    reports = list((tmp_path / "caps").glob("*/report.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    reached = report["stage"]
    if stage == "capture" and proc.returncode == 0:
        # the capture finished before the signal arrived: then it is complete
        assert report["status"] == "complete" and reached == "done"
        return
    assert STAGES.index(reached) >= STAGES.index(stage), reached
    assert report["status"] == "partial"
    if sig == "KILL":
        assert proc.returncode == -signal.SIGKILL
        return
    assert proc.returncode == 128 + SIGNALS[sig], text
    assert report["error"] == REASON[sig]
    last = text.strip().splitlines()[-1]
    m = re.fullmatch(rf"photondbg: {re.escape(REASON[sig])}; partial output: (\S+)", last)
    assert m, last
    assert Path(m.group(1)).resolve() == reports[0].resolve()
