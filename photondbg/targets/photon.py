"""The real Photon behind OpenOCD: the same surface as :class:`~photondbg.targets.sim.SimTarget`.

``start()`` starts an :class:`~photondbg.photon.openocd.OpenOcdSession` (GDB port on 127.0.0.1,
vector catch on every fault) and, when a serial port is given, a :class:`Console` on the
Photon's USB serial that re-opens the port when the Photon re-enumerates after a reset.
``lockup()`` turns OpenOCD's ``clearing lockup after double fault`` line (either form), the core
state it prints when it halts, and — while OpenOCD still runs — its ``reg`` output into a
:class:`~photondbg.targets.sim.LockupDump`.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from photondbg.errors import PhotondbgError, UsageError
from photondbg.photon import board
from photondbg.photon.openocd import OpenOcdSession
from photondbg.photon.openocd_argv import vector_catch_command
from photondbg.photon.openocd_events import parse_reg_output
from photondbg.procs import ProcessOwner
from photondbg.targets.base import LockupDump, MemoryMap, Target
from photondbg.targets.console import Console

REG_KEYS = {f"r{i}": f"r{i}" for i in range(13)} | {
    "sp": "sp",
    "lr": "lr",
    "pc": "pc",
    "xpsr": "xpsr",
    "msp": "msp",
    "psp": "psp",
}


class SerialStream:
    """pyserial behind a socket-like ``recv``/``sendall``/``shutdown``/``close`` (what
    :class:`Console` reads). The Photon's USB serial disappears when it resets and comes back
    when it re-enumerates: ``recv`` then re-opens the port (counted in ``reopens``)."""

    def __init__(self, port: str, baudrate: int = 9600, *, retry: float = 0.5):
        import serial  # pyserial

        self._serial_mod = serial
        self.port = port
        self.baudrate = baudrate
        self.retry = retry
        self.reopens = 0
        self._closed = threading.Event()
        try:
            self._ser = self._open()
        except (serial.SerialException, OSError) as e:
            raise UsageError(f"cannot open serial port {port}: {e}") from None

    def _open(self):
        # a device path, or any pyserial URL (socket://, rfc2217:// from a labgrid place)
        return self._serial_mod.serial_for_url(self.port, self.baudrate, timeout=0.2)

    def recv(self, n: int) -> bytes:
        while not self._closed.is_set():
            ser = self._ser
            if ser is None:
                try:
                    self._ser = self._open()
                    self.reopens += 1
                except (self._serial_mod.SerialException, OSError):
                    self._closed.wait(self.retry)
                continue
            try:
                # what is there now (at least one byte): a read of n bytes that meets the
                # port's end loses the bytes it already had, the last lines before a reset
                data = ser.read(min(n, max(1, ser.in_waiting)))
            except (self._serial_mod.SerialException, OSError, TypeError, AttributeError):
                self._drop()
                continue
            if data:
                return data
        return b""

    def _drop(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:
                pass

    def sendall(self, data: bytes) -> None:
        if self._ser is None:
            raise OSError(f"serial port {self.port} is not open")
        self._ser.write(data)

    def shutdown(self, how=None) -> None:
        self._closed.set()

    def close(self) -> None:
        self._closed.set()
        self._drop()


# Defaults a caller did not pass, from the environment (so `capture-fault --target photon`
# and `verify-fix` reach the probe settings without new options everywhere).
ENV_PROBE = "PHOTONDBG_PROBE"  # cmsis-dap | stlink
ENV_SERIAL = "PHOTONDBG_SERIAL"  # e.g. /dev/ttyACM0 (the Photon's USB serial)
# PHOTONDBG_OPENOCD (another openocd program) is read by OpenOcdSession itself
ENV_RTOS = "PHOTONDBG_RTOS"  # FreeRTOS | auto


class PhotonTarget(Target):
    """A Photon on a debug probe. ``interface`` is ``cmsis-dap`` (Particle Debugger) or
    ``stlink``; ``serial_port`` (e.g. /dev/ttyACM0) gives a console, else ``console`` is None.
    Options left as None come from $PHOTONDBG_PROBE, $PHOTONDBG_SERIAL, $PHOTONDBG_OPENOCD,
    $PHOTONDBG_RTOS."""

    ROLE = "openocd"
    kind = "photon"
    supports_vector_catch = True
    lockup_source = "openocd"
    reset_command = "monitor reset halt"  # OpenOCD: reset, then halt at the reset vector

    def __init__(
        self,
        elf: Path | str | None,
        owner: ProcessOwner,
        *,
        logdir: Path | None = None,
        interface: str | None = None,
        serial_port: str | None = None,
        baudrate: int = 9600,
        rtos: str | None = None,
        openocd_bin: str | list[str] | None = None,
        env: dict | None = None,
        reset_on_attach: bool = True,
    ):
        env_now = os.environ
        interface = interface or env_now.get(ENV_PROBE) or "cmsis-dap"
        serial_port = serial_port or env_now.get(ENV_SERIAL) or None
        rtos = rtos or env_now.get(ENV_RTOS) or None
        self.elf = Path(elf) if elf else None
        self.owner = owner
        self.logdir = Path(logdir) if logdir else owner.logdir
        self.interface = interface
        self.serial_port = serial_port
        self.baudrate = baudrate
        self.reset_on_attach = reset_on_attach
        self.machine = "photon"
        self.session = OpenOcdSession(
            owner, interface, rtos=rtos, openocd_bin=openocd_bin, logdir=self.logdir, env=env
        )
        self.console: Console | None = None
        self._stream: SerialStream | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> "PhotonTarget":
        if self.elf is not None and not self.elf.is_file():
            raise UsageError(f"ELF not found: {self.elf}")
        if self.serial_port:
            # open the console first: a bad port is bad input, found before OpenOCD starts
            self._stream = SerialStream(self.serial_port, self.baudrate)
            log = self.logdir / "serial.log" if self.logdir else None
            if log:
                self.logdir.mkdir(parents=True, exist_ok=True)
            self.console = Console(self._stream, log, name="photon-serial")
            self.owner.add_cleanup(self._close_console)
        try:
            self.session.start(timeout=timeout)
        except PhotondbgError:
            self._close_console()
            raise
        return self

    def _close_console(self) -> None:
        if self.console is not None:
            self.console.close()
            self.console = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def stop(self) -> None:
        self.session.stop()
        self._close_console()

    @property
    def gdb_init_commands(self) -> list[str]:
        """What GDB runs right after connecting: every fault caught by the core's vector catch
        (set before the reset), then a reset into a halted core so the run starts clean."""
        cmds = [f"monitor {vector_catch_command()}"]
        if self.reset_on_attach:
            # GDB does not know a monitor command reset the core: drop its cached registers
            cmds += ["monitor reset halt", "maintenance flush register-cache"]
        return cmds

    # -- state and evidence --------------------------------------------------------------
    @property
    def gdb_port(self) -> int | None:
        return self.session.gdb_port

    @property
    def memory(self) -> MemoryMap:
        return MemoryMap.of("stm32f205")

    @property
    def running(self) -> bool:
        return self.session.running

    @property
    def returncode(self) -> int | None:
        child = self.session.child
        return None if child is None else child.proc.poll()

    def wait_exit(self, timeout: float) -> int | None:
        """For the capture engine after GDB lost the target: wait until the board's end is
        evident — OpenOCD's lock-up line, or OpenOCD itself exiting."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.session.lockup_events()[0] is not None or not self.session.running:
                break
            self.session.wait_for("lockup", timeout=min(0.1, end - time.monotonic()))
        return self.returncode

    def stderr_text(self) -> str:
        """OpenOCD's log so far (OpenOCD writes its log to stderr)."""
        return "\n".join(self.session.lines)

    def lockup(self) -> LockupDump | None:
        """OpenOCD's lock-up evidence, or None when it never reported one."""
        event, regs = self.session.lockup_events()
        if event is None:
            return None
        registers = {k: v for k, v in regs.items() if k in REG_KEYS}
        # the state line right after the lock-up may still be on its way
        if "pc" not in registers and self.session.wait_for("state", 1.0, start=0):
            event, regs = self.session.lockup_events()
            registers.update({k: v for k, v in regs.items() if k in REG_KEYS})
        if self.session.running:
            try:
                more = parse_reg_output(self.session.command("reg", timeout=3.0))
            except (PhotondbgError, OSError):
                more = {}
            for name, value in more.items():
                if name in REG_KEYS:
                    registers.setdefault(REG_KEYS[name], value)
        if "sp" in registers:  # sp is the one the dump schema names; msp/psp say which it was
            registers.pop("msp", None)
            registers.pop("psp", None)
        return LockupDump(event.line.strip(), registers)

    def dhcsr_lockup(self) -> bool | None:
        """DHCSR.S_LOCKUP read through OpenOCD (None when it cannot be read)."""
        try:
            text = self.session.command(f"mdw 0x{board.DHCSR:08x}", timeout=3.0)
        except (PhotondbgError, OSError):
            return None
        for line in text.splitlines():
            if ":" in line:
                try:
                    return bool(int(line.split(":", 1)[1].split()[0], 16) & board.DHCSR_S_LOCKUP)
                except (ValueError, IndexError):
                    return None
        return None
