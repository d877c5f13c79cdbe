"""A booted board under test: what a user's test (the pytest plugin's ``photon`` fixture) or a
board farm (labgrid) drives. One surface for both kinds of board:

- ``url``            the HTTP base URL of the app's server
- ``lines``          console lines so far; ``wait_for(pattern, timeout)`` waits for one
- ``netcut(kind)``   cut the WiFi (``down``: AP off, ``uplink``: AP cable pulled); ``restore()``
- ``reset()``        restart the firmware and wait until it serves again
- ``wait_halt(t)``   with a debugger attached: wait until the core stops on a fault/panic
- ``capture(out)``   with a debugger attached: stop the core and write a capture directory

:class:`SimDut` is the simulated board (QEMU + bridge, optionally under GDB with every fault
vector armed). :class:`LanDut` is a board on the LAN: a real Photon, or ``photondbg sim boot``
standing in for one (its console a pyserial URL, its WiFi cut by the user's commands).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.request import urlopen

from photondbg.errors import ToolFailure, UsageError
from photondbg.ports import LOOPBACK
from photondbg.procs import ProcessOwner
from photondbg.targets.console import Console

if TYPE_CHECKING:
    from photondbg.campaign.board import UrlSerialStream
    from photondbg.capture.arming import Armed
    from photondbg.gdb.session import GdbSession
    from photondbg.sim.bridge import Bridge
    from photondbg.targets.sim import SimTarget

BOOT_TIMEOUT = 30.0  # s from start or reset until the app's server listens


class Dut:
    """What every board offers; subclasses fill in ``start``/``netcut``/``restore``/``reset``."""

    kind = "?"
    console: Console | None = None
    gdb: GdbSession | None = None  # when a debugger is attached
    halted: dict | None = None  # the debugger's stop record once the core stopped by itself

    def __init__(self, owner: ProcessOwner, logdir: Path):
        self.owner = owner
        self.logdir = Path(logdir)
        self.url: str | None = None
        self.past = []

    past: list[str]  # console lines of earlier boots (a reset starts a new console)

    @property
    def lines(self) -> list[str]:
        """Every console line since the board was started, across resets."""
        now = [t for _, t in self.console.lines] if self.console else []
        return [*self.past, *now]

    def wait_for(
        self, pattern: str | re.Pattern, timeout: float = 10.0, start: int = 0
    ) -> re.Match | None:
        """A console line matching ``pattern`` among lines[start:] (``start`` from
        ``len(lines)`` earlier), or None after ``timeout``."""
        if self.console is None:
            raise UsageError("this board has no console (pass its serial port)")
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        for line in self.past[start:]:
            if (m := rx.search(line)) is not None:
                return m
        return self.console.wait_for(rx, timeout, start=max(0, start - len(self.past)))

    def get(self, path: str = "/", timeout: float = 5.0) -> tuple[int, str]:
        """One HTTP GET against the board: (status, body). Raises OSError when it fails."""
        with urlopen(self.url.rstrip("/") + path, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")

    def wait_serving(self, timeout: float = BOOT_TIMEOUT) -> float:
        """Seconds until the server answered; ToolFailure when it did not within ``timeout``."""
        t0 = time.monotonic()
        end = t0 + timeout
        last = None
        while time.monotonic() < end:
            try:
                self.get("/", timeout=min(2.0, max(0.2, end - time.monotonic())))
                return time.monotonic() - t0
            except OSError as e:
                last = e
                time.sleep(0.2)
        raise ToolFailure(f"the board at {self.url} did not answer within {timeout:g} s ({last})")

    def wait_halt(self, timeout: float = 10.0) -> str | None:
        """With the debugger: wait until the core stops by itself (on an armed fault handler or
        the panic entry) and say where (its function, else its address); None after
        ``timeout`` or without a debugger. A capture taken then starts from that stop."""
        if self.gdb is None:
            return None
        from photondbg.deadline import Deadline

        if self.halted is None:
            self.halted = self.gdb.wait_stopped(Deadline(timeout))
        if self.halted is None:
            return None
        frame = self.halted.get("frame") or {}
        return frame.get("func") or frame.get("addr") or "?"

    def capture(self, out: Path, why: str = "") -> Path | None:
        """Stop the core and write a capture directory; None without a debugger."""
        if self.gdb is None:
            return None
        from photondbg.capture.snapshot import snapshot

        return snapshot(self, Path(out), why=why)

    def close(self) -> None:
        self.owner.close()


class SimDut(Dut):
    """The simulated Photon: QEMU netduino2 + the bridge on 127.0.0.1, optionally under GDB."""

    kind = "sim"

    def __init__(
        self,
        elf: Path,
        app: str,
        owner: ProcessOwner,
        logdir: Path,
        *,
        debug: bool = False,
        host_port: int | None = None,
    ):
        super().__init__(owner, logdir)
        self.elf = Path(elf)
        self.app = app
        self.debug = debug
        self.host_port = host_port
        self.target: SimTarget | None = None
        self.bridge: Bridge | None = None
        self.armed: Armed | None = None
        self.boots = 0

    def start(self, timeout: float = BOOT_TIMEOUT) -> SimDut:
        from photondbg.firmware import app_port
        from photondbg.sim.bridge import Bridge

        self.device_port = app_port(self.app)
        self._boot()
        self.bridge = Bridge(
            self.target.link,
            logdir=self.logdir,
            host_ports={self.device_port: self.host_port} if self.host_port else None,
        )
        self.owner.add_cleanup(self.bridge.close)
        self._wait_listening(timeout)
        self.wait_serving(timeout)
        return self

    def _boot(self) -> None:
        from photondbg.targets.sim import SimTarget

        self.boots += 1
        logdir = self.logdir if self.boots == 1 else self.logdir / f"reset-{self.boots - 1:02d}"
        self.target = SimTarget(self.elf, self.owner, logdir=logdir, gdb=self.debug)
        self.target.start()
        self.console = self.target.console
        if self.debug:
            self._attach(logdir)

    def _attach(self, logdir: Path) -> None:
        from photondbg.capture.arming import arm
        from photondbg.capture.elfinfo import ElfInfo
        from photondbg.gdb.session import GdbSession

        if self.gdb is not None:
            self.gdb.close()
        self.halted = None
        self.gdb = GdbSession(self.elf, self.owner, logdir=logdir)
        self.gdb.start()
        assert self.target.gdb_port is not None  # the target was started with gdb=True
        self.gdb.connect(LOOPBACK, self.target.gdb_port)
        if getattr(self, "elfinfo", None) is None:
            self.elfinfo = ElfInfo(self.elf)
            self.owner.add_cleanup(self.elfinfo.close)
        self.armed = arm(self.gdb, self.elfinfo)
        self.gdb.cont()

    def _wait_listening(self, timeout: float) -> None:
        port = self.bridge.wait_host_port(self.device_port, timeout)
        if port is None:
            raise ToolFailure(
                f"the simulated board never listened on port {self.device_port}; "
                f"see {self.logdir}/serial.log"
            )
        self.url = f"http://{LOOPBACK}:{port}/"

    def netcut(self, kind: str = "down") -> None:
        self.bridge.cut(kind)

    def restore(self) -> None:
        self.bridge.restore()

    def reset(self, timeout: float = BOOT_TIMEOUT) -> None:
        """A new QEMU on the same bridge and host port (the board's reset line)."""
        self.bridge.detach()
        if self.console is not None:
            self.past += [t for _, t in self.console.lines]
        if self.gdb is not None:
            self.gdb.close()
            self.gdb = None
        self.halted = None
        self.target.stop()
        self._boot()
        assert self.target.link is not None  # start() returned: QEMU connected its link
        self.bridge.attach(self.target.link)
        self._wait_listening(timeout)
        self.wait_serving(timeout)

    @property
    def running(self) -> bool:
        return self.target is not None and self.target.running


class LanDut(Dut):
    """A board on the LAN: HTTP at ``host:port``, console on a pyserial port or URL, WiFi cut by
    a :mod:`photondbg.photon.netcut` object, reset by a command (or not at all)."""

    kind = "photon"

    def __init__(
        self,
        owner: ProcessOwner,
        logdir: Path,
        *,
        host: str,
        port: int,
        netcut,
        serial: str | None = None,
        baudrate: int = 9600,
        reset_cmd: str | None = None,
    ):
        super().__init__(owner, logdir)
        self.host, self.port = host, port
        self.cutter = netcut
        self.serial = serial
        self.baudrate = baudrate
        self.reset_cmd = reset_cmd
        self.url = f"http://{host}:{port}/"
        self.stream: UrlSerialStream | None = None

    def start(self, timeout: float = BOOT_TIMEOUT) -> LanDut:
        if self.serial:
            from photondbg.campaign.board import UrlSerialStream

            self.stream = UrlSerialStream(self.serial, self.baudrate)
            self.console = Console(self.stream, self.logdir / "serial.log", name="board-serial")
            self.owner.add_cleanup(self.console.close)
        self.wait_serving(timeout)
        return self

    def netcut(self, kind: str = "down") -> None:
        self.cutter.cut()

    def restore(self) -> None:
        self.cutter.restore()

    def reset(self, timeout: float = BOOT_TIMEOUT) -> None:
        if not self.reset_cmd:
            raise UsageError("this board has no reset command (--photon-reset-cmd)")
        from photondbg.photon.netcut import parse_command
        from photondbg.photon.run import run

        res = run(parse_command(self.reset_cmd, "--photon-reset-cmd"), timeout=60.0)
        if not res.ok:
            raise ToolFailure(f"reset command failed (exit {res.exit_code}): {res.last_line()}")
        time.sleep(0.5)  # let the old server go away before asking the new one
        self.wait_serving(timeout)
