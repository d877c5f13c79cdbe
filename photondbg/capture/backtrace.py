"""Backtraces of the faulting code, unwound offline from registers and stack memory.

The registers of interrupted code come from its exception frame (:func:`interrupted_registers`,
:func:`frame_at`); the stack above a stack pointer is read once (:func:`stack_window`); DWARF CFI
(:class:`photondbg.capture.unwind.CfiUnwinder`, one per ELF: :func:`unwinder_for`) walks it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from photondbg.capture.elfinfo import ElfInfo
from photondbg.capture.unwind import CfiUnwinder, Snapshot
from photondbg.cortexm import faults

_UNWINDERS: weakref.WeakKeyDictionary[ElfInfo, CfiUnwinder] = weakref.WeakKeyDictionary()


def unwinder_for(elf: ElfInfo) -> CfiUnwinder:
    if elf not in _UNWINDERS:
        _UNWINDERS[elf] = CfiUnwinder(elf)
    return _UNWINDERS[elf]


def interrupted_registers(fault: dict) -> dict[str, int] | None:
    """The registers of the code an exception interrupted: the stacked frame, r4..r11 as the
    handler found them (exact at its first instruction, where photondbg halts), and the SP
    above the frame."""
    frame, sp = fault.get("frame"), fault.get("stack_pointer")
    if not frame or sp is None:
        return None
    core = fault.get("registers") or {}
    regs = {n: core[n] for n in faults.SAVED_CONTEXT[:8] if n in core}
    regs.update({n: frame[n] for n in ("r0", "r1", "r2", "r3", "r12", "lr", "pc")})
    regs["sp"] = faults.frame_caller_sp(sp, fault.get("exc_return_decoded") or {}, frame["xpsr"])
    return regs


STACK_WINDOW = 8 * 1024  # bytes read above a stack pointer at once for an unwind


def stack_window(gdb, sp: int | None, ram) -> Snapshot:
    """The stack above ``sp`` in one read (an unwind then costs no round trips), GDB's word
    reads for anything outside it. ``gdb`` needs read_memory and read_u32, ``ram`` a Region."""
    if sp is None or not ram.contains(sp):
        return Snapshot(0, b"", fallback=gdb.read_u32)
    mem = gdb.read_memory(sp, min(STACK_WINDOW, ram.end - sp))
    return Snapshot(mem.start, mem.data, mem.gaps, fallback=gdb.read_u32)


def psp_backtrace(
    elf: ElfInfo, fault: dict, read_word: Callable[[int], int | None]
) -> list[dict] | None:
    """The faulting thread's frames through its PSP exception frame (GDB cannot see the PSP on
    QEMU, so it cannot unwind there): unwound from the stacked registers by CFI."""
    regs = interrupted_registers(fault) if fault.get("stack") == "psp" else None
    if regs is None:
        return None
    res = unwinder_for(elf).unwind(regs, Snapshot(0, b"", fallback=read_word).word)
    return [{k: f[k] for k in ("pc", "function", "file", "line")} for f in res.frames]


def frame_at(mem: Snapshot, sp: int, core: dict[str, int] | None) -> dict[str, int] | None:
    """The registers of thread code interrupted with its hardware frame at ``sp``."""
    read = [mem.word(sp + 4 * i) for i in range(len(faults.BASIC_FRAME))]
    words = [w for w in read if w is not None]
    if len(words) != len(read):
        return None
    known = {n: (core or {}).get(n) for n in faults.SAVED_CONTEXT[:8]}
    regs = {n: v for n, v in known.items() if v is not None}
    regs.update(faults.unpack_frame(words))
    regs["sp"] = faults.frame_caller_sp(sp, {"frame_bytes": faults.BASIC_FRAME_BYTES}, regs["xpsr"])
    return regs


def trim_at_thread_exit(
    elf: ElfInfo, regs: dict[str, int], frames: list[dict], read_word: Callable[[int], int | None]
) -> list[dict]:
    """GDB's frames of thread code, cut where the thread began: GDB unwinds on past the
    thread's entry into the LR the scheduler planted (its exit function) and beyond."""
    res = unwinder_for(elf).unwind(regs, Snapshot(0, b"", fallback=read_word).word)
    ours = [f["function"] for f in res.frames]
    if "thread's exit" in res.stop and [f.get("function") for f in frames[: len(ours)]] == ours:
        return frames[: len(ours)]
    return frames
