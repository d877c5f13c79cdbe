"""verify-fix on the sim: both builds, the same schedule, a verdict and its three files."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from support import cycles_for_fixed, require_tool

from photondbg.campaign.chart import outcome_chart

ROOT = Path(__file__).resolve().parents[2]
PHOTONDBG = [sys.executable, "-m", "photondbg"]


# The baseline's crash rate under this schedule, measured on main 2026-11-30 22:30 UTC (after
# the v0.6.4 socket layer, ea31626) with
#   photondbg sim run --variant none --cycles 20 --cut down --hold 0.8:1.5 --seed 3 --json
# -> CRASH 11, NO_RECOVERY 9 of 20 (before it: CRASH 17 of 20). The cycle count follows from it
# (support.cycles_for_fixed): at the lower 95 % bound of that rate (0.347), 30 cycles per arm
# give FIXED (Fisher p < 0.05 needs 5 baseline crashes of 30 against 0) with probability
# >= 0.99. A simulated board costs ~0.25 core (it sleeps while idle), so 6 boards run at once.
# If the firmware's crash rate changes, re-measure and update MEASURED: the test says so.
MEASURED = (11, 20)
CYCLES = cycles_for_fixed(*MEASURED)
JOBS = 6
SCHEDULE = ["--cut", "down", "--hold", "0.8:1.5", "--seed", "3"]


@pytest.mark.slow
@pytest.mark.timeout(900)  # 2 x 30 cycles: ~2 min idle on 6 boards, more on a loaded machine
@pytest.mark.parametrize("candidate,recovery", [("all", "PASS"), ("clients", "FAIL")])
def test_verify_fix_finds_the_fix_and_the_recovery_bug(candidate, recovery, tmp_path):
    """none -> all: FIXED + RECOVERY PASS; none -> clients (PR #1250 alone): FIXED, but the
    server never listens again after the WiFi returns: RECOVERY FAIL. Exit 0 in both."""
    require_tool("arm-none-eabi-gcc")
    require_tool("qemu-system-arm")
    out = subprocess.run(
        [
            *PHOTONDBG,
            "verify-fix",
            "--baseline",
            "none",
            "--candidate",
            candidate,
            "--cycles",
            str(CYCLES),
            "--jobs",
            str(JOBS),
            *SCHEDULE,
            "--json",
            "--out",
            str(tmp_path / "vf"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout.strip().splitlines()[-1])
    assert s["baseline"]["cycles"] == s["candidate"]["cycles"] == CYCLES
    base, cand = s["baseline"]["outcomes"], s["candidate"]["outcomes"]
    crashed = sum(base[k] for k in ("CRASH", "LOCKUP", "HANG"))
    assert s["verdict"] == "FIXED", (
        f"baseline crashed {crashed} of {CYCLES} (p={s['p_value']:.3f}); the measured rate "
        f"{MEASURED[0]}/{MEASURED[1]} may be stale: re-measure (see MEASURED)"
    )
    assert sum(cand[k] for k in ("CRASH", "LOCKUP", "HANG")) == 0
    assert s["recovery"] == recovery
    if candidate == "all":
        assert cand["OK"] == CYCLES and cand["NO_RECOVERY"] == 0
    else:
        assert cand["NO_RECOVERY"] >= 1
    assert s["candidate_upper_bound"] is not None  # zero candidate crashes: an exact bound
    full = json.loads((tmp_path / "vf" / "verify.json").read_text())
    b, c = full["runs"]["baseline"]["per_cycle"], full["runs"]["candidate"]["per_cycle"]
    assert [(x["cut"], x["hold"]) for x in b] == [(x["cut"], x["hold"]) for x in c]  # same schedule
    assert "Verdict" in (tmp_path / "vf" / "verify.md").read_text()
    assert (tmp_path / "vf" / "outcomes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cycle_count_follows_from_the_statistics():
    assert CYCLES == 30
    assert cycles_for_fixed(17, 20) == 12  # the rate measured before the socket layer
    assert cycles_for_fixed(20, 20) < CYCLES < cycles_for_fixed(7, 20)  # ~1 in 3: more


def test_same_variant_twice_is_usage_error():
    out = subprocess.run(
        [*PHOTONDBG, "verify-fix", "--baseline", "all", "--candidate", "all"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "nothing to compare" in out.stderr


def test_chart_is_a_valid_png(tmp_path):
    path = tmp_path / "c.png"
    outcome_chart(
        path, [["OK", "CRASH", "LOCKUP"], ["NO_RECOVERY"]], labels=["none", "all"], title="FIXED"
    )
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 400 and height >= 100
