"""FreeRTOS kernel awareness from a RAM snapshot: every task, its state, stack and backtrace.

Found by the kernel's symbols and DWARF types (:mod:`photondbg.rtos.layout`). The tasks are
the owners of the items in the kernel's lists (the ready list of each priority, the two
delayed lists, the pending-ready list, the termination list, the suspended list), walked
from each list's end marker with every link checked. A task's state is the list that holds
its STATE list item, as the kernel itself decides it:

| list | state |
|---|---|
| ``pxCurrentTCB`` | running (it stays in its ready list) |
| ``pxReadyTasksLists[p]`` | ready |
| ``xPendingReadyList`` (holds the EVENT item) | ready (readied while the scheduler was suspended) |
| ``xDelayedTaskList1/2`` | blocked (a delay, or a wait with a time-out) |
| ``xSuspendedTaskList`` | suspended; blocked (for ever) when its event item is in a list |
| ``xTasksWaitingTermination`` | deleted (the idle task has not freed it yet) |

Stack bounds: ``pxStack`` is the low end. The high end is ``pxEndOfStack`` + 4 when the TCB
has it (the top word the kernel gave the task); else the end of the allocation that holds
``pxStack``: a row of a static array of stacks (DWARF: the object's type is an array of
arrays), a static buffer (an ELF object symbol starting at ``pxStack``: ``xTaskCreateStatic``),
a heap block (its header, newlib-nano or heap_4: :mod:`photondbg.analysis.heap`), or, last,
the end of the object ``pxStack`` lies in (labelled an upper bound). ``stack_bounds_source``
says which; nothing is guessed.
High water from the 0xA5 fill (``tskSTACK_FILL_BYTE``) up from ``pxStack``. A task that is
not running is unwound from the context its port saved at ``pxTopOfStack``
(:mod:`photondbg.rtos.context`) by the ELF's call-frame information.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from photondbg.analysis.heap import HeapWalk, find_heaps
from photondbg.analysis.memory import MemoryImage
from photondbg.capture.elfinfo import ElfInfo, Symbol
from photondbg.capture.unwind import CfiUnwinder, Snapshot, read_bytes
from photondbg.cortexm import faults
from photondbg.rtos import dwarf
from photondbg.rtos.context import port_of, saved_context
from photondbg.rtos.layout import FreeRtosLayout, KernelList, freertos_layout

MAX_TASKS = 64
MAX_STACK = 256 * 1024  # bounds further apart than this are not believed


def walk_list(mem: Snapshot, lay: FreeRtosLayout, addr: int) -> tuple[list[int], str]:
    """The owners (TCB addresses) of the items of the list at ``addr``, in list order, and a
    note when the list is not well formed (a loop, an unreadable link, a wrong count)."""
    raw_count = read_bytes(mem, addr + lay.list_count[0], lay.list_count[1])
    if raw_count is None:
        return [], f"list at 0x{addr:08x} is not readable"
    count = int.from_bytes(raw_count, "little")
    end = addr + lay.list_end
    item = mem.word(end + lay.mini_next)
    owners: list[int] = []
    seen: set[int] = set()
    while item is not None and item != end:
        if item in seen or len(owners) > min(count, MAX_TASKS):
            return owners, f"list at 0x{addr:08x} does not end after its {count} items"
        seen.add(item)
        owner = mem.word(item + lay.item["owner"])
        if owner is None:
            return owners, f"list item at 0x{item:08x} is not readable"
        owners.append(owner)
        item = mem.word(item + lay.item["next"])
    if item is None:
        return owners, f"a link of the list at 0x{addr:08x} is not readable"
    if len(owners) != count:
        return owners, f"list at 0x{addr:08x} holds {len(owners)} items, says {count}"
    return owners, ""


def _list_label(kl: KernelList, lay: FreeRtosLayout) -> str:
    if kl.symbol == "pxReadyTasksLists":
        first = next(x.address for x in lay.lists if x.symbol == kl.symbol)
        return f"pxReadyTasksLists[{(kl.address - first) // lay.list_size}]"
    return kl.symbol


def task_state(
    lay: FreeRtosLayout, raw: bytes, tcb: int, current: int | None
) -> tuple[str, str | None]:
    """(state, the list that decides it) of the TCB ``raw`` at ``tcb``."""
    off_state = lay.item_word("state_item", "container")
    off_event = lay.item_word("event_item", "container")
    in_state = int.from_bytes(raw[off_state : off_state + 4], "little")
    in_event = int.from_bytes(raw[off_event : off_event + 4], "little")
    by_addr = {kl.address: kl for kl in lay.lists}
    holder = by_addr.get(in_state)
    label = _list_label(holder, lay) if holder else None
    if tcb == current:
        return "running", label
    pending = by_addr.get(in_event)
    if pending is not None and pending.symbol == "xPendingReadyList":
        return "ready", "xPendingReadyList"
    if holder is None:
        return "unknown", None
    if holder.symbol == "xSuspendedTaskList" and in_event:
        return "blocked", label  # waiting for ever (portMAX_DELAY) on an event list
    return holder.state, label


class StackBounds:
    """Where each task's stack ends: pxEndOfStack, a static buffer (or a row of a static array
    of stacks), or a heap block."""

    def __init__(self, elf: ElfInfo, mem: Snapshot):
        self.elf, self.mem = elf, mem
        self._heaps: list[HeapWalk] | None = None
        funcs = set(elf.functions)
        self._objects = sorted(
            (s for s in elf.by_name.values() if s.size > 0 and s not in funcs),
            key=lambda s: (s.address, -s.size),
        )
        self._starts = [s.address for s in self._objects]
        self._types: dict[str, object] | None = None

    def holding(self, addr: int) -> Symbol | None:
        """The ELF object symbol whose extent holds ``addr``."""
        i = bisect.bisect_right(self._starts, addr)
        while i > 0:
            i -= 1
            s = self._objects[i]
            if s.address <= addr < s.address + s.size:
                return s
            if addr - s.address > MAX_STACK * MAX_TASKS:
                return None
        return None

    def row_bytes(self, sym: Symbol) -> int | None:
        """Bytes of one row when DWARF types ``sym`` as an array of arrays (of stacks)."""
        if self._types is None:
            self.expect([sym.address])
        var = (self._types or {}).get(sym.name)
        return dwarf.element_of_rows(dwarf.type_of(var)) if var is not None else None

    def expect(self, stacks: list[int]) -> None:
        """Look up, in one pass over DWARF that ends when all are found, the types of the
        objects holding these ``pxStack`` values."""
        names = {s.name for s in (self.holding(lo) for lo in stacks) if s is not None}
        elffile = self.elf.elf
        self._types = dwarf.variables(elffile, names) if names and elffile.has_dwarf_info() else {}

    def heaps(self) -> list[HeapWalk]:
        if self._heaps is None:
            image = MemoryImage(self.mem.base, self.mem.data, list(self.mem.gaps))
            self._heaps = find_heaps(self.elf, image)
        return self._heaps

    def high_end(self, lo: int, end_of_stack: int | None) -> tuple[int | None, str]:
        if end_of_stack is not None:
            if lo <= end_of_stack < lo + MAX_STACK:
                return end_of_stack + 4, "pxEndOfStack"
            return None, f"pxEndOfStack 0x{end_of_stack:08x} is not above pxStack"
        sym = self.holding(lo)
        if sym is not None:
            row = self.row_bytes(sym)
            if row and (lo - sym.address) % row == 0:
                k = (lo - sym.address) // row
                return lo + row, f"static array {sym.name}[{k}] (DWARF: rows of {row} bytes)"
            if sym.address == lo:
                return lo + sym.size, f"static buffer {sym.name}"
        for heap in self.heaps():  # a heap arena may be an object (heap_4's ucHeap)
            block = heap.block_at(lo)
            if block is not None and block.user == lo and block.state == "used":
                return block.end, f"heap block ({heap.allocator})"
        if sym is not None and sym.address + sym.size - lo <= MAX_STACK:
            return sym.address + sym.size, (
                f"end of static object {sym.name} (pxStack 0x{lo - sym.address:x} bytes "
                f"inside it; its symbol size, no DWARF rows)"
            )
        return None, "unknown: no pxEndOfStack, no object symbol or heap block holds pxStack"


def list_tasks(
    elf: ElfInfo,
    mem: Snapshot,
    unwinder: CfiUnwinder,
    *,
    running: dict[str, int] | None = None,
    psp: int | None = None,
    running_context: str = "its registers when halted",
) -> tuple[list[dict], str, dict | None]:
    """(tasks, note, kernel summary): the running task first, then by priority, highest first
    (in the kernel's list order among equals). ``running`` = the registers of the running task
    as it was interrupted (r0..r12, sp, lr, pc), ``psp`` the core's PSP, when known."""
    lay, why = freertos_layout(elf)
    if lay is None:
        return [], why, None
    notes: list[str] = []
    current = mem.word(lay.current)
    order: list[int] = []
    for kl in lay.lists:
        owners, note = walk_list(mem, lay, kl.address)
        if note:
            notes.append(f"{_list_label(kl, lay)}: {note}")
        order += [t for t in owners if t not in order]
    if current and current not in order:
        notes.append(f"pxCurrentTCB 0x{current:08x} is in no kernel list")
        order.append(current)
    if len(order) > MAX_TASKS:
        notes.append(f"more than {MAX_TASKS} tasks: list cut")
        order = order[:MAX_TASKS]
    counted = mem.word(lay.count) if lay.count is not None else None
    if counted is not None and counted != len(order):
        notes.append(f"uxCurrentNumberOfTasks is {counted}, the lists hold {len(order)} tasks")
    port = port_of(elf.elf)
    bounds = StackBounds(elf, mem)
    tasks: list[dict] = []
    raws = {tcb: read_bytes(mem, tcb, lay.tcb_size) for tcb in order}
    bounds.expect([lay.field(r, "stack") or 0 for r in raws.values() if r is not None])
    for tcb in order:
        raw = raws[tcb]
        if raw is None:
            notes.append(f"task control block at 0x{tcb:08x} is not readable")
            continue
        tasks.append(
            _task(
                lay,
                raw,
                tcb,
                current,
                mem,
                bounds,
                port,
                unwinder.unwind,
                running,
                psp,
                running_context,
            )
        )
    tasks.sort(key=lambda t: (not t["current"], -(t["priority"] or 0)))  # stable: list order
    summary = {
        "kernel": "FreeRTOS",
        "port": port,
        "current_task": next((t["name"] for t in tasks if t["current"]), None),
        "tasks": len(tasks),
        "counted": counted,
        "state_item": lay.member_names["state_item"],
        "end_of_stack": "end_of_stack" in lay.tcb,
        "priorities": lay.priorities,
    }
    return tasks, "; ".join(notes), summary


def _task(
    lay: FreeRtosLayout,
    raw: bytes,
    tcb: int,
    current_tcb: int | None,
    mem: Snapshot,
    bounds: StackBounds,
    port: str,
    unwind: Callable,
    running: dict[str, int] | None,
    psp: int | None,
    running_context: str,
) -> dict:
    current = tcb == current_tcb
    state, held_by = task_state(lay, raw, tcb, current_tcb)
    lo = lay.field(raw, "stack") or 0
    hi, source = bounds.high_end(lo, lay.field(raw, "end_of_stack"))
    saved_sp = lay.field(raw, "top_of_stack") or 0
    sp = psp if current else saved_sp  # the running task's pxTopOfStack is stale
    t: dict = {
        "name": lay.name(raw),
        "state": state,
        "state_list": held_by,
        "priority": lay.field(raw, "priority"),
        "tcb": tcb,
        "stack_lo": lo,
        "stack_hi": hi,
        "stack_bounds_source": source,
        "saved_sp": saved_sp,
        "sp": sp,
        "task_sp": None,
        "high_water": None,
        "unused": None,
        "stack_overflow": None,
        "current": current,
        "context": None,
        "backtrace": [],
        "backtrace_stop": None,
    }
    if hi is not None:
        stack = mem.read(lo, hi - lo)
        if stack is not None:
            unused = len(stack) - len(stack.lstrip(bytes([faults.STACK_FILL_BYTE])))
            t["unused"], t["high_water"] = unused, hi - lo - unused
            # no fill byte left at the bottom, or an SP outside the stack: it overflowed
            t["stack_overflow"] = unused == 0 or (sp is not None and not lo <= sp <= hi)
    if state == "deleted":
        t["backtrace_stop"] = "deleted: its stack is no longer its own"
        return t
    if current:
        regs = running
        t["context"] = running_context if regs is not None else None
    else:
        regs = saved_context(mem, saved_sp, port)
        t["context"] = f"saved by the context switch ({port} port layout)"
    if regs is None:
        t["backtrace_stop"] = (
            "the running task's registers are not known"
            if current
            else f"saved context at 0x{saved_sp:08x} is not readable as {port}'s"
        )
        return t
    t["task_sp"] = regs.get("sp")  # the SP its code had, above the context or frame
    res = unwind(regs, mem.word, stack=(lo, hi) if hi is not None else None)
    t["backtrace"] = [{k: f[k] for k in ("pc", "function", "file", "line")} for f in res.frames]
    t["backtrace_stop"] = res.stop
    return t
