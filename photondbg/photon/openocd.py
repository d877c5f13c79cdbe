"""An OpenOCD session for a real Photon: one owned OpenOCD process and its parsed log.

OpenOCD 0.12 is started on free ports with the command line of
:func:`~photondbg.photon.openocd_argv.session_argv`. Its log is read line by line in a thread
and turned into :class:`~photondbg.photon.openocd_events.LogEvent` objects; ``start()`` returns
once GDB can connect, or raises with the failure OpenOCD printed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from photondbg import tools
from photondbg.errors import ToolFailure, ToolMissing, UsageError
from photondbg.photon import board
from photondbg.photon.openocd_argv import session_argv
from photondbg.photon.openocd_events import (
    LogEvent,
    failure_message,
    lockup_from_events,
    parse_line,
)
from photondbg.ports import LOOPBACK, free_port
from photondbg.procs import Child, ProcessOwner

HINT = tools.BY_NAME["openocd"].package
ENV_OPENOCD = "PHOTONDBG_OPENOCD"  # another openocd program (tests: tests/fakes/fake_openocd.py)


class NoProbe(UsageError):
    """OpenOCD found no debug probe (or the probe cannot reach the Photon)."""


def port_listening(port: int) -> bool:
    """Is something LISTENing on 127.0.0.1:port? Read from /proc/net/tcp, without connecting
    (a connection to OpenOCD's GDB port would attach a debugger and halt the core)."""
    want = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if len(parts) > 3 and parts[1] == want and parts[3] == "0A":
                    return True
    except OSError:
        return False
    return False


class OpenOcdSession:
    """One OpenOCD process owned by ``owner``; ``start()`` returns once GDB can connect."""

    ROLE = "openocd"

    def __init__(
        self,
        owner: ProcessOwner,
        interface: str = "cmsis-dap",
        *,
        target_cfg: str = board.TARGET_CFG,
        rtos: str | None = None,
        openocd_bin: str | list[str] | None = None,
        logdir: Path | None = None,
        vector_catch: bool = True,
        search: list[str] | tuple = (),
        extra_commands: list[str] | tuple = (),
        env: dict | None = None,
    ):
        # validate before touching anything
        session_argv(["openocd"], interface=interface, gdb_port=0, telnet_port=0, rtos=rtos)
        self.owner = owner
        self.interface = interface
        self.target_cfg = target_cfg
        self.rtos = rtos
        self.openocd_bin = openocd_bin
        self.logdir = Path(logdir) if logdir else owner.logdir
        self.vector_catch = vector_catch
        self.search = list(search)
        self.extra_commands = list(extra_commands)
        self.env = env
        self.gdb_port: int | None = None
        self.telnet_port: int | None = None
        self.child: Child | None = None
        self.events: list[LogEvent] = []
        self.lines: list[str] = []
        self.log_path: Path | None = None
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self._listeners: list[Callable[[LogEvent], object]] = []

    # -- lifecycle -------------------------------------------------------------------------
    def argv(self) -> list[str]:
        return session_argv(
            self._bin(),
            interface=self.interface,
            gdb_port=self.gdb_port or 0,
            telnet_port=self.telnet_port or 0,
            target_cfg=self.target_cfg,
            rtos=self.rtos,
            vector_catch=self.vector_catch,
            search=self.search,
            extra_commands=self.extra_commands,
        )

    def _bin(self) -> str | list[str]:
        if self.openocd_bin is not None:
            return self.openocd_bin
        if os.environ.get(ENV_OPENOCD):
            return os.environ[ENV_OPENOCD]
        path = tools.which("openocd")
        if path is None:
            raise ToolMissing("openocd", HINT)
        return path

    def start(self, timeout: float = 15.0, attempts: int = 3) -> "OpenOcdSession":
        """Start OpenOCD; a port taken between our choice and OpenOCD's bind is retried."""
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except ToolFailure:
                if attempt + 1 == attempts or not any(e.kind == "port_in_use" for e in self.events):
                    raise
                self.child, self.events, self.lines = None, [], []
        raise ValueError(f"attempts must be at least 1 (not {attempts})")

    def _start_once(self, timeout: float) -> "OpenOcdSession":
        if self.child is not None:
            raise RuntimeError("OpenOcdSession already started")
        self.gdb_port = free_port()
        self.telnet_port = free_port()
        argv = self.argv()
        if self.logdir:
            self.logdir.mkdir(parents=True, exist_ok=True)
            self.log_path = self.logdir / "openocd.log"
        self.child = self.owner.spawn(
            self.ROLE,
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            quit=self._quit,
            env=self.env,
        )
        self._reader = threading.Thread(target=self._read, name="openocd-log", daemon=True)
        self._reader.start()
        self._wait_ready(timeout)
        return self

    def _read(self) -> None:
        logf = open(self.log_path, "a", encoding="utf-8") if self.log_path else None
        try:
            for raw in iter(self.child.proc.stdout.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if logf:
                    logf.write(line + "\n")
                    logf.flush()
                event = parse_line(line, time.monotonic())
                with self._cond:
                    self.lines.append(line)
                    if event:
                        self.events.append(event)
                    self._cond.notify_all()
                if event:
                    for fn in list(self._listeners):
                        try:
                            fn(event)
                        except Exception:
                            pass
        except (OSError, ValueError):
            pass
        finally:
            if logf:
                logf.close()
            with self._cond:
                self._cond.notify_all()

    def _wait_ready(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while True:
            with self._cond:
                ready = any(
                    e.kind == "gdb_listening" and int(e.fields["port"]) == self.gdb_port
                    for e in self.events
                )
            if ready and self.gdb_port is not None and port_listening(self.gdb_port):
                return
            if not self.child.alive():
                self._reader.join(timeout=2)
                rc = self.child.proc.returncode
                msg = failure_message(self.events, self.interface, rc)
                self.stop()
                if any(e.kind in ("no_probe", "no_target", "adapter_error") for e in self.events):
                    raise NoProbe(msg)
                if any(e.kind == "config_error" for e in self.events):
                    raise UsageError(msg)
                raise ToolFailure(msg)
            if time.monotonic() >= end:
                self.stop()
                raise ToolFailure(
                    f"OpenOCD's GDB server did not listen on {LOOPBACK}:"
                    f"{self.gdb_port} within {timeout:g} s"
                )
            with self._cond:
                self._cond.wait(timeout=0.05)

    def _quit(self, child: Child) -> None:
        """Polite stop: ``shutdown`` on the telnet port (OpenOCD then closes its servers)."""
        if self.telnet_port is None:
            return
        with socket.create_connection((LOOPBACK, self.telnet_port), timeout=1.0) as s:
            s.sendall(b"shutdown\n")
            s.settimeout(1.0)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass

    def stop(self) -> int | None:
        rc = None
        if self.child is not None:
            rc = self.child.stop()
        if self._reader is not None:
            self._reader.join(timeout=2)
        return rc

    # -- evidence --------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.child is not None and self.child.alive()

    def on_event(self, fn: Callable[[LogEvent], object]) -> None:
        self._listeners.append(fn)

    def wait_for(self, kind: str, timeout: float, start: int = 0) -> LogEvent | None:
        """The first event of ``kind`` at index >= ``start``, waiting up to ``timeout``."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[start:]:
                    if e.kind == kind:
                        return e
                left = end - time.monotonic()
                if left <= 0 or (
                    self.child is not None
                    and not self.child.alive()
                    and not (self._reader and self._reader.is_alive())
                ):
                    return None
                self._cond.wait(timeout=min(left, 0.1))

    def lockup_events(self) -> tuple[LogEvent | None, dict[str, int]]:
        """The first lock-up line and the core state OpenOCD printed after it (pc, xpsr, sp)."""
        with self._cond:
            events = list(self.events)
        return lockup_from_events(events)

    def command(self, text: str, timeout: float = 5.0) -> str:
        """Run one OpenOCD command over telnet and return its output (without the echo)."""
        if self.telnet_port is None or not self.running:
            raise ToolFailure("OpenOCD is not running")
        with socket.create_connection((LOOPBACK, self.telnet_port), timeout=timeout) as s:
            _read_until_prompt(s, timeout)
            s.sendall(text.encode() + b"\n")
            out = _read_until_prompt(s, timeout)
        lines = [ln for ln in out.splitlines() if ln.strip() and ln.strip() != text.strip()]
        return "\n".join(lines)


def _read_until_prompt(s: socket.socket, timeout: float) -> str:
    end = time.monotonic() + timeout
    buf = b""
    while not buf.rstrip().endswith(b">") or not buf.endswith(b" "):
        left = end - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data = s.recv(4096)
        except socket.timeout:
            break
        if not data:
            break
        buf += data
    # drop telnet negotiation (IAC ...) and the prompt
    buf = re.sub(rb"\xff[\xfb-\xfe].", b"", buf)
    text = buf.decode("utf-8", "replace").replace("\r", "")
    return text.rsplit(">", 1)[0] if text.rstrip().endswith(">") else text
