"""An OpenOCD session for a real Photon: argv from ``-f``/``-c`` pairs, owned process, parsed log.

OpenOCD 0.12 is started with both servers bound to 127.0.0.1 on free ports (Tcl disabled), the
probe interface (Particle Debugger = CMSIS-DAP, or ST-Link), ``target/stm32f2x.cfg``, optional
RTOS awareness, and vector catch on every fault *before* anything resets the core, so the first
fault halts the CPU instead of escalating into a lock-up. Its log is read line by line in a
thread and turned into :class:`LogEvent` objects (see :data:`LOG_PATTERNS`).

Recorded here with no probe attached (tests/data/openocd/): CMSIS-DAP ends with
``Error: unable to find a matching CMSIS-DAP device``, ST-Link with ``Error: open failed``;
both exit 1 within milliseconds.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from photondbg import tools
from photondbg.errors import ToolFailure, ToolMissing, UsageError
from photondbg.photon import board
from photondbg.ports import LOOPBACK, free_port
from photondbg.procs import Child, ProcessOwner

HINT = tools.BY_NAME["openocd"].package
ENV_OPENOCD = "PHOTONDBG_OPENOCD"  # another openocd program (tests: tests/fakes/fake_openocd.py)
RTOS_CHOICES = ("FreeRTOS", "auto")


class NoProbe(UsageError):
    """OpenOCD found no debug probe (or the probe cannot reach the Photon)."""


# -- the log, as data ------------------------------------------------------------------------
# (kind, pattern). The first match wins. The lock-up line changed form in 2022:
# "Error: stm32f2x.cpu -- clearing lockup after double fault" (0.11 and older) and
# "Error: [stm32f2x.cpu] clearing lockup after double fault" (0.12, LOG_TARGET_ERROR).
LOG_PATTERNS = [
    ("gdb_listening", r"Listening on port (?P<port>\d+) for gdb connections"),
    ("telnet_listening", r"Listening on port (?P<port>\d+) for telnet connections"),
    (
        "lockup",
        r"(?:(?P<cpu_old>[\w.]+) -- |\[(?P<cpu>[^\]]+)\] )"
        r"clearing lockup after double fault",
    ),
    (
        "halted",
        r"(?:\[(?P<cpu>[^\]]+)\] |target )halted due to (?P<reason>[\w-]+), current mode: "
        r"(?P<mode>\w+)\s*(?P<exception>.*?)\s*$",
    ),
    (
        "state",
        r"xPSR: (?P<xpsr>0x[0-9a-fA-F]+)\s+pc: (?P<pc>0x[0-9a-fA-F]+)\s+"
        r"(?P<sp_name>[mp]sp): (?P<sp>0x[0-9a-fA-F]+)",
    ),
    (
        "no_probe",
        r"unable to find a matching CMSIS-DAP device|Error: open failed|"
        r"\bno device found\b|ST-LINK open failed|No J-Link device found",
    ),
    (
        "no_target",
        r"Error connecting DP: cannot read IDR|"
        r"init mode failed \(unable to connect to the target\)|Examination failed|"
        r"JTAG scan chain interrogation failed|IR capture error|"
        r"Invalid ACK \(\d+\) in DAP response",
    ),
    ("port_in_use", r"couldn't bind (?P<server>\w+) to socket on port (?P<port>\d+)"),
    (
        "adapter_error",
        r"LIBUSB_ERROR_\w+|libusb_open\(\) failed|adapter .* failed|"
        r"CMSIS-DAP command .* failed",
    ),
    ("config_error", r"Can't find (?P<file>\S+)|invalid command name \"(?P<command>[^\"]+)\""),
    ("gdb_connected", r"accepting 'gdb' connection on tcp/(?P<port>\d+)"),
    ("gdb_dropped", r"dropped 'gdb' connection"),
    ("shutdown", r"shutdown command invoked"),
    ("error", r"^Error: (?P<text>.*)"),
]
_COMPILED = [(kind, re.compile(pat)) for kind, pat in LOG_PATTERNS]


@dataclass
class LogEvent:
    kind: str
    line: str
    fields: dict[str, str] = field(default_factory=dict)
    time: float = 0.0


def parse_line(line: str, now: float = 0.0) -> LogEvent | None:
    for kind, rx in _COMPILED:
        m = rx.search(line)
        if m:
            return LogEvent(kind, line.rstrip(), {k: v for k, v in m.groupdict().items() if v}, now)
    return None


def parse_log(text: str) -> list[LogEvent]:
    return [e for e in map(parse_line, text.splitlines()) if e is not None]


# -- argv (pure) ---------------------------------------------------------------------------
def vector_catch_command() -> str:
    return "cortex_m vector_catch " + " ".join(name for name, _ in board.VECTOR_CATCH)


def session_argv(
    openocd: str | list[str],
    *,
    interface: str,
    gdb_port: int,
    telnet_port: int,
    target_cfg: str = board.TARGET_CFG,
    rtos: str | None = None,
    vector_catch: bool = True,
    search: list[str] | tuple = (),
    extra_commands: list[str] | tuple = (),
) -> list[str]:
    """The full OpenOCD command line of a debug session (pure; tested exactly)."""
    if interface not in board.INTERFACES:
        raise UsageError(
            f"unknown probe interface {interface!r} (choose from {', '.join(board.INTERFACES)})"
        )
    if rtos is not None and rtos not in RTOS_CHOICES:
        raise UsageError(f"unknown RTOS {rtos!r} (choose from {', '.join(RTOS_CHOICES)})")
    argv = list(openocd) if isinstance(openocd, (list, tuple)) else [openocd]
    for d in search:
        argv += ["-s", str(d)]
    argv += ["-f", board.INTERFACES[interface][0], "-f", target_cfg]
    argv += [
        "-c",
        f"bindto {LOOPBACK}",
        "-c",
        f"gdb_port {gdb_port}",
        "-c",
        f"telnet_port {telnet_port}",
        "-c",
        "tcl_port disabled",
    ]
    if rtos:
        argv += ["-c", f"$_TARGETNAME configure -rtos {rtos}"]
    argv += ["-c", "init"]
    if vector_catch:
        argv += ["-c", vector_catch_command()]
    for cmd in extra_commands:
        argv += ["-c", cmd]
    return argv


def program_argv(
    openocd: str | list[str],
    image: Path | str,
    *,
    interface: str,
    target_cfg: str = board.TARGET_CFG,
    address: int | None = None,
) -> list[str]:
    """One-shot flash: ``program FILE [ADDR] verify reset exit`` (an ELF carries its address;
    a .bin needs one). No servers are opened."""
    if interface not in board.INTERFACES:
        raise UsageError(
            f"unknown probe interface {interface!r} (choose from {', '.join(board.INTERFACES)})"
        )
    argv = list(openocd) if isinstance(openocd, (list, tuple)) else [openocd]
    argv += [
        "-f",
        board.INTERFACES[interface][0],
        "-f",
        target_cfg,
        "-c",
        "gdb_port disabled",
        "-c",
        "telnet_port disabled",
        "-c",
        "tcl_port disabled",
    ]
    where = f" 0x{address:08x}" if address is not None else ""
    argv += ["-c", f"program {{{Path(image)}}}{where} verify reset exit"]
    return argv


PROGRAM_OK_RE = re.compile(r"\*\* Verified OK \*\*")
PROGRAM_FAIL_RE = re.compile(
    r"\*\* (Programming Failed|Verify Failed|OpenOCD init failed|"
    r"Unable to reset target) \*\*"
)


def failure_message(events: list[LogEvent], interface: str, returncode: int | None) -> str:
    """One line for an OpenOCD that never got ready."""
    kinds = {e.kind: e for e in events}
    probe = board.INTERFACES.get(interface, ("", interface, ""))[1]
    if "no_probe" in kinds:
        return (
            f'no debug probe found: OpenOCD says "{kinds["no_probe"].line}" '
            f"(connect the {probe} over USB, or choose the other probe: --probe or "
            f"PHOTONDBG_PROBE)"
        )
    if "no_target" in kinds:
        return (
            f'the {probe} answers but the Photon does not: "{kinds["no_target"].line}" '
            f"(check SWD wiring D7=SWDIO, D6=SWCLK, GND, 3V3 and that the Photon is powered)"
        )
    if "adapter_error" in kinds:
        return f'debug probe error: "{kinds["adapter_error"].line}" (USB permissions? udev rules)'
    if "port_in_use" in kinds:
        return f'OpenOCD could not listen: "{kinds["port_in_use"].line}"'
    if "config_error" in kinds:
        return f'OpenOCD configuration error: "{kinds["config_error"].line}"'
    errors = [e for e in events if e.kind == "error"]
    last = errors[-1].line if errors else "no error message"
    return f'OpenOCD exited (status {returncode}) before its GDB server was ready: "{last}"'


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
        self._listeners = []

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
            if ready and port_listening(self.gdb_port):
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

    def on_event(self, fn) -> None:
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


def lockup_from_events(events: list[LogEvent]) -> tuple[LogEvent | None, dict[str, int]]:
    lock = next((i for i, e in enumerate(events) if e.kind == "lockup"), None)
    if lock is None:
        return None, {}
    regs: dict[str, int] = {}
    for e in events[lock + 1 :]:
        if e.kind == "state":
            regs = {
                "pc": int(e.fields["pc"], 16),
                "xpsr": int(e.fields["xpsr"], 16),
                "sp": int(e.fields["sp"], 16),
                e.fields["sp_name"]: int(e.fields["sp"], 16),
            }
            break
        if e.kind == "lockup":
            continue
    return events[lock], regs


REG_LINE_RE = re.compile(
    r"^(?:\(\d+\)\s+)?(?P<name>[A-Za-z]+\d*)\s+\(/32\):\s+"
    r"(?P<value>0x[0-9a-fA-F]+)"
)


def parse_reg_output(text: str) -> dict[str, int]:
    """OpenOCD ``reg`` output (``(0) r0 (/32): 0x00000000`` ...) → {name: value}."""
    regs = {}
    for line in text.splitlines():
        m = REG_LINE_RE.match(line.strip())
        if m:
            regs[m["name"].lower()] = int(m["value"], 16)
    return regs


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
