"""`photondbg openocd` as a user runs it: ready line, GDB port usable, Ctrl-C stops OpenOCD."""

import json
import os
import signal
import socket
import subprocess
import sys

from recordings import DATA, FAKE_OPENOCD


def test_openocd_verb_runs_until_ctrl_c(tmp_path):
    scenario = tmp_path / "ready.log"
    lines = [
        ln
        for ln in (DATA / "openocd" / "session-lockup-0.12.log").read_text().splitlines()
        if not ln.startswith("@wait-upstream")
    ]
    scenario.write_text("\n".join(lines[: lines.index("@serve") + 3]) + "\n")
    env = dict(os.environ, PHOTONDBG_OPENOCD=str(FAKE_OPENOCD), FAKE_OPENOCD_SCENARIO=str(scenario))
    proc = subprocess.Popen(
        [sys.executable, "-m", "photondbg", "openocd", "--probe", "stlink", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())
        assert info["interface"] == "stlink"
        with socket.create_connection(("127.0.0.1", info["telnet_port"]), timeout=10) as s:
            assert s.recv(100).startswith(b"Open On-Chip Debugger")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert not running(info["pid"])  # OpenOCD (here the fake) did not outlive the verb


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
