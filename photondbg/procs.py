"""One owner for every child process photondbg starts (QEMU, OpenOCD, GDB, helpers).

Each child has a role name and its own log file. ``close()`` stops children newest first
(GDB -> bridge -> QEMU/OpenOCD): polite signal, wait, kill. Calling it twice is harmless.

However photondbg ends, its children end with it:
- normal exit, an error: ``close()`` from the ``with`` block, and ``atexit`` for every live owner;
- SIGINT (Ctrl-C), SIGTERM, SIGHUP (a closed terminal, a dropped SSH session): the handler
  installed here raises :class:`Interrupted` (a ``KeyboardInterrupt`` that names the signal),
  the stack unwinds through the owners' ``close()`` and the CLI says where the partial output is.
  A second signal within the clean-up window is ignored, so clean-up is not cut short;
- SIGKILL (nothing runs in photondbg): each child started from the main thread gets the
  parent-death signal SIGKILL (``prctl(PR_SET_PDEATHSIG)``), and every child's process group is
  registered with the keeper (:mod:`photondbg.keeper`), a watchdog that notices photondbg is
  gone when its pipe closes and stops the groups (grandchildren and children started from
  other threads included).
Children run in their own session, so the terminal's Ctrl-C reaches photondbg only.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

logger = logging.getLogger(__name__)
_LIVE: "weakref.WeakSet[ProcessOwner]" = weakref.WeakSet()
_LOCK = threading.Lock()
_HANDLERS_INSTALLED = False
_ATEXIT_REGISTERED = False
CLEANUP_WINDOW = 15.0  # s after a first signal during which further signals are ignored
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
SIGNAL_NAMES: dict[int, str] = {
    int(signal.SIGINT): "SIGINT",
    int(signal.SIGTERM): "SIGTERM",
    int(signal.SIGHUP): "SIGHUP",
}


class Interrupted(KeyboardInterrupt):
    """photondbg was asked to stop by a signal. ``partial`` may name the partial output."""

    def __init__(self, signum: int = signal.SIGINT):
        self.signum = signum
        self.partial: Path | str | None = None
        super().__init__(self.reason)

    @property
    def signame(self) -> str:
        return SIGNAL_NAMES.get(self.signum, f"signal {self.signum}")

    @property
    def reason(self) -> str:
        return (
            "interrupted (Ctrl-C)"
            if self.signum == signal.SIGINT
            else f"interrupted by {self.signame}"
        )

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def interruption(e: BaseException) -> Interrupted:
    """Any KeyboardInterrupt as an :class:`Interrupted` (a plain one is a Ctrl-C)."""
    return e if isinstance(e, Interrupted) else Interrupted(signal.SIGINT)


# -- the parent-death signal and the keeper -------------------------------------------------
_prctl: Any = None
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def prctl(option: int, arg: int) -> bool:
    """``prctl(option, arg)``; False where it is not available or fails."""
    if _prctl is None:
        return False
    return (
        _prctl(
            ctypes.c_int(option),
            ctypes.c_ulong(arg),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
        == 0
    )


def _pdeathsig_preexec(parent: int) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec: no locks, no imports
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl: die now
            os._exit(1)

    return preexec


class _Keeper:
    """The watchdog process (see :mod:`photondbg.keeper`) and the pipe that keeps it waiting."""

    def __init__(self) -> None:
        r, w = os.pipe()  # non-inheritable (PEP 446): only the keeper gets the read end
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "photondbg.keeper"],
                stdin=r,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            )
        finally:
            os.close(r)
        self._w = w
        self._pid = os.getpid()

    def send(self, line: str) -> None:
        if os.getpid() != self._pid:  # a forked copy of photondbg: not our keeper
            return
        try:
            os.write(self._w, line.encode())
        except OSError:
            pass


_KEEPER: _Keeper | None = None


def keeper() -> _Keeper | None:
    global _KEEPER
    with _LOCK:
        if _KEEPER is None or _KEEPER.proc.poll() is not None or _KEEPER._pid != os.getpid():
            try:
                _KEEPER = _Keeper()
            except OSError:
                _KEEPER = None
        return _KEEPER


def watch_group(pgid: int) -> None:
    """The keeper stops process group ``pgid`` if photondbg dies before ``unwatch_group``."""
    k = keeper()
    if k is not None:
        k.send(f"+{pgid}\n")


def unwatch_group(pgid: int) -> None:
    if _KEEPER is not None:
        _KEEPER.send(f"-{pgid}\n")


def popen(argv: list[str], **kwargs) -> subprocess.Popen:
    """``subprocess.Popen`` in a new session, with the parent-death signal (main thread) and
    watched by the keeper. Stop it with :func:`kill_group` (or a :class:`ProcessOwner`)."""
    kwargs["start_new_session"] = True
    if threading.current_thread() is threading.main_thread() and _prctl is not None:
        kwargs.setdefault("preexec_fn", _pdeathsig_preexec(os.getpid()))
    proc = subprocess.Popen(argv, **kwargs)
    watch_group(proc.pid)
    return proc


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run(argv: list[str], *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` for short programs (make): own process group, killed as a group on
    time-out, error or signal, so no compiler outlives photondbg. Raises TimeoutExpired."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    proc = popen(argv, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        kill_group(proc)
        proc.communicate()
        raise
    finally:
        unwatch_group(proc.pid)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@dataclass
class Child:
    role: str
    argv: list[str]
    proc: subprocess.Popen
    log_path: Path | None = None
    quit: Callable[["Child"], None] | None = None  # polite stop before signals
    _log: Any = field(default=None, repr=False)

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
        kill_group(self.proc)  # what the child started in its session goes with it
        unwatch_group(self.proc.pid)
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
            stderr = (
                subprocess.STDOUT
                if stderr is None and logf is not None
                else (subprocess.DEVNULL if stderr is None else stderr)
            )
        proc = popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=cwd)
        child = Child(role, list(argv), proc, log_path, quit, logf)
        self._children.append(child)
        logger.debug("started %s (pid %d): %s", role, proc.pid, " ".join(map(str, argv)))
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
        assert self.logdir is not None
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


_FIRST_SIGNAL_AT: float | None = None


def _on_signal(signum, frame):
    """SIGINT/SIGTERM/SIGHUP: unwind (owners close on the way out) and say which signal."""
    global _FIRST_SIGNAL_AT
    now = time.monotonic()
    if _FIRST_SIGNAL_AT is not None and now - _FIRST_SIGNAL_AT < CLEANUP_WINDOW:
        return  # clean-up of the first one is under way: let it finish
    _FIRST_SIGNAL_AT = now
    raise Interrupted(signum)


def install_signal_handlers() -> None:
    """Handle SIGINT, SIGTERM and SIGHUP as :class:`Interrupted` (main thread only; a handler
    someone else installed is left alone)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) in (signal.SIG_DFL, None, signal.default_int_handler):
                signal.signal(sig, _on_signal)
        except (ValueError, OSError):
            pass


def _install_handlers() -> None:
    global _HANDLERS_INSTALLED, _ATEXIT_REGISTERED
    if not _ATEXIT_REGISTERED:
        _ATEXIT_REGISTERED = True
        atexit.register(close_all)
    if not _HANDLERS_INSTALLED and threading.current_thread() is threading.main_thread():
        _HANDLERS_INSTALLED = True
        install_signal_handlers()
