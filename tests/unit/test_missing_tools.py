"""A tool photondbg drives is not installed: one error line that names it, says how to install
it and points to ``photondbg doctor``; exit 2; no traceback. PATH is narrowed for real (a
directory of links to every program but the missing one), nothing is mocked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import DATA, link_bare_metal

SYSTEM_BINS = ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin")


def path_without(tool: str, into: Path) -> str:
    """A PATH with every program of the system's bin directories except ``tool``."""
    into.mkdir(parents=True, exist_ok=True)
    for d in SYSTEM_BINS:
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            link = into / name
            if name == tool or link.exists() or link.is_symlink():
                continue
            os.symlink(os.path.join(d, name), link)
    return str(into)


@pytest.fixture(scope="module")
def small_elf(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fw") / "lockup.elf"
    link_bare_metal(DATA / "firmware" / "lockup.S", out)
    return out


def run_without(tool: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FAKE_OPENOCD", "PHOTONDBG_OPENOCD"))
    }
    env["PATH"] = path_without(tool, tmp_path / "bin")
    env["PHOTONDBG_TOOLS"] = str(tmp_path / "no-local-tools")  # not bootstrap's .tools either
    return subprocess.run(
        [sys.executable, "-m", "photondbg", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


@pytest.mark.parametrize("tool", ["qemu-system-arm", "openocd", "dfu-util", "particle"])
def test_missing_tool_is_one_line_pointing_to_doctor(tool, small_elf, tmp_path):
    binfile = tmp_path / "app.bin"
    binfile.write_bytes(b"\0" * 1024)
    args = {
        "qemu-system-arm": [
            "capture-fault",
            "--elf",
            str(small_elf),
            "--timeout",
            "5",
            "--out",
            str(tmp_path / "caps"),
            "--quiet",
        ],
        "openocd": ["openocd", "--timeout", "5"],
        "dfu-util": ["flash", "--method", "dfu", "--address", "0x080A0000", str(binfile)],
        "particle": ["flash", "--method", "particle", str(binfile)],
    }[tool]
    p = run_without(tool, args, tmp_path)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert lines[0].startswith(f"photondbg: error: {tool} not found on PATH (install: ")
    assert lines[0].endswith("`photondbg doctor` checks every tool")


def test_doctor_names_the_missing_tool(tmp_path):
    p = run_without("qemu-system-arm", ["doctor", "--target", "sim"], tmp_path)
    assert p.returncode == 2
    assert "MISSING  qemu-system-arm" in p.stdout
