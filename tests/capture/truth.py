"""Ground truth of a fault firmware, measured by the firmware itself and read without photondbg.

A firmware built with ``tests/firmware/faults/truth.h`` records MSP, PSP, EXC_RETURN, IPSR and
CONTROL in ``fault_truth`` at the first instructions of its fault handler, then stops in
``truth_recorded``. :func:`ground_truth` runs it under plain ``qemu-system-arm`` and a batch
``gdb-multiarch`` (none of photondbg's code), stops there and prints the expressions asked for.
A capture test then compares photondbg's report with these numbers.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

TRUTH_FIELDS = ("msp", "psp", "exc_return", "ipsr", "control", "count")
VALUE_RE = re.compile(r"^TRUTH (\S+) = (.*)$", re.M)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_to(
    elf: Path, machine: str, stop: str, exprs: list[str], timeout: float = 60.0
) -> dict[str, str]:
    """Run ``elf`` on ``machine`` to the breakpoint ``stop`` and return GDB's text of each
    expression (``print/x``) there."""
    port = _free_port()
    qemu = subprocess.Popen(
        [
            "qemu-system-arm",
            "-M",
            machine,
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "null",
            "-kernel",
            str(elf),
            "-S",
            "-gdb",
            f"tcp:127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        argv = ["gdb-multiarch", "-nx", "-batch", str(elf)]
        argv += ["-ex", f"target remote 127.0.0.1:{port}", "-ex", f"break {stop}", "-ex", "c"]
        for e in exprs:
            argv += ["-ex", f'printf "TRUTH {e} = "', "-ex", f"output/x {e}", "-ex", "echo \\n"]
        argv += ["-ex", "kill"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        found = dict(VALUE_RE.findall(out.stdout))
        missing = [e for e in exprs if e not in found]
        if missing:
            raise AssertionError(f"ground truth run did not reach {stop}: {out.stdout[-2000:]}")
        return found
    finally:
        qemu.kill()
        qemu.wait(timeout=10)
        if qemu.stderr:
            qemu.stderr.close()


def ground_truth(
    elf: Path, machine: str, extra: list[str] | None = None, timeout: float = 60.0
) -> dict[str, int]:
    """``fault_truth``'s fields as ints, plus each ``extra`` expression's integer value, keyed by
    its text (e.g. ``"&task_stack[0]"``, ``"$s0"``)."""
    exprs = [f"fault_truth.{f}" for f in TRUTH_FIELDS] + list(extra or [])
    raw = run_to(elf, machine, "truth_recorded", exprs, timeout)
    out = {f: int(raw[f"fault_truth.{f}"], 16) for f in TRUTH_FIELDS}
    for e in extra or []:
        m = re.match(r"\s*(-?(?:0x[0-9a-fA-F]+|\d+))", raw[e])
        if m is None:
            raise AssertionError(f"{e} = {raw[e]!r} is not a number")
        out[e] = int(m.group(1), 0)
    return out
