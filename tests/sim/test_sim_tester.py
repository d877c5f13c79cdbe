"""The HTTP tester against real sockets that answer well, badly, or not at all."""

from __future__ import annotations

import socket
import threading

import pytest

from photondbg.sim.tester import ConsoleWatch, HttpTester, http_get


class OneShotServer:
    """Accepts on 127.0.0.1 and answers every connection with ``reply`` (None: stay silent)."""

    def __init__(self, reply: bytes | None, close_after: bool = True):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.close_after = close_after
        self.held = []
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.recv(1024)
            if self.reply is None:
                self.held.append(c)
                continue
            c.sendall(self.reply)
            if self.close_after:
                c.close()
            else:
                self.held.append(c)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the thread
        except OSError:
            pass
        self.sock.close()
        self._t.join(timeout=5)
        for c in self.held:
            c.close()


@pytest.mark.parametrize(
    "reply,kind",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "ok"),
        (b"HTTP/1.0 200 OK\r\n\r\nno length, closed", "ok"),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "non_200"),
        (b"\x00\xffgarbage\r\n\r\n", "bad_response"),
        (b"", "bad_response"),
    ],
)
def test_http_get_classifies_answers(reply, kind):
    srv = OneShotServer(reply)
    try:
        r = http_get(srv.port, timeout=3)
        assert r.kind == kind
    finally:
        srv.close()


def test_http_get_keepalive_answer_with_length_does_not_wait_for_close():
    srv = OneShotServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", close_after=False)
    try:
        assert http_get(srv.port, timeout=3).kind == "ok"
    finally:
        srv.close()


def test_http_get_timeout_and_refused():
    srv = OneShotServer(None)
    try:
        assert http_get(srv.port, timeout=0.3).kind == "timeout"
    finally:
        srv.close()
    assert http_get(srv.port, timeout=1).kind == "conn_error"  # closed: refused now


def test_tester_counts_with_parallel_clients():
    srv = OneShotServer(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
    port = {"p": None}
    t = HttpTester(lambda: port["p"], period=0.02, timeout=2, clients=3).start()
    try:
        port["p"] = srv.port
        deadline = threading.Event()
        for _ in range(200):
            if t.snapshot()["ok"] >= 9:
                break
            deadline.wait(0.02)
    finally:
        t.stop()
        srv.close()
    snap = t.snapshot()
    assert snap["ok"] >= 9 and snap["requests"] == sum(
        snap[k] for k in ("ok", "timeout", "conn_error", "non_200", "bad_response")
    )
    assert t.last_ok is not None


class FakeConsoleLines:
    """Just the on_line hook of targets.console.Console."""

    def __init__(self):
        self.fns = []

    def on_line(self, fn):
        self.fns.append(fn)

    def say(self, t, text):
        for fn in self.fns:
            fn(t, text)


def test_console_watch_counts_markers_gaps_and_reopens():
    w = ConsoleWatch(gap=5)
    c1 = FakeConsoleLines()
    w.attach(c1)
    c1.say(0.0, "@boot reason=0 data=0 app=multi-server variant=none")
    c1.say(1.0, "@net wifi=1 cloud=1")
    c1.say(9.0, "@panic code=1 name=HardFault pc=0xa0000000 lr=0x08001234 cfsr=0x1 hfsr=0x40000000")
    c1.say(9.5, "@sos code=1")
    c2 = FakeConsoleLines()
    w.attach(c2)
    c2.say(20.0, "@boot reason=130 data=1 app=multi-server variant=none")
    s = w.snapshot()
    assert (s["boot"], s["panic"], s["sos"], s["net"], s["reopens"]) == (2, 1, 1, 1, 1)
    assert s["gaps"] == 2 and s["lines"] == 5
    assert [e.kind for e in w.since(9.0, "panic", "boot")] == ["panic", "boot"]
