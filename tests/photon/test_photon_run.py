"""The one place short-lived programs run: exit status, all output, time-outs kill the group."""

import sys
import time

import pytest

from photondbg.errors import TargetTimeout, ToolMissing
from photondbg.photon.run import run


def test_exit_status_and_both_streams():
    res = run(
        [
            sys.executable,
            "-c",
            "import sys; print('out'); print('err', file=sys.stderr);sys.exit(7)",
        ],
        timeout=30,
    )
    assert (res.exit_code, res.stdout, res.stderr) == (7, "out\n", "err\n")
    assert res.output == "out\nerr\n" and res.last_line() == "err" and not res.ok


def test_fast_programs_lose_no_output():
    # sh's timed wait once returned before its readers had the output (seen 2 in 30 runs)
    for _ in range(30):
        assert run(["echo", "photon"], timeout=30).stdout == "photon\n"


def test_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    with pytest.raises(TargetTimeout, match="did not finish within 0.5 s"):
        run(["sh", "-c", script], timeout=0.5)
    grandchild = int(pidfile.read_text())
    assert not alive(grandchild)


def alive(pid: int) -> bool:
    """Running (a killed process may linger as a zombie until someone reaps it)."""
    for _ in range(200):
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.01)
    return True


def test_missing_program():
    with pytest.raises(ToolMissing, match="no-such-photon-tool not found"):
        run(["no-such-photon-tool", "-l"], timeout=5)
