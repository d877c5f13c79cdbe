"""The simulated Photon as a board on the LAN, for the real-board campaign to talk to.

A real Photon offers three things to the bench: its HTTP server (on the LAN), its USB serial
console, and an access point whose uplink a relay can cut. ``photondbg sim boot`` offers the
same on 127.0.0.1: the bridge's host port, a :class:`ConsoleRelay` (the console as a TCP
stream, read with pyserial's ``socket://127.0.0.1:N``), and a :class:`ControlServer` that
plays the relay. Its line protocol, one request and one answer per line::

    cut down|uplink   ->  ok cut down        (AP power off / AP uplink cable pulled)
    restore           ->  ok restore
    reset             ->  ok reset           (the board restarts, like its RESET line)
    status            ->  ok up|down|uplink
    anything else     ->  error <why>

:func:`control_request` is the client (``photondbg sim netcut``).
"""

from __future__ import annotations

import socket
import threading
from typing import Callable

from photondbg.errors import ToolFailure, UsageError
from photondbg.ports import LOOPBACK, listen
from photondbg.sim.wifi import CUT_KINDS


class _Server:
    """A listening socket on 127.0.0.1 with an accept thread; ``close()`` ends everything."""

    name = "server"

    def __init__(self, port: int = 0):
        self.sock = listen(port)
        self.port = self.sock.getsockname()[1]
        self.clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(
            target=self._accept, name=f"{self.name}-accept", daemon=True
        )
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self.clients.append(conn)
            self.serve(conn)

    def serve(self, conn: socket.socket) -> None:
        pass

    def forget(self, conn: socket.socket) -> None:
        with self._lock:
            if conn in self.clients:
                self.clients.remove(conn)
        try:
            conn.close()
        except OSError:
            pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients, self.clients = self.clients, []
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self._thread.join(timeout=2)


class ConsoleRelay(_Server):
    """Every console line goes to every connected reader, as the USB serial would carry it.
    With ``usb=True`` a reset (the ``@boot`` line) also drops every reader, as the Photon's USB
    serial disappears when it resets; what the board prints until a reader is back is lost."""

    name = "console-relay"

    def __init__(self, port: int = 0, *, usb: bool = False):
        self.usb = usb
        super().__init__(port)

    def send_line(self, t: float, text: str) -> None:
        data = (text + "\r\n").encode("utf-8", "replace")
        with self._lock:
            clients = list(self.clients)
        if self.usb and text.startswith("@boot"):
            for c in clients:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self.forget(c)
            return
        for c in clients:
            try:
                c.sendall(data)
            except OSError:
                self.forget(c)


class ControlServer(_Server):
    """The relay on the AP: cuts and restores the bridge's WiFi on request."""

    name = "control"

    def __init__(self, bridge, port: int = 0, on_reset: Callable[[], None] | None = None):
        self.bridge = bridge
        self.on_reset = on_reset
        super().__init__(port)

    def serve(self, conn: socket.socket) -> None:
        threading.Thread(
            target=self._session, args=(conn,), name="control-session", daemon=True
        ).start()

    def _session(self, conn: socket.socket) -> None:
        buf = b""
        try:
            while True:
                data = conn.recv(1024)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    conn.sendall(
                        (self.answer(line.decode("utf-8", "replace").strip()) + "\n").encode()
                    )
        except OSError:
            pass
        finally:
            self.forget(conn)

    def answer(self, line: str) -> str:
        words = line.split()
        try:
            if words[:1] == ["cut"] and len(words) == 2 and words[1] in CUT_KINDS:
                self.bridge.cut(words[1])
                return f"ok cut {words[1]}"
            if words == ["restore"]:
                self.bridge.restore()
                return "ok restore"
            if words == ["reset"] and self.on_reset is not None:
                self.on_reset()
                return "ok reset"
            if words == ["status"]:
                return f"ok {self.bridge.state}"
        except Exception as e:  # the bridge is gone: say so, keep serving
            return f"error {type(e).__name__}: {e}"
        return f"error unknown request {line!r} (cut {'|'.join(CUT_KINDS)}, restore, reset, status)"


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--control {text!r} is not HOST:PORT (e.g. 127.0.0.1:5000)")
    host = host or LOOPBACK
    if host not in (LOOPBACK, "localhost"):
        raise UsageError(f"--control {text!r}: the simulated board only listens on {LOOPBACK}")
    return LOOPBACK, int(port)


def control_request(address: str, request: str, timeout: float = 5.0) -> str:
    """Send one request line to a ControlServer and return its answer (``ok ...``)."""
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(request.encode() + b"\n")
            buf = b""
            while b"\n" not in buf:
                data = s.recv(1024)
                if not data:
                    break
                buf += data
    except ConnectionRefusedError:
        raise ToolFailure(
            f"nothing listens on {host}:{port} "
            f"(is `photondbg sim boot --control-port {port}` running?)"
        ) from None
    except OSError as e:
        raise ToolFailure(f"control {host}:{port}: {e}") from None
    answer = buf.decode("utf-8", "replace").strip()
    if not answer.startswith("ok"):
        raise ToolFailure(f"control {host}:{port} refused {request!r}: {answer or 'no answer'}")
    return answer
