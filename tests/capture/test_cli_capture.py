"""``photondbg capture-fault`` as a user runs it: exit codes, one-line errors, --json, and no
process left behind after time-outs, a killed QEMU or Ctrl-C (partial report kept)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "photondbg", "capture-fault"]


def run_cli(*args, env=None, timeout=60):
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout
    )


def one_line_error(proc) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def procs_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line mentions ``text`` (our unique ELF path)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z" and int(entry) != os.getpid():
            found.append((int(entry), cmd))
    return found


@pytest.fixture
def unique_spin(fault_elves, tmp_path) -> Path:
    """The never-faulting firmware under a path no other process mentions."""
    path = tmp_path / f"spin-{os.getpid()}-{time.monotonic_ns()}.elf"
    shutil.copy(fault_elves["spin"], path)
    return path


@pytest.mark.parametrize("case", ["missing", "not-elf", "stripped", "wrong-arch", "a-profile"])
def test_bad_elf_is_one_line_exit_2(case, tmp_path, stripped_elf, a_profile_elf):
    elf = {
        "missing": tmp_path / "nope.elf",
        "not-elf": tmp_path / "notes.txt",
        "stripped": stripped_elf,
        "wrong-arch": Path(shutil.which("ls")),
        "a-profile": a_profile_elf,
    }[case]
    if case == "not-elf":
        elf.write_text("hello\n")
    p = run_cli("--elf", elf, "--out", tmp_path / "caps")
    assert p.returncode == 2
    err = one_line_error(p)
    assert {
        "missing": "not found",
        "not-elf": "not an ELF",
        "stripped": "stripped",
        "wrong-arch": "not 32-bit ARM",
        "a-profile": "A-profile",
    }[case] in err
    assert not (tmp_path / "caps").exists() or not any((tmp_path / "caps").iterdir())


def test_unwritable_out_dir_is_one_line_exit_2(fault_elves, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    p = run_cli("--elf", fault_elves["undef"], "--out", blocker / "caps")
    assert p.returncode == 2
    assert "cannot create" in one_line_error(p)


@pytest.mark.parametrize(
    "args, text",
    [
        (["--target", "photon"], "needs --elf"),
        (
            ["--target", "photon", "--elf", "x.elf", "--scenario", "wifi-loss"],
            "cut the WiFi yourself",
        ),
        (["--timeout", "0"], "--timeout"),
        (["--machine", "mps2-an385"], "needs the netduino2 machine"),
    ],
)
def test_bad_usage_is_one_line_exit_2(args, text, tmp_path):
    p = run_cli(*args, "--out", tmp_path / "caps")
    assert p.returncode == 2
    assert text in one_line_error(p)


def test_gdb_missing_is_one_line_exit_2(fault_elves, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(shutil.which("qemu-system-arm"), bindir / "qemu-system-arm")
    env = {**os.environ, "PATH": str(bindir)}
    p = run_cli("--elf", fault_elves["undef"], "--out", tmp_path / "caps", env=env)
    assert p.returncode == 2
    assert "gdb-multiarch not found" in one_line_error(p)


def test_capture_summary_and_json(fault_elves, tmp_path):
    p = run_cli("--elf", fault_elves["deep_chain"], "--out", tmp_path / "caps", "--follow", "0")
    assert p.returncode == 0, p.stderr
    assert "UNDEFINSTR" in p.stdout and "level_6" in p.stdout and "deep_chain.c:4" in p.stdout
    p = run_cli("--elf", fault_elves["bad_pc"], "--out", tmp_path / "caps", "--json")
    assert p.returncode == 0, p.stderr
    line = json.loads(p.stdout.strip().splitlines()[-1])
    assert line["outcome"] == "fault"
    report = json.loads(Path(line["report"]).read_text())
    assert report["fault"]["faulting_pc"] == 0xA0000000
    assert isinstance(report["fault"]["scb"]["cfsr"], int)


def test_timeout_exit_3_with_report(unique_spin, tmp_path):
    p = run_cli("--elf", unique_spin, "--out", tmp_path / "caps", "--timeout", "1", "--json")
    assert p.returncode == 3, p.stderr
    line = json.loads(p.stdout.strip().splitlines()[-1])
    assert line["outcome"] == "none"
    report = json.loads(Path(line["report"]).read_text())
    assert report["outcome"] == "none" and report["fault"] is None
    assert procs_mentioning(str(unique_spin)) == []


def start_and_wait_running(elf: Path, out: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen(
        [*CLI, "--elf", str(elf), "--out", str(out), "--timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    end = time.monotonic() + 30
    while time.monotonic() < end:
        reports = list(out.glob("*/report.json"))
        if reports:
            try:
                if json.loads(reports[0].read_text()).get("stage") == "run":
                    return proc, reports[0]
            except ValueError:
                pass  # never: writes are atomic; keep polling anyway
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.terminate()  # SIGTERM: photondbg stops its children on the way out
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid, _ in procs_mentioning(str(elf)):  # only ours: the ELF path is unique to this test
        os.kill(pid, signal.SIGKILL)
    pytest.fail(f"capture never reached the run stage: {proc.stderr.read()}")


def test_qemu_killed_mid_capture(unique_spin, tmp_path):
    proc, report_path = start_and_wait_running(unique_spin, tmp_path / "caps")
    qemu = [pid for pid, cmd in procs_mentioning(str(unique_spin)) if "qemu-system-arm" in cmd]
    assert qemu
    os.kill(qemu[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "target died" in err and "Traceback" not in err
    report = json.loads(report_path.read_text())
    assert report["status"] == "partial" and "target died" in report["error"]
    assert procs_mentioning(str(unique_spin)) == []


def test_ctrl_c_keeps_partial_report_and_leaves_no_orphan(unique_spin, tmp_path):
    proc, report_path = start_and_wait_running(unique_spin, tmp_path / "caps")
    assert procs_mentioning(str(unique_spin))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    report = json.loads(report_path.read_text())
    assert report["status"] == "partial" and report["stage"] == "run"
    assert "interrupted" in report["error"]
    assert procs_mentioning(str(unique_spin)) == []
