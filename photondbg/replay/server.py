"""The GDB remote-protocol server of ``photondbg replay``: a halted Cortex-M that is exactly the
capture. Reads are served from :class:`~photondbg.replay.image.CaptureImage`; every request to
change the target (register or memory writes, breakpoints, resume, step) is refused with an error
reply, so GDB says so instead of pretending the capture ran.

Listens on 127.0.0.1 only (:func:`photondbg.ports.listen`). One client at a time.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable

from photondbg.ports import listen
from photondbg.replay import registers
from photondbg.replay.image import CaptureImage, Thread
from photondbg.replay.packets import MAX_PACKET, ConnectionClosed, PacketIO, escape_binary

THREAD = 1
E_SYNTAX = b"E01"  # malformed packet
E_FAULT = b"E0e"  # memory not captured (EFAULT)
E_READONLY = b"E.replay: a capture is read-only: it cannot be changed, run or stepped"
CHANGES = (b"G", b"P", b"M", b"X", b"c", b"C", b"s", b"S", b"i", b"I", b"R", b"W")
CHANGES_V = (b"vCont;", b"vRun", b"vFlash", b"vFile", b"QPassSignals")
MEM_RE = re.compile(rb"^([0-9a-fA-F]{1,8}),([0-9a-fA-F]{1,8})$")
XFER_RE = re.compile(rb"^qXfer:([a-z-]+):read:([^:]*):([0-9a-fA-F]+),([0-9a-fA-F]+)$")


def memory_map_xml(image: CaptureImage) -> str:
    rows = []
    for address, length, source in image.memory.regions():
        kind = "rom" if source == "elf" else "ram"
        rows.append(f'  <memory type="{kind}" start="0x{address:x}" length="0x{length:x}"/>')
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE memory-map PUBLIC "+//IDN gnu.org//DTD GDB Memory '
        'Map V1.0//EN" "http://sourceware.org/gdb/gdb-memory-map.dtd">\n<memory-map>\n'
        + "\n".join(rows)
        + "\n</memory-map>\n"
    )


class Session:
    """The protocol for one connected client. ``handle(payload) -> reply`` (None: no reply)."""

    def __init__(self, image: CaptureImage):
        self.image = image
        self.io: PacketIO | None = None
        self.done = False  # the client detached or killed
        self.killed = False  # ... with `k`: the server stops
        # no thread listed: one anonymous thread (None), the capture's own registers
        self.threads: dict[int, Thread | None] = {t.id: t for t in image.threads} or {THREAD: None}
        self.selected = THREAD  # Hg: whose registers g and p read
        self.regs = registers.register_file(image.registers)
        self.xfer = {
            ("features", "target.xml"): registers.target_xml(self.regs).encode(),
            ("memory-map", ""): memory_map_xml(image).encode(),
        }

    def stop_reply(self) -> bytes:
        regs = self.image.registers
        parts = [f"T{self.image.signal:02x}"]
        for name in ("sp", "pc"):  # expedited: GDB needs no round trip for the first frame
            n = registers.BY_NAME[name]
            parts.append(f"{n:x}:{registers.encode(regs.get(name))};")
        parts.append(f"thread:{THREAD:x};")
        return "".join(parts).encode()

    def handle(self, p: bytes) -> bytes | None:
        if not p:
            return b""
        c = p[:1]
        if p.startswith(b"qSupported"):
            return (
                f"PacketSize={MAX_PACKET:x};qXfer:features:read+;qXfer:memory-map:read+;"
                "QStartNoAckMode+;vContSupported+"
            ).encode()
        if p in (b"QStartNoAckMode", b"!"):
            return b"OK"
        if c == b"?":
            return self.stop_reply()
        if c == b"g":
            return registers.encode_all(self.values(), self.regs).encode()
        if c == b"p":
            try:
                n = int(p[1:], 16)
            except ValueError:
                return E_SYNTAX
            if not 0 <= n < len(self.regs):
                return E_SYNTAX
            r = self.regs[n]
            return registers.encode(self.values().get(r.name), r.bits).encode()
        if c == b"m":
            return self.read_memory(p[1:])
        if c in CHANGES or p.startswith(CHANGES_V):
            return E_READONLY
        if c in (b"Z", b"z"):
            return b""  # breakpoints unsupported; a memory breakpoint then fails on M: refused
        if p == b"vCont?":
            return b"vCont;c;C;s;S"
        if p.startswith(b"qXfer:"):
            return self.xfer_read(p)
        if c == b"H":
            tid = self.thread_id(p[2:])
            if tid is None:
                return b"E01"
            if p[1:2] == b"g":
                self.selected = THREAD if tid in (0, -1) else tid
            return b"OK"
        if c == b"T":
            return b"OK" if self.thread_id(p[1:]) not in (None, 0, -1) else b"E01"
        if p == b"qC":
            return f"QC{THREAD:x}".encode()
        if p == b"qfThreadInfo":
            return ("m" + ",".join(f"{t:x}" for t in self.threads)).encode()
        if p == b"qsThreadInfo":
            return b"l"
        if p.startswith(b"qAttached"):
            return b"1"
        if p.startswith(b"qSymbol"):
            return b"OK"
        if p.startswith(b"qThreadExtraInfo,"):
            tid = self.thread_id(p[len(b"qThreadExtraInfo,") :])
            if tid is None or tid not in self.threads:
                return b"E01"
            t = self.threads[tid]
            return (t.name if t else f"capture at the {self.image.state}").encode().hex().encode()
        if p.startswith(b"qRcmd,"):
            return self.monitor(p[6:])
        if c == b"D":
            self.done = True
            return b"OK"
        if c == b"k" or p.startswith(b"vKill"):
            self.done = self.killed = True
            return None if c == b"k" else b"OK"
        return b""  # unknown: the empty reply tells GDB it is not supported

    def values(self) -> dict[str, int | None]:
        t = self.threads.get(self.selected)
        return t.registers if t is not None else self.image.registers

    def thread_id(self, text: bytes) -> int | None:
        """A thread id of this capture (0: any, -1: all), None if malformed or unknown."""
        try:
            tid = int(text, 16) if text != b"-1" else -1
        except ValueError:
            return None
        return tid if tid in (0, -1) or tid in self.threads else None

    def read_memory(self, args: bytes) -> bytes:
        m = MEM_RE.match(args)
        if not m:
            return E_SYNTAX
        address, length = int(m.group(1), 16), int(m.group(2), 16)
        length = min(length, (MAX_PACKET - 4) // 2)
        if length == 0:
            return b""
        data = self.image.memory.read(address, length)
        return data.hex().encode() if data else E_FAULT

    def xfer_read(self, p: bytes) -> bytes:
        m = XFER_RE.match(p)
        if not m:
            return (
                b""
                if not p.startswith(b"qXfer:features") and not p.startswith(b"qXfer:memory-map")
                else E_SYNTAX
            )
        obj, annex = m.group(1).decode(), m.group(2).decode(errors="replace")
        data = self.xfer.get((obj, annex))
        if data is None:
            return b"E00" if (obj, "target.xml") in self.xfer or obj == "memory-map" else b""
        off, length = int(m.group(3), 16), int(m.group(4), 16)
        chunk = data[off : off + max(0, min(length, MAX_PACKET // 2))]
        more = off + len(chunk) < len(data)
        return (b"m" if more else b"l") + escape_binary(chunk)

    def monitor(self, hexcmd: bytes) -> bytes:
        try:
            cmd = bytes.fromhex(hexcmd.decode()).decode().strip()
        except ValueError:
            return E_SYNTAX
        r = self.image.report
        if cmd in ("", "help", "info"):
            lines = [
                f"photondbg replay of {self.image.capdir}",
                (
                    f"outcome {r.get('outcome')}, registers at the {self.image.state}, "
                    f"firmware {self.image.elf}"
                ),
                "memory served (anything else is not captured):",
            ]
            lines += [
                f"  0x{a:08x}-0x{a + n - 1:08x} {src}" for a, n, src in self.image.memory.regions()
            ]
            return ("\n".join(lines) + "\n").encode().hex().encode()
        return f"unknown monitor command {cmd!r} (try: monitor info)\n".encode().hex().encode()


class ReplayServer:
    """Serves one :class:`CaptureImage` on 127.0.0.1:``port`` (0: the OS picks)."""

    def __init__(
        self, image: CaptureImage, port: int = 0, log: Callable[[str], None] | None = None
    ):
        self.image = image
        self.sock = listen(port, backlog=1)
        self.port = self.sock.getsockname()[1]
        self.log = log or (lambda msg: None)
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self.sessions = 0
        self._conn: socket.socket | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def serve(self, once: bool = False) -> None:
        """Accept clients one after the other until ``k``, :meth:`close`, or (``once``) the
        first client leaves."""
        while not self._closed.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                if self._closed.is_set():
                    return
                raise
            self.sessions += 1
            killed = self._serve_client(conn, peer)
            if killed or once:
                self.close()
                return

    def _serve_client(self, conn: socket.socket, peer) -> bool:
        self.log(f"client {peer[0]}:{peer[1]} connected")
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        session = Session(self.image)
        io = session.io = PacketIO(conn)
        try:
            while not session.done and not self._closed.is_set():
                pkt = io.read()
                try:
                    reply = session.handle(pkt.payload)
                except Exception as e:  # noqa: BLE001 - one bad packet must not end the server
                    self.log(f"error on packet {pkt.payload[:40]!r}: {type(e).__name__}: {e}")
                    reply = b"E.replay: internal error on this packet"
                if reply is not None:
                    io.write(reply)
                if pkt.payload == b"QStartNoAckMode":
                    io.ack = False
            if session.killed:  # stop listening before the client sees its connection close
                self._closed.set()
                self._close_listener()
        except (ConnectionClosed, ConnectionError, OSError):
            pass
        finally:
            self._conn = None
            try:
                conn.close()
            except OSError:
                pass
        self.log(f"client {peer[0]}:{peer[1]} {'killed the session' if session.killed else 'left'}")
        return session.killed

    def _close_listener(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def start(self, once: bool = False) -> ReplayServer:
        """Serve in a background thread (tests, benchmarks)."""
        self._thread = threading.Thread(
            target=self.serve, kwargs={"once": once}, name="photondbg-replay", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed.set()
        conn = self._conn
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._close_listener()
        t, self._thread = self._thread, None
        if t is not None and t is not threading.current_thread():
            t.join(5.0)

    def __enter__(self) -> ReplayServer:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()
