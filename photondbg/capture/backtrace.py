"""Backtraces of the faulting code, unwound offline from registers and stack memory
(docs/backtraces.md).

A fault's backtrace (:func:`fault_backtrace`) starts from the registers of the code the fault
interrupted: its exception frame at the exact MSP/PSP (:func:`interrupted_registers`); a
panic's (:func:`halt_backtrace`) from the core's. DWARF CFI (:class:`~photondbg.capture.unwind.
CfiUnwinder`, one per ELF: :func:`unwinder_for`) walks it, over the stack read once
(:func:`stack_window`), and :func:`walk` goes on through every exception frame a handler's walk
reaches, marking it. Without CFI: GDB's unwind (:func:`gdb_fault_backtrace`, never of a PSP
frame), or the stacked PC and LR. :class:`Backtrace` says which method gave the frames.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass

from photondbg.capture import collect
from photondbg.capture.elfinfo import ElfInfo
from photondbg.capture.unwind import MAX_FRAMES, CfiUnwinder, ReadWord, Snapshot, read_words
from photondbg.cortexm import faults
from photondbg.gdb.mi import GdbError

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


METHODS = ("cfi", "gdb", "stacked-pc-lr", "none")  # report.json ``backtrace_method``
EXCEPTION_FRAME = "<exception frame>"  # the function of a marker entry between two stretches
OUTERMOST = "main"  # the walk ends there, as GDB's does
MAX_EXCEPTION_FRAMES = 8  # nested exceptions followed at most (more: a loop or garbage)


@dataclass(frozen=True)
class Backtrace:
    """A fault's backtrace and how it was obtained (report.json ``backtrace``,
    ``backtrace_method`` (one of :data:`METHODS`), ``backtrace_source``, ``backtrace_stop``)."""

    frames: list[dict]
    method: str
    source: str
    stop: str | None = None


def fault_backtrace(elf: ElfInfo, fault: dict, read_word: ReadWord) -> Backtrace | None:
    """The code the fault interrupted, unwound by DWARF CFI from its stacked registers on the
    stack EXC_RETURN names (MSP or PSP, read exactly), through every exception frame on the way
    (a handler's walk that ends in an EXC_RETURN value goes on from the frame that value
    says: MSP at the handler's entry SP, or the PSP), to the outermost function. A PC that
    is 0 or garbage has no CFI: its caller is the stacked LR. None when there is no stacked
    frame or the ELF has no call-frame information (the caller then falls back)."""
    regs = interrupted_registers(fault)
    if regs is None or not unwinder_for(elf).available:
        return None
    regs["xpsr"] = fault["frame"]["xpsr"]
    sps = fault.get("stack_pointers") or {}
    source = (
        f"cfi: DWARF call-frame information from the stacked frame on the "
        f"{str(fault.get('stack')).upper()} at 0x{fault['stack_pointer']:08x}"
        f" (read by {sps.get('method') or fault.get('stack_pointer_source') or '?'})"
    )
    frames, stop = walk(elf, regs, sps.get("psp"), read_word)
    return Backtrace(frames, "cfi", source, stop)


def halt_backtrace(
    elf: ElfInfo, core: dict[str, int], psp: int | None, read_word: ReadWord, where: str
) -> Backtrace | None:
    """The core's own stack where it is halted (e.g. at the panic entry), by CFI from its
    registers and through the exception frames under a handler; None without CFI."""
    if not unwinder_for(elf).available or core.get("sp") is None or core.get("pc") is None:
        return None
    source = f"cfi: DWARF call-frame information from the core's registers {where}"
    frames, stop = walk(elf, dict(core), psp, read_word)
    return Backtrace(frames, "cfi", source + f" (SP 0x{core['sp']:08x})", stop)


def walk(
    elf: ElfInfo, regs: dict[str, int], psp: int | None, read_word: ReadWord
) -> tuple[list[dict], str]:
    """Frames from ``regs`` (r0..r12, sp, lr, pc, xpsr) by CFI, on through each exception
    frame a handler's walk reaches (marked), to main or the thread's entry; and why it ended."""
    frames, stop, _ = _walk(elf, regs, psp, read_word)
    return frames, stop


def interrupted_thread(
    elf: ElfInfo, regs: dict[str, int], psp: int | None, read_word: ReadWord
) -> tuple[dict[str, int], dict] | None:
    """The registers of the thread code that a chain of handlers interrupted, and the marker
    of its exception frame on the PSP: the walk of :func:`walk` from the handler's ``regs``,
    so the frame is read as the EXC_RETURN the walk restored says (basic or extended, and the
    xPSR bit-9 pad), at the PSP, and r4-r11 are the ones CFI restored. None when the walk
    reaches no frame on the PSP (no CFI, a stop before it)."""
    if not unwinder_for(elf).available:
        return None
    return _walk(elf, regs, psp, read_word)[2]


def _walk(
    elf: ElfInfo, regs: dict[str, int], psp: int | None, read_word: ReadWord
) -> tuple[list[dict], str, tuple[dict[str, int], dict] | None]:
    """:func:`walk`, and the thread's registers and marker when it passed a PSP frame."""
    unwinder = unwinder_for(elf)
    frames: list[dict] = []
    stop = ""
    thread: tuple[dict[str, int], dict] | None = None
    for _ in range(MAX_EXCEPTION_FRAMES + 1):
        res = unwinder.unwind(regs, read_word, max_frames=max(1, MAX_FRAMES - len(frames)))
        frames += [{k: f[k] for k in ("pc", "function", "file", "line")} for f in res.frames]
        stop = res.stop
        at_main = next((i for i, f in enumerate(frames) if f["function"] == OUTERMOST), None)
        if at_main is not None and at_main < len(frames) - 1:
            del frames[at_main + 1 :]  # as GDB (backtrace past-main off): not the start-up
            stop = f"{OUTERMOST}: the start-up code that called it is not shown"
            break
        if res.exc_return is None or res.caller is None:
            break
        nxt, marker, why = _through_exception(res.exc_return, res.caller, regs, psp, read_word)
        if marker is not None:
            frames.append(marker)
        if nxt is None:
            stop = why
            break
        if marker is not None and marker["stack"] == "psp":
            psp = None  # one thread frame under any chain of handlers
            thread = (dict(nxt), marker)
        regs = nxt
    else:
        stop = f"more than {MAX_EXCEPTION_FRAMES} nested exception frames"
    return frames, stop, thread


def _through_exception(
    exc_return: int,
    caller: dict[str, int],
    handler_regs: dict[str, int],
    psp: int | None,
    read_word: ReadWord,
) -> tuple[dict[str, int] | None, dict | None, str]:
    """(registers of the code an exception interrupted, the marker entry, why not)."""
    exc = faults.decode_exc_return(exc_return)
    number = faults.exception_number(handler_regs.get("xpsr", 0))
    at = caller["sp"] if exc["stack"] == "msp" else psp
    if at is None:
        return None, None, f"EXC_RETURN 0x{exc_return:08x}: the PSP frame's address is not known"
    words = [read_word(at + 4 * i) for i in range(len(faults.BASIC_FRAME))]
    if any(w is None for w in words):
        return None, None, f"exception frame at 0x{at:08x} is not readable"
    stacked = faults.unpack_frame(words)
    marker = {
        "pc": None,
        "function": EXCEPTION_FRAME,
        "file": None,
        "line": None,
        "exception": faults.exception_name(number),
        "exc_return": exc_return,
        "frame_address": at,
        "stack": exc["stack"],
    }
    if number == 0:
        return None, marker, "an EXC_RETURN value in thread code: the stack is not a handler's"
    bad = _not_a_frame(stacked["xpsr"], exc)
    if bad:  # the handler's entry SP was not where its CFI says (an SP moved without CFI)
        marker["frame_address"] = None
        return None, marker, f"no exception frame at 0x{at:08x}: {bad}"
    regs = {n: caller[n] for n in faults.SAVED_CONTEXT[:8] if n in caller}
    regs.update(stacked)
    regs["sp"] = faults.frame_caller_sp(at, exc, stacked["xpsr"])
    return regs, marker, ""


def _not_a_frame(xpsr: int, exc: dict) -> str:
    """Why the stacked xPSR cannot be that of a frame stacked for this EXC_RETURN ('' if it
    can): the Thumb bit is always set on M-profile, and the interrupted code's IPSR is 0 in
    Thread mode, an exception number in Handler mode."""
    if not xpsr >> 24 & 1:
        return f"stacked xPSR 0x{xpsr:08x} has no Thumb bit"
    ipsr = faults.exception_number(xpsr)
    if (ipsr == 0) != (exc["mode"] == "thread"):
        return f"stacked IPSR {ipsr} does not fit a return to {exc['mode']} mode"
    return ""


def stacked_pc_lr(elf: ElfInfo, frame: dict) -> list[dict]:
    """The two frames a stacked exception frame alone gives: its PC and its LR's caller."""
    out = []
    for addr, caller in ((frame["pc"], False), (frame["lr"], True)):
        loc = elf.locate((addr & ~1) - 2 if caller else addr & ~1)
        out.append({"pc": addr & ~1, "function": loc.function, "file": loc.file, "line": loc.line})
    return out


def frame_at(
    mem: Snapshot, sp: int, core: dict[str, int] | None, exc_return: int | None = None
) -> dict[str, int] | None:
    """The registers of thread code interrupted with its hardware frame at ``sp``: the frame
    ``exc_return`` says (basic or extended), a basic one when it is not given; r4-r11 from
    ``core``; the SP above the frame and the xPSR bit-9 pad."""
    words = read_words(mem, sp, len(faults.BASIC_FRAME))
    if words is None:
        return None
    known = {n: (core or {}).get(n) for n in faults.SAVED_CONTEXT[:8]}
    regs = {n: v for n, v in known.items() if v is not None}
    regs.update(faults.unpack_frame(words))
    exc = (
        faults.decode_exc_return(exc_return)
        if exc_return is not None
        else {"frame_bytes": faults.BASIC_FRAME_BYTES}
    )
    regs["sp"] = faults.frame_caller_sp(sp, exc, regs["xpsr"])
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


def gdb_fault_backtrace(gdb, elf: ElfInfo, fault: dict) -> Backtrace:
    """Without call-frame information (or without a stacked frame): GDB's unwind, but never
    of a PSP frame (QEMU's stub has no PSP: GDB would walk the MSP and be wrong)."""
    frame = fault.get("frame")
    if fault.get("stack") == "psp":
        if frame is None:
            return Backtrace([], "none", "no stacked frame on the PSP")
        return Backtrace(
            stacked_pc_lr(elf, frame),
            "stacked-pc-lr",
            "stacked PC and LR (no call-frame information; GDB cannot see the PSP)",
        )
    frames, how = collect.backtrace(gdb, elf, frame)
    if how.startswith("gdb"):
        stop = (
            "another exception frame: not followed (GDB cannot see the PSP)" if "," in how else None
        )
        return Backtrace(frames, "gdb", "gdb: -stack-list-frames from the handler", stop)
    return Backtrace(frames, "stacked-pc-lr", "stacked PC and LR (GDB stopped)")


def gdb_frames(gdb, elf: ElfInfo, core: dict[str, int], *, trim: bool) -> list[dict]:
    """GDB's frames of the halted core (no CFI), cut at a thread's entry when asked."""
    try:
        res = gdb.command(f"-stack-list-frames 0 {collect.BACKTRACE_MAX - 1}")
        raw = res.payload.get("stack", [])
    except GdbError:
        raw = []
    frames = [
        {
            "pc": int(f.get("addr", "0"), 16),
            "function": f.get("func"),
            "file": f.get("file"),
            "line": int(f["line"]) if f.get("line") else None,
        }
        for f in raw
    ]
    if trim:
        frames = trim_at_thread_exit(elf, core, frames, gdb.read_u32)
    return frames
