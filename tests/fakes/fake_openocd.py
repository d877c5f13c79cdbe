#!/usr/bin/env python3
"""A stand-in for ``openocd`` where no probe or Photon exists: same argv, same log, real GDB.

It accepts OpenOCD's command line (``-f``/``-c``/``-s``/``-d`` pairs; it honours ``bindto``,
``gdb_port`` and ``telnet_port``), prints a scenario's log lines as OpenOCD would, and serves:

* the GDB port as a TCP relay to a real QEMU gdbstub (``FAKE_OPENOCD_UPSTREAM=host:port``), so
  the debugger session on the other side is the real one. ``monitor`` commands (``qRcmd``) are
  answered the way OpenOCD answers them: ``reset halt``/``reset init`` become QEMU's
  ``system_reset`` on the upstream stub, ``cortex_m vector_catch ...`` prints OpenOCD's table
  and arms the fake's vector catch (QEMU has no DEMCR: while the core runs, the fake polls its
  xPSR and halts it, as a SIGTRAP stop for GDB, when it sits in a caught fault handler);
* the telnet port: ``shutdown`` (logs ``shutdown command invoked`` and exits 0), ``reg``
  (OpenOCD's ``(n) name (/32): 0x...`` lines once the core is halted by a lock-up, else
  ``Error: Target not halted``), ``halt``/``resume`` (logged), anything else is refused as
  OpenOCD does (``invalid command name``).

Scenario (``FAKE_OPENOCD_SCENARIO``, default: the recorded no-probe log for the chosen
interface in tests/data/openocd/): log lines, ``#`` comments and directives ``@serve``,
``@wait-upstream`` (until QEMU's stub closes: QEMU exits on a lock-up), ``@halt`` (OpenOCD 0.12
after a lock-up: the core is halted and GDB gets a plain stop, SIGINT, once the lines before it
are printed; GDB's session then goes on against the halted core, answered here from QEMU's
lock-up dump: registers readable, memory not, since QEMU is gone. Without ``@halt``, the older
behaviour: GDB's connection is closed), ``@program`` (a
``-c "program FILE ..."`` whose FILE cannot be opened fails there, as OpenOCD does), ``@exit N``.
``{gdb_port} {telnet_port} {xpsr} {pc} {sp}`` are filled in; the registers come from QEMU's
lock-up dump (``FAKE_OPENOCD_QEMU_STDERR``, the stderr log of the QEMU being relayed).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import threading
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "openocd"
VECTOR_CATCH = [
    "hard_err",
    "int_err",
    "bus_err",
    "state_err",
    "chk_err",
    "nocp_err",
    "mm_err",
    "reset",
]
DUMP_RE = re.compile(r"\b(R\d\d|XPSR)=([0-9a-fA-F]{8})")
REG_ORDER = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc", "xPSR"]


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Fake:
    def __init__(self, argv: list[str]):
        self.files: list[str] = []
        self.commands: list[str] = []
        it = iter(argv)
        for a in it:
            if a in ("-f", "--file"):
                self.files.append(next(it, ""))
            elif a in ("-c", "--command"):
                self.commands.append(next(it, ""))
            elif a in ("-s", "--search", "-d", "-l", "--log_output"):
                next(it, None)
        self.bind = "127.0.0.1"
        self.gdb_port = 3333
        self.telnet_port = 4444
        for c in self.commands:
            word, _, arg = c.partition(" ")
            if word == "bindto":
                self.bind = arg.strip()
            elif word == "gdb_port" and arg.strip().isdigit():
                self.gdb_port = int(arg)
            elif word == "telnet_port" and arg.strip().isdigit():
                self.telnet_port = int(arg)
        iface = next((Path(f).stem for f in self.files if f.startswith("interface/")), "cmsis-dap")
        self.scenario = Path(
            os.environ.get("FAKE_OPENOCD_SCENARIO") or DATA / f"no-probe-{iface}.log"
        )
        up = os.environ.get("FAKE_OPENOCD_UPSTREAM", "")
        self.upstream = (up.rsplit(":", 1)[0], int(up.rsplit(":", 1)[1])) if up else None
        self.qemu_stderr = os.environ.get("FAKE_OPENOCD_QEMU_STDERR")
        self.program = next(
            (c[len("program ") :] for c in self.commands if c.startswith("program ")), None
        )
        self.upstream_gone = threading.Event()
        self.halt_on_lockup = (
            "\n@halt" in "\n" + self.scenario.read_text() if self.scenario.is_file() else False
        )
        self.halted = threading.Event()  # @halt reached: the lock-up lines are in the log
        self.halted_regs: dict[str, int] | None = None
        self.demcr_catch: set[str] = set()
        self.done = threading.Event()
        self.exit_code = 0
        self.listeners: list[socket.socket] = []

    # -- scenario ---------------------------------------------------------------------------
    def fields(self) -> dict:
        regs = self.halted_regs or {}
        f = self.program_file()
        return {
            "file": f,
            "size": f.stat().st_size if f and f.is_file() else 0,
            "gdb_port": self.gdb_port,
            "telnet_port": self.telnet_port,
            "xpsr": f"0x{regs.get('xPSR', 0):08x}",
            "pc": f"0x{regs.get('pc', 0):08x}",
            "sp": f"0x{regs.get('sp', 0):08x}",
        }

    def play(self) -> int:
        for raw in self.scenario.read_text().splitlines():
            if raw.startswith("#"):
                continue
            if raw.startswith("@"):
                word, _, arg = raw[1:].partition(" ")
                if word == "serve":
                    if not self.serve():
                        return 1
                elif word == "wait-upstream":
                    self.upstream_gone.wait()
                    if self.done.is_set():
                        return self.exit_code
                    self.halted_regs = self.read_lockup_dump()
                elif word == "halt":
                    self.halted.set()
                elif word == "exit":
                    return int(arg or 0)
                elif word == "program" and not self.program_file_ok():
                    return 1
                continue
            out(raw.format(**self.fields()))
        self.done.wait()
        return self.exit_code

    def program_file(self) -> Path | None:
        if self.program is None:
            return None
        m = re.match(r"\{([^}]*)\}|(\S+)", self.program)
        return Path(m.group(1) or m.group(2)) if m else None

    def program_file_ok(self) -> bool:
        """OpenOCD's program proc, when flash write_image cannot open the file."""
        f = self.program_file()
        if f is not None and f.is_file():
            return True
        out("** Programming Started **")
        out(f"Error: couldn't open {f}")
        out("** Programming Failed **")
        out("shutdown command invoked")
        return False

    def read_lockup_dump(self) -> dict[str, int]:
        regs: dict[str, int] = {}
        if not self.qemu_stderr:
            return regs
        text = ""
        for _ in range(50):  # QEMU writes its dump just before it exits
            text = (
                Path(self.qemu_stderr).read_text(errors="replace")
                if Path(self.qemu_stderr).exists()
                else ""
            )
            if "Lockup" in text and "XPSR" in text:
                break
            time.sleep(0.02)
        start = text.find("Lockup")
        for name, value in DUMP_RE.findall(text[max(start, 0) :]):
            if name == "XPSR":
                key = "xPSR"
            else:
                n = int(name[1:])
                key = {13: "sp", 14: "lr", 15: "pc"}.get(n, f"r{n}")
            regs.setdefault(key, int(value, 16))
        return regs

    # -- servers ----------------------------------------------------------------------------
    def serve(self) -> bool:
        for name, port, handler in (
            ("gdb", self.gdb_port, self.gdb_client),
            ("telnet", self.telnet_port, self.telnet_client),
        ):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((self.bind, port))
            except OSError as e:  # as OpenOCD's server_init reports it, then exits 1
                out(f"Error: couldn't bind {name} to socket on port {port}: {e.strerror}")
                s.close()
                return False
            s.listen(4)
            self.listeners.append(s)
            threading.Thread(target=self.accept_loop, args=(s, handler), daemon=True).start()
        return True

    def accept_loop(self, s: socket.socket, handler) -> None:
        while not self.done.is_set():
            try:
                conn, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    # -- telnet -----------------------------------------------------------------------------
    def telnet_client(self, conn: socket.socket) -> None:
        conn.sendall(b"Open On-Chip Debugger\r\n> ")
        buf = b""
        try:
            while True:
                data = conn.recv(1024)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    cmd = line.decode(errors="replace").strip()
                    reply = self.monitor(cmd)
                    conn.sendall(
                        cmd.encode()
                        + b"\r\n"
                        + reply.replace("\n", "\r\n").encode()
                        + (b"\r\n" if reply else b"")
                        + b"> "
                    )
                    if cmd == "shutdown":
                        self.finish(0)
                        return
        except OSError:
            return
        finally:
            conn.close()

    def monitor(self, cmd: str) -> str:
        """OpenOCD's answer to a command (telnet or GDB ``monitor``)."""
        words = cmd.split()
        if not words:
            return ""
        if words[0] == "shutdown":
            out("shutdown command invoked")
            return "shutdown command invoked"
        if words[0] == "reg":
            if self.halted_regs is None:
                return "Error: Target not halted"
            lines = ["===== arm v7m registers"]
            for i, name in enumerate(REG_ORDER):
                if name in self.halted_regs:
                    lines.append(f"({i}) {name} (/32): 0x{self.halted_regs[name]:08x}")
            return "\n".join(lines)
        if words[:2] == ["cortex_m", "vector_catch"]:
            args = words[2:]
            if args == ["all"]:
                self.demcr_catch = set(VECTOR_CATCH)
            elif args == ["none"]:
                self.demcr_catch = set()
            elif args:
                bad = [a for a in args if a not in VECTOR_CATCH]
                if bad:
                    return f"Error: No CM3 vector '{bad[0]}'"
                self.demcr_catch = set(args)
            return "\n".join(
                f"{name:>9}: {'catch' if name in self.demcr_catch else 'ignore'}"
                for name in VECTOR_CATCH
            )
        if words[0] in ("halt", "resume", "reset"):
            return ""
        return f'invalid command name "{words[0]}"'

    # -- GDB relay --------------------------------------------------------------------------
    def gdb_client(self, client: socket.socket) -> None:
        if self.upstream is None:
            client.close()
            return
        try:
            up = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        up.settimeout(None)
        for s in (up, client):  # GDB's remote protocol is many tiny packets: no Nagle delay
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out(f"Info : accepting 'gdb' connection on tcp/{self.gdb_port}")
        state = {"noack": False, "want_noack": False, "swallow": 0}
        lock = threading.Lock()
        state["lock"] = lock
        threading.Thread(target=self.pump_up, args=(up, client, state), daemon=True).start()
        buf = b""
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                buf += data
                if state.get("local"):
                    buf = self.serve_halted(buf, client, state, lock)
                else:
                    buf = self.from_gdb(buf, client, up, state, lock)
        except OSError:
            pass
        finally:
            out("Info : dropped 'gdb' connection")
            for s in (up, client):
                try:
                    s.close()
                except OSError:
                    pass

    def from_gdb(self, buf: bytes, client, up, state, lock) -> bytes:
        while buf:
            c = buf[:1]
            if c in (b"+", b"-"):
                if c == b"+" and state["swallow"] > 0:
                    state["swallow"] -= 1
                else:
                    up.sendall(c)
                buf = buf[1:]
            elif c == b"$":
                end = buf.find(b"#")
                if end < 0 or len(buf) < end + 3:
                    return buf
                packet, buf = buf[: end + 3], buf[end + 3 :]
                payload = packet[1:end]
                if payload.startswith(b"qRcmd,"):
                    self.rcmd(
                        bytes.fromhex(payload[6:].decode()).decode(errors="replace"),
                        client,
                        up,
                        state,
                        lock,
                    )
                else:
                    if payload == b"QStartNoAckMode":
                        state["want_noack"] = True
                    with lock:
                        _send(up, packet)
                    if (
                        payload[:1] in (b"c", b"C")
                        or payload.startswith(b"vCont;c")
                        or payload.startswith(b"vCont;C")
                    ):
                        self.start_vector_catch(up, client, state, lock)
            else:
                _send(up, c)
                buf = buf[1:]
        return buf

    # -- vector catch (DEMCR), which QEMU lacks: approximated by polling the running core ------
    # Every POLL s the fake interrupts the relayed core (GDB does not see it), reads xPSR and,
    # when the core is in a fault handler whose vector catch is on, hands GDB that halt as a
    # plain SIGTRAP stop, as OpenOCD reports a DFSR.VCATCH halt. Unlike the real DEMCR, which
    # halts on the exception entry, the poll sees only a core that stays in the handler (a
    # handler that spins, as Device OS's does while it blinks SOS).
    POLL = 0.02
    CATCH_IPSR = {
        "hard_err": 3,
        "mm_err": 4,
        "bus_err": 5,
        "state_err": 6,
        "chk_err": 6,
        "nocp_err": 6,
    }

    def start_vector_catch(self, up, client, state, lock) -> None:
        ipsrs = {self.CATCH_IPSR[c] for c in self.demcr_catch if c in self.CATCH_IPSR}
        state["running"] = True
        if not ipsrs or state.get("poller"):
            return
        state["poller"] = True
        threading.Thread(
            target=self.poll_vector_catch, args=(up, client, state, lock, ipsrs), daemon=True
        ).start()

    def poll_vector_catch(self, up, client, state, lock, ipsrs: set[int]) -> None:
        import queue

        try:
            while not self.done.is_set() and not self.upstream_gone.is_set():
                time.sleep(self.POLL)
                with lock:
                    if not state.get("running"):
                        continue
                    q: queue.Queue = queue.Queue()
                    state["intercept"] = q
                    try:
                        if not state.get("running"):  # a stop just went to GDB
                            continue
                        up.sendall(b"\x03")
                        stop = q.get(timeout=2.0)
                        if not stop.startswith(b"T02") and not stop.startswith(b"S02"):
                            self.forward(client, stop, state)  # a real stop raced our poll
                            continue
                        self.ask(up, b"p19", state)
                        xpsr = int.from_bytes(bytes.fromhex(q.get(timeout=2.0).decode()), "little")
                        if (xpsr & 0x1FF) in ipsrs:  # halted in a caught fault handler
                            self.forward(client, b"T05" + stop[3:], state)
                            continue
                        state["intercept"] = None  # its next stop is GDB's
                        self.ask(up, b"c", state)  # not ours: let it run on
                    except (OSError, ValueError, queue.Empty):
                        return
                    finally:
                        state["intercept"] = None
        finally:
            state["poller"] = False

    def ask(self, up, payload: bytes, state) -> None:
        up.sendall(b"$" + payload + b"#" + b"%02x" % (sum(payload) & 0xFF))

    def forward(self, client, payload: bytes, state) -> None:
        """A stop for GDB (the core is halted from now on)."""
        state["running"] = False
        client.sendall(b"$" + payload + b"#" + b"%02x" % (sum(payload) & 0xFF))

    def to_poller(self, data: bytes, up, state) -> bytes:
        """Upstream packets during a poll go to the poller, not to GDB (acked if need be)."""
        while data:
            if data[:1] in (b"+", b"-"):
                data = data[1:]
                continue
            start = data.find(b"$")
            end = data.find(b"#", start)
            if start < 0 or end < 0 or len(data) < end + 3:
                return data
            state["intercept"].put(data[start + 1 : end])
            if not state["noack"]:
                up.sendall(b"+")
            data = data[end + 3 :]
        return data

    # -- the halted core after a lock-up (0.12): GDB's packets answered here -----------------
    def serve_halted(self, buf: bytes, client, state, lock) -> bytes:
        while buf:
            c = buf[:1]
            if c == b"\x03":  # GDB's interrupt: the core is already halted
                buf = buf[1:]
                self.reply(client, b"S02", lock)
            elif c != b"$":
                buf = buf[1:]  # acks ('+'/'-') and noise
            else:
                end = buf.find(b"#")
                if end < 0 or len(buf) < end + 3:
                    return buf
                payload, buf = buf[1:end], buf[end + 3 :]
                if not state["noack"]:
                    with lock:
                        client.sendall(b"+")
                if payload.startswith(b"qRcmd,"):
                    text = self.monitor(
                        bytes.fromhex(payload[6:].decode()).decode(errors="replace")
                    )
                    if text:
                        self.reply(client, b"O" + (text + "\n").encode().hex().encode(), lock)
                    self.reply(client, b"OK", lock)
                    continue
                answer = self.halted_answer(payload)
                if answer is not None:
                    self.reply(client, answer, lock)
        return buf

    def halted_answer(self, payload: bytes) -> bytes | None:
        """What OpenOCD answers for a halted, locked-up core (None: no answer, it 'runs')."""
        regs = self.halted_regs or {}

        def reg(name: str) -> bytes:
            if name not in regs:
                return b"xxxxxxxx"  # unavailable
            return regs[name].to_bytes(4, "little").hex().encode()

        if payload == b"?":
            return b"S02"
        if payload == b"g":  # the m-profile layout QEMU announced: r0..r15, then xpsr
            return b"".join(reg(n) for n in REG_ORDER)
        if payload[:1] == b"p":
            n = int(payload[1:] or b"0", 16)
            names = dict(enumerate(REG_ORDER[:16])) | {25: "xPSR"}
            return reg(names[n]) if n in names else b"E0e"
        if payload[:1] == b"m":
            return b"E01"  # QEMU (the core's memory) is gone with its lock-up
        if payload[:1] in (b"Z", b"z", b"H", b"T") or payload == b"D":
            return b"OK"
        if payload == b"qfThreadInfo":
            return b"m01"
        if payload == b"qsThreadInfo":
            return b"l"
        if payload == b"qC":
            return b"QC01"
        if payload[:1] in (b"c", b"s") or payload.startswith(b"vCont;"):
            return None  # resumed: a locked-up core makes no progress, GDB waits
        if payload == b"vCont?":
            return b"vCont;c;C;s;S"
        return b""  # not supported

    def reply(self, client, payload: bytes, lock) -> None:
        with lock:
            client.sendall(b"$" + payload + b"#" + b"%02x" % (sum(payload) & 0xFF))

    def rcmd(self, cmd: str, client, up, state, lock) -> None:
        with lock:
            if not state["noack"]:
                client.sendall(b"+")
            words = cmd.split()
            if words[:1] == ["reset"]:
                # the real reset: QEMU's own monitor through its stub; its reply goes to GDB
                hexcmd = "system_reset".encode().hex().encode()
                up.sendall(b"$qRcmd," + hexcmd + b"#" + b"%02x" % (sum(b"qRcmd," + hexcmd) & 0xFF))
                return
            text = self.monitor(cmd)
            packets = []
            if text:
                body = b"O" + (text + "\n").encode().hex().encode()
                packets.append(body)
            packets.append(b"OK")
            for p in packets:
                client.sendall(b"$" + p + b"#" + b"%02x" % (sum(p) & 0xFF))
                if not state["noack"]:
                    state["swallow"] += 1

    def pump_up(self, up: socket.socket, client: socket.socket, state) -> None:
        pending = b""
        try:
            while True:
                data = up.recv(65536)
                if not data:
                    break
                if state["want_noack"] and b"$OK#9a" in data:
                    state["noack"] = True
                    state["want_noack"] = False
                if state.get("intercept") is not None:  # the vector-catch poller's exchange
                    pending = self.to_poller(pending + data, up, state)
                    continue
                if b"$T" in data or b"$S" in data:  # a stop reaches GDB: the core is halted
                    state["running"] = False
                client.sendall(data)
        except OSError:
            pass
        finally:
            self.upstream_gone.set()
            if self.halt_on_lockup and self.halted.wait(10.0) and not self.done.is_set():
                # 0.12: the core is halted, GDB hears a plain stop (after the log lines)
                state["local"] = True
                try:
                    self.reply(client, b"S02", state["lock"])
                except OSError:
                    pass
            else:
                try:
                    client.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def finish(self, code: int) -> None:
        self.exit_code = code
        self.done.set()
        self.upstream_gone.set()
        for s in self.listeners:
            try:
                s.close()
            except OSError:
                pass


def _send(sock: socket.socket, data: bytes) -> None:
    """To QEMU's stub; gone after a lock-up (a packet GDB sends meanwhile is dropped)."""
    try:
        sock.sendall(data)
    except OSError:
        pass


def main() -> int:
    if "--version" in sys.argv[1:] or "-v" in sys.argv[1:]:
        out("Open On-Chip Debugger 0.12.0 (fake_openocd)")
        return 0
    fake = Fake(sys.argv[1:])
    signal.signal(signal.SIGTERM, lambda *_: fake.finish(0))
    code = fake.play()
    return code


if __name__ == "__main__":
    sys.exit(main())
