"""Helpers for the replay tests: run gdb-multiarch in batch mode against a GDB server."""

from __future__ import annotations

import subprocess
from pathlib import Path

from photondbg.paths import GDB_SCRIPTS

BATCH_TIMEOUT = 60.0  # a loaded 2-core machine; the benchmark measures speed, not this


def gdb_batch(elf: Path, port: int, commands: list[str], *, before: list[str] = ()) -> str:
    """stdout of ``gdb-multiarch -batch`` connected to 127.0.0.1:port, running ``commands``,
    each introduced by an echo marker so outputs can be compared command by command."""
    argv = [
        "gdb-multiarch",
        "-q",
        "-nx",
        "-batch",
        str(elf),
        "-ex",
        "set pagination off",
        "-ex",
        "set width 0",
        "-ex",
        "set confirm off",
        "-ex",
        f"target remote 127.0.0.1:{port}",
    ]
    for c in before:
        argv += ["-ex", c]
    for c in commands:
        argv += ["-ex", f"echo @@@ {c}\\n", "-ex", c]
    argv += ["-ex", "echo @@@ end\\n"]
    res = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        timeout=BATCH_TIMEOUT,
    )
    return res.stdout


def by_command(text: str) -> dict[str, str]:
    """{command: its output} from :func:`gdb_batch` output."""
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith("@@@ "):
            cur = line[4:]
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


FAULT_CMD = f"source {GDB_SCRIPTS / 'fault.py'}"
