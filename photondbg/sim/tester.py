"""The seed tester of DESIGN §1, against the simulated board.

:class:`HttpTester` does ``GET /`` on 127.0.0.1 every ``period`` seconds (optionally from
several clients at once) and counts successes, time-outs, connection errors, non-200 answers
and garbage. :class:`ConsoleWatch` follows the console like the original serial thread: boots,
panics, SOS rounds, silent gaps, and re-opens (a new console after a simulator restart).
Both are threads that only read shared counters, so a halted target never blocks them.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from photondbg.ports import LOOPBACK

HTTP_RESULTS = ("ok", "timeout", "conn_error", "non_200", "bad_response")
STATUS_RE = re.compile(rb"^HTTP/1\.[01] (\d{3})")
# what the seed tester (python-requests) put on the wire
REQUEST = (
    "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: python-requests/2.28.1\r\n"
    "Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"
)


@dataclass
class Result:
    kind: str  # one of HTTP_RESULTS
    started: float  # monotonic
    elapsed: float
    status: int | None = None


def http_get(port: int, path: str = "/", timeout: float = 5.0, host: str = LOOPBACK) -> Result:
    """One ``GET`` over a raw socket, tolerant of anything the server sends back."""
    t0 = time.monotonic()
    end = t0 + timeout

    def done(kind, status=None):
        return Result(kind, t0, time.monotonic() - t0, status)

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.timeout:
        return done("timeout")
    except OSError:
        return done("conn_error")
    data = b""
    try:
        with sock:
            sock.sendall(REQUEST.format(path=path, host=host, port=port).encode())
            length = None
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return done("timeout")
                sock.settimeout(left)
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
                head, sep, body = data.partition(b"\r\n\r\n")
                if sep and length is None:
                    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                    length = int(m.group(1)) if m else -1
                if sep and length is not None and length >= 0 and len(body) >= length:
                    break
    except socket.timeout:
        return done("timeout")
    except OSError:
        # a reset after a complete answer still counts as an answer
        if not STATUS_RE.match(data):
            return done("conn_error")
    m = STATUS_RE.match(data)
    if not m:
        return done("bad_response")
    status = int(m.group(1))
    return done("ok" if status == 200 else "non_200", status)


class HttpTester:
    """``GET /`` every ``period`` s on ``host`` at the port ``port()`` returns (None: not
    known yet)."""

    def __init__(
        self,
        port: int | Callable[[], int | None],
        *,
        period: float = 1.0,
        timeout: float = 5.0,
        clients: int = 1,
        path: str = "/",
        host: str = LOOPBACK,
    ):
        self._port = port if callable(port) else (lambda: port)
        self.host = host  # a real board is on the LAN; the sim is always on 127.0.0.1
        self.period = period
        self.timeout = timeout
        self.clients = max(1, clients)
        self.path = path
        self.counts: Counter = Counter({k: 0 for k in HTTP_RESULTS})
        self.last_ok: float | None = None  # monotonic end time of the newest success
        self.last_result: Result | None = None
        self.results: list[Result] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> "HttpTester":
        for i in range(self.clients):
            t = threading.Thread(target=self._run, args=(i,), name=f"http-tester-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=timeout if timeout is not None else self.timeout + 1)
        self._threads = []

    def snapshot(self) -> dict:
        with self._lock:
            out = dict(self.counts)
        out["requests"] = sum(out[k] for k in HTTP_RESULTS)
        return out

    def ok_since(self, t: float) -> bool:
        last = self.last_ok
        return last is not None and last >= t

    def _run(self, index: int) -> None:
        # stagger the clients over one period
        if self._stop.wait(self.period * index / self.clients):
            return
        while not self._stop.is_set():
            started = time.monotonic()
            port = self._port()
            if port is not None:
                r = http_get(port, self.path, self.timeout, host=self.host)
                with self._lock:
                    self.counts[r.kind] += 1
                    self.results.append(r)
                    self.last_result = r
                    if r.kind == "ok":
                        self.last_ok = r.started + r.elapsed
            self._stop.wait(max(0.0, self.period - (time.monotonic() - started)))


@dataclass
class ConsoleEvent:
    t: float
    kind: str
    text: str


MARKERS = {  # console line -> counter, after docs/link-protocol.md
    "boot": re.compile(r"^@boot\b"),
    "panic": re.compile(r"^@panic\b"),
    "sos": re.compile(r"^@sos\b"),
    "net": re.compile(r"^@net\b"),
    "close_all": re.compile(r"^@close_all\b"),
    "listen": re.compile(r"^@listen\b"),
    "record": re.compile(r"^@record\b"),
}


class ConsoleWatch:
    """Counts console markers and silences over every console it is attached to."""

    def __init__(self, gap: float = 5.0):
        self.gap = gap
        self.counts: Counter = Counter({k: 0 for k in (*MARKERS, "lines", "gaps", "reopens")})
        self.events: list[ConsoleEvent] = []
        self.last_line: float | None = None
        self._attached = 0
        self._lock = threading.Lock()

    def attach(self, console) -> None:
        """Follow ``console`` (a targets.console.Console). A second attach is a re-open."""
        with self._lock:
            if self._attached:
                self.counts["reopens"] += 1
            self._attached += 1
        console.on_line(self._on_line)

    def _on_line(self, t: float, text: str) -> None:
        with self._lock:
            self.counts["lines"] += 1
            if self.last_line is not None and t - self.last_line > self.gap:
                self.counts["gaps"] += 1
            self.last_line = t
            for kind, rx in MARKERS.items():
                if rx.search(text):
                    self.counts[kind] += 1
                    self.events.append(ConsoleEvent(t, kind, text))
                    break

    def since(self, t: float, *kinds: str) -> list[ConsoleEvent]:
        with self._lock:
            return [e for e in self.events if e.t >= t and (not kinds or e.kind in kinds)]

    def snapshot(self) -> dict:
        with self._lock:
            return dict(self.counts)
