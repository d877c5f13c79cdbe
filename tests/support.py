"""Helpers shared by every test folder. Import as ``from support import ...``: a unique module
name, unlike ``conftest`` which exists in several folders."""

from __future__ import annotations

import os
import re
import shutil

import pytest

WATCHED = re.compile(r"qemu-system-arm|gdb-multiarch|openocd|dfu-util|particle|fake_openocd")


def child_processes(pid: int | None = None) -> list[tuple[int, str]]:
    """(pid, cmdline) of every live descendant of ``pid`` (default: this process)."""
    root = pid or os.getpid()
    parents: dict[int, int] = {}
    cmd: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        parents[int(entry)] = int(fields[1])
    found, frontier = [], {root}
    while frontier:
        nxt = {p for p, pp in parents.items() if pp in frontier}
        found += [(p, cmd.get(p, "")) for p in nxt]
        frontier = nxt
    return found


def watched_children() -> list[tuple[int, str]]:
    return [(p, c) for p, c in child_processes() if WATCHED.search(c)]


def require_tool(name: str) -> str:
    """A missing tool fails the test with a clear message (set-up installs everything)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/bootstrap.sh")
    return path
