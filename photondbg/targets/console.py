"""A line console over a socket: every byte goes to serial.log, lines are kept for waiting on."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Protocol


class ByteStream(Protocol):
    """What a Console reads: a connected socket, or anything with its four calls (a serial
    port behind :class:`photondbg.targets.photon.SerialStream`, a labgrid driver's port)."""

    def recv(self, bufsize: int, /) -> bytes: ...

    def sendall(self, data: bytes, /) -> None: ...

    def shutdown(self, how: int, /) -> None: ...

    def close(self) -> None: ...


class Console:
    def __init__(self, sock: ByteStream, log_path: Path | None = None, name: str = "console"):
        self.sock = sock
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "ab") if log_path else None
        self.lines: list[tuple[float, str]] = []  # (monotonic time, text)
        self._partial = b""
        self._cond = threading.Condition()
        self._listeners: list[Callable[[float, str], None]] = []
        self.closed = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-reader", daemon=True)
        self._thread.start()

    def on_line(self, fn: Callable[[float, str], None]) -> None:
        self._listeners.append(fn)

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _run(self) -> None:
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    break
                if self._log:
                    self._log.write(data)
                    self._log.flush()
                self._partial += data
                while b"\n" in self._partial:
                    raw, self._partial = self._partial.split(b"\n", 1)
                    text = raw.rstrip(b"\r").decode("utf-8", "replace")
                    now = time.monotonic()
                    with self._cond:
                        self.lines.append((now, text))
                        self._cond.notify_all()
                    for fn in list(self._listeners):
                        try:
                            fn(now, text)
                        except Exception:
                            pass
        except OSError:
            pass
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    def wait_for(
        self, pattern: str | re.Pattern, timeout: float, start: int = 0
    ) -> re.Match | None:
        """Wait for a line matching ``pattern`` among lines[start:]; None on time-out or close."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        end = time.monotonic() + timeout
        idx = start
        with self._cond:
            while True:
                while idx < len(self.lines):
                    m = rx.search(self.lines[idx][1])
                    idx += 1
                    if m:
                        return m
                remaining = end - time.monotonic()
                if remaining <= 0 or self.closed:
                    return None
                self._cond.wait(remaining)

    def mark(self) -> int:
        """Index to pass as ``start`` to only see lines after now."""
        with self._cond:
            return len(self.lines)

    def text(self) -> str:
        with self._cond:
            return "\n".join(t for _, t in self.lines)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self._thread.join(timeout=2)
        if self._log:
            self._log.close()
            self._log = None
