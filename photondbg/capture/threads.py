"""The threads of the firmware: the RTOS's tasks (FreeRTOS kernel awareness,
:mod:`photondbg.rtos.freertos`: the same code path for the simulated Photon's scheduler, a
Photon and any FreeRTOS firmware), with the running task's registers taken from the fault.

Per thread: name, state, priority, stack_lo, stack_hi (and stack_bounds_source), sp (saved SP;
for the running thread the live PSP, read exactly), high_water (the most stack bytes it ever
used), unused (bytes never touched), current, and a backtrace unwound from its saved context
(:mod:`.unwind`). A firmware without a kernel photondbg knows has ``threads`` [].
"""

from __future__ import annotations

from photondbg.capture.backtrace import (
    frame_at,
    interrupted_registers,
    interrupted_thread,
    unwinder_for,
)
from photondbg.capture.elfinfo import ElfInfo
from photondbg.capture.unwind import Snapshot
from photondbg.cortexm import faults
from photondbg.rtos.freertos import list_tasks
from photondbg.rtos.layout import FreeRtosLayout, freertos_layout


def scheduler(elf: ElfInfo) -> tuple[FreeRtosLayout | None, str]:
    """The kernel's layout, or (None, why there is none)."""
    return freertos_layout(elf)


def list_threads(
    elf: ElfInfo,
    mem: Snapshot,
    *,
    running: dict[str, int] | None = None,
    psp: int | None = None,
    running_context: str = "its registers when halted",
) -> tuple[list[dict], str, dict | None]:
    """Every task, the note ('' when all is well) and the kernel found (or None)."""
    return list_tasks(
        elf, mem, unwinder_for(elf), running=running, psp=psp, running_context=running_context
    )


def for_capture(elf: ElfInfo, report: dict, mem: Snapshot) -> tuple[list[dict], str, dict | None]:
    """The ``threads`` section of a capture (and a note), from the RAM snapshot: the running
    thread's registers are the PSP frame of the fault, or the core's at a thread-mode halt,
    or (a fault in a handler that interrupted it) its frame at the PSP (:func:`under_handler`)."""
    fault, panic = report.get("fault"), report.get("panic")
    running, psp, how = None, None, "its registers when the fault was taken"
    if fault:
        psp = (fault.get("stack_pointers") or {}).get("psp")
        if fault.get("stack") == "psp":
            running = interrupted_registers(fault)
        elif (fault.get("exc_return_decoded") or {}).get("mode") == "handler" and psp:
            handler = interrupted_registers(fault)
            if handler is not None:
                handler["xpsr"] = fault["frame"]["xpsr"]
            outer = (fault.get("frame") or {}).get("lr")  # the handler's LR when it faulted
            running, how = under_handler(elf, mem, handler, psp, fault.get("registers"), outer)
    elif panic and faults.exception_number((panic.get("registers") or {}).get("xpsr", 0)) == 0:
        running = panic.get("registers")
        psp = (panic.get("stack_pointers") or {}).get("psp")
        how = "the core's registers at the panic entry"
    return list_threads(elf, mem, running=running, psp=psp, running_context=how)


def for_halt(
    elf: ElfInfo, regs: dict[str, int], psp: int | None, mem: Snapshot
) -> tuple[list[dict], str, dict | None]:
    """Threads of a core stopped anywhere (no fault within the time-out: where is each thread
    stuck?). The running thread's registers are the core's in Thread mode; in a handler, its
    frame at the PSP (:func:`under_handler`)."""
    running: dict[str, int] | None
    if faults.exception_number(regs.get("xpsr", 0)) == 0:
        running, how = regs, "the core's registers where it was stopped"
    elif psp:
        running, how = under_handler(elf, mem, dict(regs), psp, regs, regs.get("lr"))
    else:
        running, how = None, "stopped in a handler, the PSP is not known"
    return list_threads(elf, mem, running=running, psp=psp, running_context=how)


def under_handler(
    elf: ElfInfo,
    mem: Snapshot,
    handler: dict[str, int] | None,
    psp: int,
    core: dict[str, int] | None,
    outer_lr: int | None,
) -> tuple[dict[str, int] | None, str]:
    """(registers, how they were found) of the thread a handler interrupted: its hardware
    frame at the PSP is basic (0x20 bytes) or extended (0x68, the task had used the FPU), with
    a 4-byte pad below when the stacked xPSR's bit 9 says so; only EXC_RETURN tells which.
    Exact, in this order: the EXC_RETURN the handler's own unwind reached (the walk of the
    fault's backtrace, r4-r11 restored by CFI); the EXC_RETURN still in the handler's LR
    (``outer_lr``: halted or faulted before the handler moved it). Else read as a basic
    frame, and ``context`` says that nothing confirmed it."""
    if handler is not None and handler.get("sp") is not None and handler.get("pc") is not None:
        found = interrupted_thread(elf, handler, psp, mem.word)
        if found is not None and found[1].get("frame_address") == psp:
            regs, marker = found
            return regs, (
                f"the hardware frame at the PSP, as the EXC_RETURN its handler's CFI unwind "
                f"reached says ({_frame_words(marker['exc_return'], regs)}; r4-r11 restored by CFI)"
            )
    exc = faults.decode_exc_return(outer_lr) if outer_lr is not None else {"valid": False}
    if outer_lr is not None and exc["valid"] and exc["stack"] == "psp" and exc["mode"] == "thread":
        stacked = frame_at(mem, psp, core, outer_lr)
        return stacked, (
            f"the hardware frame at the PSP, as the handler's EXC_RETURN in LR says "
            f"({_frame_words(outer_lr, stacked)}; r4-r11 as the core had them)"
        )
    return frame_at(mem, psp, core), (
        "the hardware frame at the PSP read as a BASIC frame: no EXC_RETURN found to say "
        "basic or extended (r4-r11 as the core had them)"
    )


def _frame_words(exc_return: int, regs: dict[str, int] | None) -> str:
    exc = faults.decode_exc_return(exc_return)
    pad = regs is not None and faults.frame_padded(regs.get("xpsr", 0))
    return (
        f"EXC_RETURN 0x{exc_return:08x}: {exc['frame']} frame, 0x{exc['frame_bytes']:x} bytes"
        + (" + the 4-byte alignment pad" if pad else "")
    )


def threads_markdown(report: dict) -> list[str]:
    """report.md's thread section: one row per thread, then each thread's backtrace."""
    threads = report.get("threads")
    if not threads:
        note = report.get("threads_note")
        return [f"Threads: none listed ({note}).", ""] if note else []
    out = ["## Threads", ""]
    kernel = report.get("rtos")
    if kernel:
        out += [
            f"{kernel.get('kernel')} ({kernel.get('port')} port, "
            f"{kernel.get('state_item')}): current task "
            f"`{kernel.get('current_task')}`, {kernel.get('tasks')} tasks.",
            "",
        ]
    out += [
        "| thread | state | prio | stack | bounds from | sp | high water / size |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in threads:
        size = (t["stack_hi"] - t["stack_lo"]) if t.get("stack_hi") else None
        out.append(
            f"| {t['name']}{' (current)' if t.get('current') else ''} | {t['state']} | "
            f"{t.get('priority')} | {_hx(t.get('stack_lo'))}-{_hx(t.get('stack_hi'))} | "
            f"{t.get('stack_bounds_source') or '-'} | "
            f"{_hx(t.get('sp'))} | {t.get('high_water')} / {size} |"
        )
    out.append("")
    for t in threads:
        out.append(
            f"{t['name']}: "
            + " <- ".join(
                f"`{b.get('function') or _hx(b.get('pc'))}`" for b in t.get("backtrace") or []
            )
            + (f" ({t['backtrace_stop']})" if t.get("backtrace_stop") else "")
        )
    return out + [""]


def _hx(v) -> str:
    return "-" if v is None else f"0x{int(v):08x}"
