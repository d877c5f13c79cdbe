"""The threads of the firmware's scheduler, read from its own structures by symbol and DWARF.

Contract A (docs: the shared design's cross-team contracts): ``os_thread_list`` heads a list of
``struct os_thread`` {saved_sp, next, stack_lo, stack_size, state, priority, name[16], ...}
linked by ``next``; ``os_current`` is the running thread. Field offsets and sizes, and the
names of the ``state`` enumerators, come from the ELF's DWARF (pyelftools), never from
assumptions (arm-none-eabi packs enums into one byte by default, for one). A thread that is not
running has its context saved by the context switch: ``saved_sp`` points at r4..r11 followed by
the hardware frame (:data:`photondbg.cortexm.faults.SAVED_CONTEXT`). Stacks are filled with
0xA5 at creation, so how deep each stack ever went is readable from RAM.

Per thread: name, state, priority, stack_lo, stack_hi, sp (saved SP; for the running thread the
live PSP, read exactly), high_water (the most stack bytes it ever used), unused (bytes never
touched), current, and a backtrace unwound from its saved context (:mod:`.unwind`).
A firmware without these symbols has no scheduler photondbg knows: ``threads`` is then [].
"""

from __future__ import annotations

from dataclasses import dataclass, field

from photondbg.capture.backtrace import frame_at, interrupted_registers, unwinder_for
from photondbg.capture.elfinfo import ElfInfo
from photondbg.capture.unwind import CfiUnwinder, Snapshot, WordSource
from photondbg.cortexm import faults

LIST_SYMBOL = "os_thread_list"
CURRENT_SYMBOL = "os_current"
STRUCT_NAME = "os_thread"
FIELDS = ("saved_sp", "next", "stack_lo", "stack_size", "state", "priority", "name")
MAX_THREADS = 64
MAX_STACK = 256 * 1024  # a stack_size beyond this is not believed


@dataclass(frozen=True)
class ThreadLayout:
    """Where Contract A's fields sit in ``struct os_thread`` (from DWARF)."""

    byte_size: int
    fields: dict[str, tuple[int, int]]  # name -> (offset, size)
    states: dict[int, str] = field(default_factory=dict)

    def get(self, raw: bytes, name: str) -> int:
        off, size = self.fields[name]
        return int.from_bytes(raw[off : off + size], "little")

    def text(self, raw: bytes, name: str) -> str:
        off, size = self.fields[name]
        return raw[off : off + size].split(b"\0", 1)[0].decode("utf-8", "replace")


def thread_layout(elf: ElfInfo) -> tuple[ThreadLayout | None, str]:
    """The layout, or (None, why there is none)."""
    if elf.symbol(LIST_SYMBOL) is None or elf.symbol(CURRENT_SYMBOL) is None:
        return None, f"no scheduler: the ELF has no {LIST_SYMBOL}/{CURRENT_SYMBOL} symbols"
    if not elf.elf.has_dwarf_info():
        return None, "the ELF has no DWARF: the thread structure cannot be read"
    dwarf = elf.elf.get_dwarf_info()
    for cu in dwarf.iter_CUs():
        for die in cu.get_top_DIE().iter_children():
            if (
                die.tag == "DW_TAG_structure_type"
                and _name(die) == STRUCT_NAME
                and "DW_AT_byte_size" in die.attributes
            ):
                layout = _layout(die)
                missing = [f for f in FIELDS if f not in layout.fields]
                if missing:
                    return None, f"struct {STRUCT_NAME} lacks {', '.join(missing)}"
                return layout, ""
    return None, f"struct {STRUCT_NAME} not described in the ELF's DWARF"


def _name(die) -> str | None:
    a = die.attributes.get("DW_AT_name")
    return a.value.decode(errors="replace") if a is not None else None


def _layout(struct) -> ThreadLayout:
    fields: dict[str, tuple[int, int]] = {}
    states: dict[int, str] = {}
    for m in struct.iter_children():
        if m.tag != "DW_TAG_member" or "DW_AT_data_member_location" not in m.attributes:
            continue
        name = _name(m)
        loc = m.attributes["DW_AT_data_member_location"].value
        if not isinstance(loc, int) or name not in FIELDS:
            continue
        typ = _strip(m.get_DIE_from_attribute("DW_AT_type"))
        fields[name] = (loc, _size(typ))
        if name == "state" and typ.tag == "DW_TAG_enumeration_type":
            for e in typ.iter_children():
                if e.tag == "DW_TAG_enumerator":
                    label = _name(e) or "?"
                    states[e.attributes["DW_AT_const_value"].value] = label.removeprefix(
                        "OS_THREAD_"
                    ).lower()
    return ThreadLayout(struct.attributes["DW_AT_byte_size"].value, fields, states)


def _strip(die):
    while (
        die.tag in ("DW_TAG_typedef", "DW_TAG_volatile_type", "DW_TAG_const_type")
        and "DW_AT_type" in die.attributes
    ):
        die = die.get_DIE_from_attribute("DW_AT_type")
    return die


def _size(typ) -> int:
    if "DW_AT_byte_size" in typ.attributes:
        return typ.attributes["DW_AT_byte_size"].value
    if typ.tag == "DW_TAG_array_type":
        count = 1
        for sub in typ.iter_children():
            if sub.tag == "DW_TAG_subrange_type":
                if "DW_AT_count" in sub.attributes:
                    count *= sub.attributes["DW_AT_count"].value
                elif "DW_AT_upper_bound" in sub.attributes:
                    count *= sub.attributes["DW_AT_upper_bound"].value + 1
        return count * _size(_strip(typ.get_DIE_from_attribute("DW_AT_type")))
    return 4  # pointers without a byte size (DWARF 2 style) on a 32-bit target


def saved_context(mem: WordSource, saved_sp: int) -> dict[str, int] | None:
    """Registers a context switch saved at ``saved_sp`` (r4..r11 + hardware frame), with the
    thread's SP as it was before the switch (frame size + the STKALIGN pad)."""
    raw = mem.read(saved_sp, 4 * len(faults.SAVED_CONTEXT))
    if raw is None:
        read = [mem.word(saved_sp + 4 * i) for i in range(len(faults.SAVED_CONTEXT))]
        words = [w for w in read if w is not None]
        if len(words) != len(read):
            return None
    else:
        words = [int.from_bytes(raw[i : i + 4], "little") for i in range(0, len(raw), 4)]
    regs = dict(zip(faults.SAVED_CONTEXT, words))
    frame_at = saved_sp + 4 * (len(faults.SAVED_CONTEXT) - len(faults.BASIC_FRAME))
    regs["sp"] = faults.frame_caller_sp(
        frame_at, {"frame_bytes": faults.BASIC_FRAME_BYTES}, regs["xpsr"]
    )
    return regs


def list_threads(
    elf: ElfInfo,
    mem: Snapshot,
    *,
    running: dict[str, int] | None = None,
    psp: int | None = None,
    running_context: str = "its registers when halted",
) -> tuple[list[dict], str]:
    """Every thread, in list order, and a note ('' when all is well). ``running`` = the
    registers of the running thread as it was interrupted (r0..r12, sp, lr, pc), and ``psp``
    the core's PSP, when known."""
    layout, why = thread_layout(elf)
    if layout is None:
        return [], why
    head = mem.word(elf.symbol(LIST_SYMBOL).address)
    current = mem.word(elf.symbol(CURRENT_SYMBOL).address)
    if head is None:
        return [], f"{LIST_SYMBOL} is not readable"
    unwinder = unwinder_for(elf)
    out: list[dict] = []
    seen: set[int] = set()
    tcb, note = head, ""
    while tcb:
        if tcb in seen:
            note = f"the thread list loops back to 0x{tcb:08x}"
            break
        if len(out) >= MAX_THREADS:
            note = f"more than {MAX_THREADS} threads: list cut"
            break
        seen.add(tcb)
        raw = mem.read(tcb, layout.byte_size) or _read_words(mem, tcb, layout.byte_size)
        if raw is None:
            note = f"thread control block at 0x{tcb:08x} is not readable"
            break
        out.append(
            _thread(layout, raw, tcb, tcb == current, mem, running, psp, unwinder, running_context)
        )
        tcb = layout.get(raw, "next")
    return out, note


def _read_words(mem: Snapshot, addr: int, length: int) -> bytes | None:
    words = [mem.word(addr + i) for i in range(0, length, 4)]
    if any(w is None for w in words):
        return None
    return b"".join(w.to_bytes(4, "little") for w in words)[:length]


def _thread(
    layout: ThreadLayout,
    raw: bytes,
    tcb: int,
    current: bool,
    mem: Snapshot,
    running: dict[str, int] | None,
    psp: int | None,
    unwinder: CfiUnwinder,
    running_context: str,
) -> dict:
    state_value = layout.get(raw, "state")
    lo, size = layout.get(raw, "stack_lo"), layout.get(raw, "stack_size")
    hi = lo + size if 0 < size <= MAX_STACK else None
    saved_sp = layout.get(raw, "saved_sp")
    sp = psp if current else saved_sp  # the current thread's saved_sp is stale: it runs on the PSP
    t = {
        "name": layout.text(raw, "name"),
        "state": layout.states.get(state_value, str(state_value)),
        "priority": layout.get(raw, "priority"),
        "tcb": tcb,
        "stack_lo": lo,
        "stack_hi": hi,
        "saved_sp": saved_sp,
        "sp": sp,
        "high_water": None,
        "unused": None,
        "stack_overflow": None,
        "current": current,
        "context": None,
        "backtrace": [],
        "backtrace_stop": None,
    }
    if hi is not None:
        stack = mem.read(lo, size)
        if stack is not None:
            fill = bytes([faults.STACK_FILL_BYTE])
            unused = len(stack) - len(stack.lstrip(fill))
            t["unused"], t["high_water"] = unused, size - unused
            # no fill byte left at the bottom, or an SP outside the stack: it overflowed
            t["stack_overflow"] = unused == 0 or (sp is not None and not lo <= sp <= hi)
    if current:
        regs = running
        t["context"] = running_context if regs is not None else None
    else:
        regs = saved_context(mem, saved_sp)
        t["context"] = "saved by the context switch"
    if regs is None:
        t["backtrace_stop"] = (
            "the running thread's registers are not known"
            if current
            else f"saved context at 0x{saved_sp:08x} is not readable"
        )
        return t
    res = unwinder.unwind(regs, mem.word, stack=(lo, hi) if hi is not None else None)
    t["backtrace"] = [{k: f[k] for k in ("pc", "function", "file", "line")} for f in res.frames]
    t["backtrace_stop"] = res.stop
    return t


def for_capture(elf: ElfInfo, report: dict, mem: Snapshot) -> tuple[list[dict], str]:
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
) -> tuple[list[dict], str]:
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
    out = [
        "## Threads",
        "",
        "| thread | state | prio | stack | sp | high water / size |",
        "|---|---|---|---|---|---|",
    ]
    for t in threads:
        size = (t["stack_hi"] - t["stack_lo"]) if t.get("stack_hi") else None
        out.append(
            f"| {t['name']}{' (current)' if t.get('current') else ''} | {t['state']} | "
            f"{t.get('priority')} | {_hx(t.get('stack_lo'))}-{_hx(t.get('stack_hi'))} | "
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
