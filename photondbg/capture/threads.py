"""The threads of the firmware: the RTOS's tasks (FreeRTOS kernel awareness,
:mod:`photondbg.rtos.freertos`: the same code path for the simulated Photon's scheduler, a
Photon and any FreeRTOS firmware), with the running task's registers taken from the fault.

Per thread: name, state, priority, stack_lo, stack_hi (and stack_bounds_source), sp (saved SP;
for the running thread the live PSP, read exactly), high_water (the most stack bytes it ever
used), unused (bytes never touched), current, and a backtrace unwound from its saved context
(:mod:`.unwind`). A firmware without a kernel photondbg knows has ``threads`` [].
"""

from __future__ import annotations

from photondbg.capture.backtrace import frame_at, interrupted_registers, unwinder_for
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
    or (a fault in a handler that interrupted it) its hardware frame at the PSP."""
    fault, panic = report.get("fault"), report.get("panic")
    running, psp, how = None, None, "its registers when the fault was taken"
    if fault:
        psp = (fault.get("stack_pointers") or {}).get("psp")
        if fault.get("stack") == "psp":
            running = interrupted_registers(fault)
        elif (fault.get("exc_return_decoded") or {}).get("mode") == "handler" and psp:
            running = frame_at(mem, psp, fault.get("registers"))
            how = "the hardware frame at the PSP (a handler interrupted it; r4-r11 as it had them)"
    elif panic and faults.exception_number((panic.get("registers") or {}).get("xpsr", 0)) == 0:
        running = panic.get("registers")
        psp = (panic.get("stack_pointers") or {}).get("psp")
        how = "the core's registers at the panic entry"
    return list_threads(elf, mem, running=running, psp=psp, running_context=how)


def for_halt(
    elf: ElfInfo, regs: dict[str, int], psp: int | None, mem: Snapshot
) -> tuple[list[dict], str, dict | None]:
    """Threads of a core stopped anywhere (no fault within the time-out: where is each thread
    stuck?). The running thread's registers are the core's in Thread mode; in a handler, the
    hardware frame the handler's entry pushed on the PSP."""
    running: dict[str, int] | None
    if faults.exception_number(regs.get("xpsr", 0)) == 0:
        running, how = regs, "the core's registers where it was stopped"
    else:
        running = frame_at(mem, psp, regs) if psp else None
        how = "the hardware frame at the PSP (stopped in a handler; r4-r11 as it had them)"
    return list_threads(elf, mem, running=running, psp=psp, running_context=how)


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
