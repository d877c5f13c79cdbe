"""Helpers shared by every test folder. Import as ``from support import ...``: a unique module
name, unlike ``conftest`` which exists in several folders."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

# what photondbg starts (and photondbg itself, run by the CLI tests); not the keeper, which
# stops on its own once its photondbg has gone
WATCHED = re.compile(
    r"qemu-system-arm|gdb-multiarch|openocd|dfu-util|particle|fake_openocd"
    r"|labgrid-|arm-none-eabi|\bmake\b|bin/photondbg\b|-m photondbg(?!\.keeper)\b"
)


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


DATA = Path(__file__).resolve().parent / "data"


def link_bare_metal(source: Path, out: Path) -> Path:
    """Assemble ``source`` (no libc) with tests/data/firmware/lockup.ld into the ELF ``out``:
    the small bare-metal firmwares the probe and missing-tool tests run."""
    gcc = require_tool("arm-none-eabi-gcc")
    ld = DATA / "firmware" / "lockup.ld"
    cmd = [gcc, "-mcpu=cortex-m3", "-mthumb", "-nostdlib", "-g", "-T", str(ld), str(source)]
    subprocess.run([*cmd, "-o", str(out)], check=True)
    return out


def procs_mentioning(text: str) -> list[tuple[int, str]]:
    """Live (not zombie) processes whose command line mentions ``text``, this one excepted."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append((int(entry), cmd))
    return found


def wait_gone(text: str, grace: float) -> list[tuple[int, str]]:
    """Wait up to ``grace`` s until no process mentions ``text``; what is still there."""
    end = time.monotonic() + grace
    while True:
        left = procs_mentioning(text)
        if not left or time.monotonic() >= end:
            return left
        time.sleep(0.1)


class StderrLines:
    """A child's stderr read by a thread, so a test can wait for a line with a bound."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append(None)  # end of stream
            self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> str | None:
        """The first line matching ``pattern`` (a regex), or None at the end/time-out."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if line is None:
                        return None
                    if rx.search(line):
                        return line
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def text(self, join_timeout: float = 10.0) -> str:
        self._thread.join(join_timeout)
        return "\n".join(x for x in self.lines if x is not None)


def cycles_for_fixed(
    crashed: int, of: int, *, alpha: float = 0.05, power: float = 0.99, confidence: float = 0.95
) -> int:
    """Cycles per arm for an end-to-end verify-fix to reach FIXED with probability ``power``
    when the candidate never crashes and the baseline crashed ``crashed`` times in ``of``
    measured cycles. The rate used is the lower one-sided Clopper-Pearson bound at
    ``confidence``, so a lucky measurement does not shrink the test below what it needs.
    FIXED needs Fisher's one-sided p = C(n,k)/C(2n,k) < alpha for k baseline crashes of n."""
    from math import comb

    from scipy.stats import beta, binom

    rate = float(beta.ppf(1 - confidence, crashed, of - crashed + 1)) if crashed else 0.0
    for n in range(1, 500):
        k_min = next((k for k in range(n + 1) if comb(n, k) / comb(2 * n, k) < alpha), None)
        if k_min is not None and binom.sf(k_min - 1, n, rate) >= power:
            return n
    raise ValueError(f"a crash rate of {rate:.3f} needs more than 500 cycles")


FAULT_FIRMWARES = Path(__file__).resolve().parent / "firmware" / "faults"
LAYOUT = {  # machine -> (flash base, flash size, RAM base, RAM size)
    "netduino2": ("0x08000000", "512K", "0x20000000", "128K"),  # STM32F205
    "netduinoplus2": ("0x08000000", "1024K", "0x20000000", "128K"),  # STM32F405
    "mps2-an385": ("0x00000000", "512K", "0x20000000", "4M"),
    "mps2-an386": ("0x00000000", "512K", "0x20000000", "4M"),
    "lm3s6965evb": ("0x00000000", "256K", "0x20000000", "64K"),  # Zephyr's qemu_cortex_m3
}


def linker_script(machine: str) -> str:
    """The fault firmwares' linker script (tests/firmware/faults/link.ld.in) for a machine."""
    flash, flash_size, ram, size = LAYOUT[machine]
    return (
        (FAULT_FIRMWARES / "link.ld.in")
        .read_text()
        .replace("FLASH_BASE", flash)
        .replace("FLASH_SIZE", flash_size)
        .replace("RAM_BASE", ram)
        .replace("RAM_SIZE", size)
    )
