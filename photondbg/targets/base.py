"""The target contract: what a capture and a campaign need from a board, and nothing else.

A :class:`Target` is a driver (labgrid's sense): ``start()`` / ``stop()`` (stopping twice is
harmless), a GDB remote on 127.0.0.1, a console, a reset under the debugger, its memory map,
lock-up evidence, and the exact MSP/PSP of the halted core. ``sim``
(:class:`photondbg.targets.sim.SimTarget`, QEMU) and ``photon``
(:class:`photondbg.targets.photon.PhotonTarget`, OpenOCD + probe) implement it; callers depend on
this class, never on which target they hold. :func:`make_target` builds one by name.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from photondbg.cortexm import faults
from photondbg.errors import UsageError
from photondbg.ports import LOOPBACK

if TYPE_CHECKING:
    import socket

    from photondbg.capture.stackptr import StackPointers
    from photondbg.gdb.session import GdbSession
    from photondbg.procs import ProcessOwner
    from photondbg.targets.console import Console

TARGETS = ("sim", "photon")


@dataclass(frozen=True)
class Region:
    base: int
    size: int

    @property
    def end(self) -> int:
        return self.base + self.size

    def contains(self, addr: int, length: int = 1) -> bool:
        return self.base <= addr and addr + length <= self.end


@dataclass(frozen=True)
class MemoryMap:
    code: Region
    ram: Region

    @classmethod
    def of(cls, chip: str) -> "MemoryMap":
        """The map of ``chip`` from :data:`photondbg.cortexm.faults.MEMORY_MAPS`."""
        code_base, code_size, ram_base, ram_size = faults.MEMORY_MAPS[chip]
        return cls(Region(code_base, code_size), Region(ram_base, ram_size))


@dataclass
class LockupDump:
    """What the target reported when the core locked up ('clearing lockup after double fault'
    on a probe, ``qemu: fatal: Lockup`` in the simulator): the message and the registers."""

    message: str
    registers: dict[str, int] = field(default_factory=dict)  # r0..r12, sp, lr, pc, xpsr

    @property
    def pc(self) -> int | None:
        return self.registers.get("pc")


class Target(abc.ABC):
    """One board under photondbg's control (see the module text)."""

    kind: ClassVar[str]  # "sim" | "photon": report.json's target.kind
    lockup_source: ClassVar[str]  # where lock-up evidence comes from (qemu | openocd)
    supports_vector_catch: ClassVar[bool]  # DEMCR vector catch halts on the first fault
    reset_command: ClassVar[str]  # GDB command: reset the core, breakpoints kept

    machine: str | None  # what runs it (QEMU machine, "photon")
    machine_choice: str | None = None  # sim: "--machine" or why the ELF chose the machine
    logdir: Path | None
    console: Console | None  # the board's Serial (USART1 / USB serial), or None
    link: socket.socket | None = None  # the simulated network link (sim only), else None

    # -- lifecycle -------------------------------------------------------------------------
    @abc.abstractmethod
    def start(self, timeout: float = 15.0) -> "Target":
        """Start the board (halted when a debugger will attach) and its console."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop every process and socket ``start()`` opened; harmless when called twice."""

    # -- the debugger ----------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def gdb_port(self) -> int | None:
        """The GDB remote port on 127.0.0.1 (None until started, or without a debugger)."""

    @property
    def gdb_remote(self) -> tuple[str, int | None]:
        return LOOPBACK, self.gdb_port

    @property
    def gdb_init_commands(self) -> list[str]:
        """GDB commands to run right after connecting (vector catch, a reset...)."""
        return []

    def reset(self, gdb: GdbSession) -> None:
        """Reset the halted core under ``gdb``; breakpoints stay armed, GDB's register cache
        is dropped (it does not know a monitor command changed the core)."""
        gdb.cli(self.reset_command, timeout=5.0)
        gdb.cli("maintenance flush register-cache", timeout=5.0, check=False)

    def read_stack_pointers(
        self, gdb: GdbSession, regs: dict[str, int] | None = None
    ) -> StackPointers:
        """MSP, PSP and how they were read, exactly (``$msp``/``$psp`` where the debugger
        has them, else the MRS stub: :mod:`photondbg.capture.stackptr`)."""
        from photondbg.capture.stackptr import read_stack_pointers

        return read_stack_pointers(gdb, self.memory.ram, regs)

    # -- facts and evidence ----------------------------------------------------------------
    @property
    @abc.abstractmethod
    def memory(self) -> MemoryMap:
        """Code and SRAM of the chip that runs the firmware."""

    @property
    def has_fpu(self) -> bool:
        """The core has an FPU (a Cortex-M4F): the capture reads FPCCR/FPCAR and S0-S31.
        The Photon's STM32F205 (Cortex-M3) has none."""
        return False

    @property
    @abc.abstractmethod
    def running(self) -> bool:
        """The board's process (QEMU / OpenOCD) is alive."""

    @property
    @abc.abstractmethod
    def returncode(self) -> int | None:
        """Exit status of the board's process once it ended."""

    @abc.abstractmethod
    def wait_exit(self, timeout: float) -> int | None:
        """After GDB lost the board: wait until its end is evident; the exit status, if any."""

    @abc.abstractmethod
    def stderr_text(self) -> str:
        """The board process's own log so far (QEMU's stderr, OpenOCD's log)."""

    @abc.abstractmethod
    def lockup(self) -> LockupDump | None:
        """The lock-up evidence, or None when the core did not lock up."""


def check_machine(kind: str, elf: Path | None, machine: str | None) -> None:
    """Before anything starts: the sim's machine (given, or inferred from the ELF) runs the ELF;
    a UsageError (one line, exit 2) says why not. The photon target is one board."""
    if kind == "sim" and elf is not None:
        from photondbg.targets.machine_fit import choose

        choose(elf, machine)


def make_target(
    kind: str,
    elf: Path | None,
    owner: ProcessOwner,
    *,
    logdir: Path | None = None,
    machine: str | None = None,
    gdb: bool = True,
    probe: str | None = None,
    serial_port: str | None = None,
) -> Target:
    """A target by name: ``sim`` (QEMU ``machine``, started paused for GDB when ``gdb``) or
    ``photon`` (OpenOCD on ``probe``, console on ``serial_port``). Not started."""
    if kind == "sim":
        from photondbg.targets.sim import SimTarget

        if elf is None:
            raise UsageError("the sim target needs an ELF to run")
        return SimTarget(elf, owner, logdir=logdir, machine=machine, gdb=gdb)
    if kind == "photon":
        from photondbg.targets.photon import PhotonTarget

        return PhotonTarget(elf, owner, logdir=logdir, interface=probe, serial_port=serial_port)
    raise UsageError(f"unknown target {kind!r} (choose from {', '.join(TARGETS)})")
