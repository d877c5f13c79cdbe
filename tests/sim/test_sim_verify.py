"""verify-fix on the sim: both builds, the same schedule, a verdict and its three files."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

from support import require_tool

from photondbg.campaign.chart import outcome_chart

ROOT = Path(__file__).resolve().parents[2]
PHOTONDBG = [sys.executable, "-m", "photondbg"]


def test_verify_fix_none_vs_all(tmp_path):
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    out = subprocess.run([*PHOTONDBG, "verify-fix", "--baseline", "none", "--candidate", "all",
                          "--cycles", "2", "--cut", "down", "--hold", "0.8:1.5", "--seed", "3",
                          "--json", "--out", str(tmp_path / "vf")],
                         capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout.strip().splitlines()[-1])
    assert s["verdict"] in ("FIXED", "NOT FIXED", "INCONCLUSIVE")
    assert s["baseline"]["cycles"] == s["candidate"]["cycles"] == 2
    cand = s["candidate"]["outcomes"]
    assert cand["OK"] == 2 and s["recovery"] == "PASS", out.stderr  # variant all: both fixes
    assert s["candidate_upper_bound"] is not None  # zero candidate crashes: an exact bound
    full = json.loads((tmp_path / "vf" / "verify.json").read_text())
    b, c = full["runs"]["baseline"]["per_cycle"], full["runs"]["candidate"]["per_cycle"]
    assert [(x["cut"], x["hold"]) for x in b] == [(x["cut"], x["hold"]) for x in c]  # same schedule
    assert "Verdict" in (tmp_path / "vf" / "verify.md").read_text()
    assert (tmp_path / "vf" / "outcomes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_variant_twice_is_usage_error():
    out = subprocess.run([*PHOTONDBG, "verify-fix", "--baseline", "all", "--candidate", "all"],
                         capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "nothing to compare" in out.stderr


def test_chart_is_a_valid_png(tmp_path):
    path = tmp_path / "c.png"
    outcome_chart(path, [["OK", "CRASH", "LOCKUP"], ["NO_RECOVERY"]], labels=["none", "all"],
                  title="FIXED")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 400 and height >= 100
