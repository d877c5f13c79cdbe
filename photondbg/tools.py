"""The external programs photondbg drives, as data: what each is for and how to install it."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tool:
    name: str  # program on PATH
    package: str  # how to get it on Debian
    purpose: str
    targets: tuple[str, ...]  # which targets need it: sim, photon
    version_args: tuple[str, ...] = ("--version",)


TOOLS = [
    Tool(
        "arm-none-eabi-gcc",
        "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib",
        "builds the firmware",
        ("sim", "photon"),
    ),
    Tool(
        "gdb-multiarch",
        "apt-get install gdb-multiarch",
        "the debugger photondbg drives over MI",
        ("sim", "photon"),
    ),
    Tool(
        "qemu-system-arm", "apt-get install qemu-system-arm", "runs the simulated Photon", ("sim",)
    ),
    Tool("openocd", "apt-get install openocd", "talks to the debug probe (SWD)", ("photon",)),
    Tool("dfu-util", "apt-get install dfu-util", "flashes over USB DFU", ("photon",)),
    Tool(
        "particle",
        "npm install -g particle-cli@3.40.0 execa@5 (scripts/bootstrap.sh does it)",
        "Particle's CLI: compile, flash, serial",
        ("photon",),
    ),
    Tool(
        "udevadm",
        "apt-get install udev",
        "lets `particle serial list` find the USB serial port",
        ("photon",),
    ),
    Tool("make", "apt-get install make", "runs the Device OS build", ("photon",)),
    Tool("git", "apt-get install git", "checks out Device OS refs into work trees", ("photon",)),
]
BY_NAME = {t.name: t for t in TOOLS}


# Programs photondbg installs itself (scripts/bootstrap.sh, under .tools/ of the checkout, or
# $PHOTONDBG_TOOLS), found when they are not on PATH.
LOCAL_BINS = {
    "particle": ".tools/particle/node_modules/.bin/particle",
}


def which(name: str) -> str | None:
    found = shutil.which(name)
    if found is None and name in LOCAL_BINS:
        from photondbg.paths import ROOT

        tools_dir = os.environ.get("PHOTONDBG_TOOLS")
        rel = LOCAL_BINS[name]
        local = Path(tools_dir) / rel.removeprefix(".tools/") if tools_dir else ROOT / rel
        if local.is_file() and os.access(local, os.X_OK):
            found = str(local)
    return found


def version(tool: Tool, timeout: float = 10.0) -> str | None:
    path = which(tool.name)
    if path is None:
        return None
    try:
        out = subprocess.run(
            [path, *tool.version_args], capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "?"


def require(name: str) -> str:
    """Path of a tool, or ToolMissing (one line, exit 2) naming how to install it."""
    from photondbg.errors import ToolMissing

    path = which(name)
    if path is None:
        tool = BY_NAME.get(name)
        raise ToolMissing(name, tool.package if tool else "")
    return path
