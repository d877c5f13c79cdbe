"""Run a short-lived external program through ``sh`` with a time-out and capture its output.

Long-lived programs (OpenOCD, QEMU, GDB) go through a :class:`~photondbg.procs.ProcessOwner`;
the short ones here (particle, dfu-util, openocd one-shots, make, git) run in their own process
group and are killed as a group on time-out or Ctrl-C, so nothing outlives the call.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import sh

from photondbg.errors import TargetTimeout, ToolMissing
from photondbg.procs import unwatch_group, watch_group


@dataclass
class Result:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout then stderr, for programs that mix them."""
        return (
            self.stdout
            + ("\n" if self.stdout and not self.stdout.endswith("\n") else "")
            + self.stderr
        )

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def last_line(self) -> str:
        lines = [ln.strip() for ln in self.output.splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit status {self.exit_code}"


def run(
    argv: list[str],
    *,
    timeout: float,
    env: dict | None = None,
    cwd: str | os.PathLike | None = None,
    hint: str = "",
) -> Result:
    """Run ``argv`` to completion; any exit status is returned, never raised.

    A program that is not installed → ToolMissing (exit 2); one that outlives ``timeout`` →
    its whole process group is killed and TargetTimeout is raised.
    """
    try:
        cmd = sh.Command(argv[0])
    except sh.CommandNotFound:
        raise ToolMissing(Path(argv[0]).name, hint) from None
    proc = cmd(
        *argv[1:],
        _bg=True,
        _bg_exc=False,
        _ok_code=list(range(256)),
        _env=env,
        _cwd=str(cwd) if cwd else None,
        _new_session=True,
        _tty_out=False,
        _in="",
        _decode_errors="replace",
    )
    watch_group(proc.pid)  # the keeper stops the group if photondbg is killed meanwhile
    # our own timer, not sh's `_timeout` (whose polling adds 0.1 s to every call): at the
    # time-out the program's whole process group is killed (node's children, make's compilers)
    fired = threading.Event()

    def expire():
        fired.set()
        _kill_group(proc.pid)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        proc.wait()  # also joins sh's output readers: all output is captured
        code = proc.exit_code
    except sh.ErrorReturnCode as e:  # killed by a signal
        code = e.exit_code
    except BaseException:
        _kill_group(proc.pid)
        raise
    finally:
        timer.cancel()
        unwatch_group(proc.pid)
    if fired.is_set():
        raise TargetTimeout(f"{Path(argv[0]).name} did not finish within {timeout:g} s")
    return Result(list(argv), code, _text(proc.stdout), _text(proc.stderr))


def _text(data) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
