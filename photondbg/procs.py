"""One owner for every child process photondbg starts (QEMU, OpenOCD, GDB, helpers).

Each child has a role name and its own log file. ``close()`` stops children newest first
(GDB -> bridge -> QEMU/OpenOCD): polite signal, wait, kill. Calling it twice is harmless.
Every live owner is also closed from ``atexit`` and from SIGINT/SIGTERM, so Ctrl-C never
leaves an orphan behind.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

_LIVE: "weakref.WeakSet[ProcessOwner]" = weakref.WeakSet()
_LOCK = threading.Lock()
_HANDLERS_INSTALLED = False


@dataclass
class Child:
    role: str
    argv: list[str]
    proc: subprocess.Popen
    log_path: Path | None = None
    quit: Callable[["Child"], None] | None = None  # polite stop before signals
    _log: object = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 2.0) -> int | None:
        """Quit politely, then SIGTERM, then SIGKILL. Returns the exit status."""
        if self.alive() and self.quit is not None:
            try:
                self.quit(self)
                self.proc.wait(timeout=grace)
            except Exception:
                pass
        if self.alive():
            try:
                self.proc.terminate()
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if pipe:
                    pipe.close()
            except Exception:
                pass
        if self._log is not None:
            try:
                self._log.close()
            except Exception:
                pass
            self._log = None
        return self.proc.returncode


class ProcessOwner:
    """Starts and always stops child processes. Use as a context manager."""

    def __init__(self, logdir: Path | str | None = None):
        self.logdir = Path(logdir) if logdir else None
        self._children: list[Child] = []
        self._cleanups: list[Callable[[], None]] = []
        self._closed = False
        with _LOCK:
            _LIVE.add(self)
        _install_handlers()

    def __enter__(self) -> "ProcessOwner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def spawn(
        self,
        role: str,
        argv: list[str],
        *,
        log: bool = True,
        stdin=subprocess.DEVNULL,
        stdout=None,
        stderr=None,
        quit: Callable[[Child], None] | None = None,
        env: dict | None = None,
        cwd: str | os.PathLike | None = None,
    ) -> Child:
        """Start ``argv`` as child ``role``. Without explicit stdout/stderr, both go to
        ``<logdir>/<role>.log`` (or are discarded when there is no logdir)."""
        if self._closed:
            raise RuntimeError("ProcessOwner is closed")
        log_path = None
        logf = None
        if stdout is None or stderr is None:
            if log and self.logdir is not None:
                self.logdir.mkdir(parents=True, exist_ok=True)
                log_path = self._unique_log(role)
                logf = open(log_path, "wb")
            sink = logf if logf is not None else subprocess.DEVNULL
            stdout = sink if stdout is None else stdout
            stderr = subprocess.STDOUT if stderr is None and logf is not None else (
                subprocess.DEVNULL if stderr is None else stderr)
        proc = subprocess.Popen(
            argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=cwd,
            start_new_session=True,  # our Ctrl-C handler stops it, not the terminal
        )
        child = Child(role, list(argv), proc, log_path, quit, logf)
        self._children.append(child)
        return child

    def add_cleanup(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` at close, in reverse order with the children (sockets, threads)."""
        self._cleanups.append(fn)

    def children(self) -> list[Child]:
        return list(self._children)

    def close(self) -> None:
        """Stop everything newest first. Safe to call more than once."""
        while self._cleanups or self._children:
            if self._cleanups:
                fn = self._cleanups.pop()
                try:
                    fn()
                except Exception:
                    pass
            elif self._children:
                child = self._children.pop()
                try:
                    child.stop()
                except Exception:
                    pass
        self._closed = True

    def _unique_log(self, role: str) -> Path:
        path = self.logdir / f"{role}.log"
        n = 1
        while path.exists():
            n += 1
            path = self.logdir / f"{role}-{n}.log"
        return path


def close_all() -> None:
    with _LOCK:
        owners = list(_LIVE)
    for owner in owners:
        owner.close()


def _on_signal(signum, frame):
    close_all()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _install_handlers() -> None:
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    _HANDLERS_INSTALLED = True
    atexit.register(close_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM,):
            try:
                if signal.getsignal(sig) in (signal.SIG_DFL, None):
                    signal.signal(sig, _on_signal)
            except (ValueError, OSError):
                pass
