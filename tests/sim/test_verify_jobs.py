"""verify-fix --jobs on real simulated boards: one board at a time and two at once give the
same verdict on the same seed, with the same schedule per cycle index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import require_tool

ROOT = Path(__file__).resolve().parents[2]
PHOTONDBG = [sys.executable, "-m", "photondbg"]


def verify(tmp_path: Path, jobs: int) -> dict:
    out = subprocess.run(
        [
            *PHOTONDBG,
            "verify-fix",
            "--baseline",
            "none",
            "--candidate",
            "all",
            "--max-cycles",
            "10",
            "--alpha",
            "0.1",
            "--jobs",
            str(jobs),
            "--cut",
            "down",
            "--hold",
            "0.8:1.5",
            "--seed",
            "3",
            "--json",
            "--out",
            str(tmp_path / f"jobs{jobs}"),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    summary["full"] = json.loads((tmp_path / f"jobs{jobs}" / "verify.json").read_text())
    return summary


def test_jobs_2_gives_the_verdict_of_jobs_1(tmp_path):
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    one, two = verify(tmp_path, 1), verify(tmp_path, 2)
    for s in (one, two):
        assert s["mode"] == "sequential" and s["stopped_at"] <= 10
        assert "stopped after cycle" in s["stop_reason"]
        assert s["candidate"]["outcomes"]["OK"] == s["candidate"]["cycles"]
    assert one["verdict"] == two["verdict"] == "FIXED"
    assert (one["jobs"], two["jobs"]) == (1, 2)
    # the same cut and hold for each cycle index, in both roles and both runs
    plans = [
        {(c["index"], c["cut"], c["hold"]) for c in s["full"]["runs"][role]["per_cycle"]}
        for s in (one, two)
        for role in ("baseline", "candidate")
    ]
    common = set.intersection(*({i for i, _, _ in p} for p in plans))
    assert len(common) >= 4
    assert len({frozenset(x for x in p if x[0] in common) for p in plans}) == 1
    assert (tmp_path / "jobs2" / "verify.md").read_text().count("Sequential test") == 1
