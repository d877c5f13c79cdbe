"""Logging: every capture directory holds the run's debug log (photondbg.log); -v/-vv put it on
stderr too, before or after the verb; without -v stderr stays free of it."""

from __future__ import annotations

import subprocess
import sys


def test_capture_directory_holds_the_run_log(fault_elves, capture):
    r = capture(fault_elves["undef"])
    text = (r.capdir / "photondbg.log").read_text()
    for stage in ("boot", "connect", "arm", "run", "capture"):
        assert f"capture stage {stage}" in text
    assert "started qemu (pid " in text and "started gdb (pid " in text
    assert f"capture fault: {r.report_path}" in text


def test_verbose_flag_logs_on_stderr(fault_elves, tmp_path):
    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "photondbg", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    common = [
        "--elf",
        str(fault_elves["undef"]),
        "--scenario",
        "none",
        "--timeout",
        "30",
        "--follow",
        "0",
    ]
    quiet = cli("capture-fault", *common, "--out", str(tmp_path / "q"))
    assert quiet.returncode == 0, quiet.stderr
    assert "capture stage" not in quiet.stderr
    loud = cli("capture-fault", "-v", *common, "--out", str(tmp_path / "v"))
    assert loud.returncode == 0, loud.stderr
    assert "photondbg: INFO: capture stage arm" in loud.stderr
    assert "started qemu" not in loud.stderr  # debug needs -vv
    debug = cli("-vv", "capture-fault", *common, "--out", str(tmp_path / "d"))
    assert debug.returncode == 0, debug.stderr
    assert "photondbg: DEBUG: started qemu (pid " in debug.stderr
