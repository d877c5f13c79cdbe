"""The simulated Photon: QEMU ``netduino2`` (STM32F205) or another machine of the table in
:mod:`photondbg.cortexm.machines` (mps2-an385: Cortex-M3 with bus faults; netduinoplus2 and
mps2-an386: Cortex-M4F; lm3s6965evb: Zephyr's qemu_cortex_m3), given or inferred from the ELF
(:mod:`photondbg.targets.machine_fit`).

QEMU is started paused (``-S``) when a debugger will attach, with its GDB stub on a free
127.0.0.1 port. Both serial ports are QEMU *client* chardevs that connect to sockets we
already listen on (no port race): serial 0 = USART1 console, serial 1 = USART2 network link.
QEMU's stderr is kept: a lock-up ends QEMU with ``qemu: fatal: Lockup: can't escalate ...``
and a register dump, which :func:`parse_lockup` turns into the simulator's lock-up evidence.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from photondbg.cortexm import machines as machine_table
from photondbg.errors import ToolFailure, ToolMissing, UsageError
from photondbg.ports import LOOPBACK, free_port, listen
from photondbg.procs import Child, ProcessOwner
from photondbg.targets.base import LockupDump, MemoryMap, Target
from photondbg.targets.console import Console
from photondbg.targets.machine_fit import choose

MACHINES = list(machine_table.MACHINES)  # the QEMU machines, in the table's order
LOCKUP_EXIT = 134  # SIGABRT from qemu's cpu_abort()
LOCKUP_RE = re.compile(r"qemu: fatal: Lockup: (?P<text>.*)")
DUMP_REG_RE = re.compile(r"\b(R\d\d|XPSR)=([0-9a-fA-F]{8})")


def parse_lockup(stderr_text: str) -> LockupDump | None:
    """QEMU's 'clearing lockup after double fault': its message and register dump."""
    m = LOCKUP_RE.search(stderr_text)
    if not m:
        return None
    regs: dict[str, int] = {}
    names = {13: "sp", 14: "lr", 15: "pc"}
    for name, value in DUMP_REG_RE.findall(stderr_text[m.start() :]):
        if name == "XPSR":
            key = "xpsr"
        else:
            n = int(name[1:])
            key = names.get(n, f"r{n}")
        regs.setdefault(key, int(value, 16))
    return LockupDump(m.group("text").strip(), regs)


def machine_for_elf(elf: Path) -> str:
    """The machine that fits the ELF best (photondbg.targets.machine_fit; UsageError if none)."""
    return choose(elf)[0]


class SimTarget(Target):
    """One QEMU instance, owned by a :class:`ProcessOwner`.

    ``start()`` boots it (paused when ``gdb=True``); ``console`` is a :class:`Console`
    on USART1, ``link`` the raw socket on USART2 (the bridge's), ``gdb_port`` the stub.
    """

    ROLE = "qemu"
    kind = "sim"
    supports_vector_catch = False  # DHCSR/DEMCR read 0 on QEMU: arm breakpoints instead
    lockup_source = "qemu"
    reset_command = "monitor system_reset"  # QEMU's monitor, through the gdbstub

    def __init__(
        self,
        elf: Path | str,
        owner: ProcessOwner,
        *,
        logdir: Path | None = None,
        machine: str | None = None,
        gdb: bool = False,
        qemu_bin: str = "qemu-system-arm",
        extra_args: list[str] | None = None,
    ):
        self.elf = Path(elf)
        self.owner = owner
        self.logdir = Path(logdir) if logdir else owner.logdir
        if machine is not None and machine not in MACHINES:
            raise UsageError(f"unknown machine {machine!r} (choose from {', '.join(MACHINES)})")
        self.machine = machine
        self.gdb = gdb
        self.qemu_bin = qemu_bin
        self.extra_args = extra_args or []
        self._gdb_port: int | None = None
        self.console: Console | None = None
        self.link: socket.socket | None = None
        self.child: Child | None = None
        self._stderr_path: Path | None = None
        self._listeners: list[socket.socket] = []

    # -- lifecycle -----------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> "SimTarget":
        if self.child is not None:
            raise RuntimeError("SimTarget already started")
        if not self.elf.is_file():
            raise UsageError(f"ELF not found: {self.elf}")
        if shutil.which(self.qemu_bin) is None:
            raise ToolMissing(self.qemu_bin, "apt-get install qemu-system-arm")
        machine, self.machine_choice = choose(self.elf, self.machine)
        self.machine = machine
        con_l = listen()
        link_l = listen()
        self._listeners = [con_l, link_l]
        argv = [
            self.qemu_bin,
            "-M",
            machine,
            "-nographic",
            "-monitor",
            "none",
            "-kernel",
            str(self.elf),
            "-chardev",
            f"socket,id=con,host={LOOPBACK},port={con_l.getsockname()[1]}",
            "-chardev",
            f"socket,id=link,host={LOOPBACK},port={link_l.getsockname()[1]}",
            "-serial",
            "chardev:con",
            "-serial",
            "chardev:link",
        ]
        if self.gdb:
            self._gdb_port = free_port()
            argv += ["-S", "-gdb", f"tcp:{LOOPBACK}:{self._gdb_port}"]
        argv += self.extra_args
        stderr_file = None
        if self.logdir:
            self.logdir.mkdir(parents=True, exist_ok=True)
            self._stderr_path = self.logdir / "qemu-stderr.log"
            stderr_file = open(self._stderr_path, "wb")
        self.child = self.owner.spawn(
            self.ROLE,
            argv,
            stdout=subprocess.DEVNULL,
            stderr=stderr_file if stderr_file is not None else subprocess.DEVNULL,
        )
        if stderr_file is not None:
            stderr_file.close()
        self.owner.add_cleanup(self._close_sockets)
        try:
            con = self._accept(con_l, timeout)
            self.link = self._accept(link_l, timeout)
        except ToolFailure:
            self.stop()
            raise
        log = self.logdir / "serial.log" if self.logdir else None
        self.console = Console(con, log, name="console")
        if self.gdb:
            self._wait_gdb_port(timeout)
        return self

    def _accept(self, lsock: socket.socket, timeout: float) -> socket.socket:
        end = time.monotonic() + timeout
        lsock.settimeout(0.1)
        while time.monotonic() < end:
            if self.child.proc.poll() is not None:
                raise ToolFailure(
                    f"qemu exited at start-up ({self.child.proc.returncode}): "
                    f"{self.stderr_text().strip().splitlines()[-1:] or ''}"
                )
            try:
                conn, _ = lsock.accept()
                conn.settimeout(None)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return conn
            except socket.timeout:
                continue
        raise ToolFailure("qemu did not connect its serial ports in time")

    def _wait_gdb_port(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.child.proc.poll() is not None:
                raise ToolFailure(f"qemu exited: {self.stderr_text().strip()}")
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex((LOOPBACK, self.gdb_port)) == 0:
                    return
            time.sleep(0.05)
        raise ToolFailure(f"qemu gdbstub did not listen on {self.gdb_port}")

    def _close_sockets(self) -> None:
        if self.console:
            self.console.close()
        for s in [self.link, *self._listeners]:
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self._listeners = []

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
        self._close_sockets()

    # -- facts and evidence ------------------------------------------------------------
    @property
    def gdb_port(self) -> int | None:
        return self._gdb_port

    @property
    def memory(self) -> MemoryMap:
        """The machine's map (netduino2 until ``start()`` picked one from the ELF)."""
        name = self.machine or machine_table.DEFAULT_MACHINE
        return MemoryMap.of(machine_table.MACHINES[name].chip)

    @property
    def has_fpu(self) -> bool:
        """The machine's core has an FPU (FPCCR/FPCAR, S0-S31; machine table)."""
        return machine_table.MACHINES[self.machine or machine_table.DEFAULT_MACHINE].fpu

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.alive()

    @property
    def returncode(self) -> int | None:
        return None if self.child is None else self.child.proc.poll()

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.child.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stderr_text(self) -> str:
        if self._stderr_path and self._stderr_path.exists():
            return self._stderr_path.read_text(errors="replace")
        return ""

    def lockup(self) -> LockupDump | None:
        """The lock-up dump, once QEMU has exited because the core locked up."""
        if self.running:
            return None
        return parse_lockup(self.stderr_text())
