"""FreeRTOS kernel awareness on tests/firmware/faults/rtos_task*.c: a minimal kernel of our own in
FreeRTOS's layout, six tasks (blocked on a delay, blocked for ever on an event, suspended, ready,
never run, and the running one faulting three calls deep on its PSP). Every expected value is
measured by the firmware or read by plain QEMU + gdb-multiarch (tests/capture/truth.py), never
by photondbg: stack buffers, the TCBs' saved SPs, and the SP each task had when it switched out."""

from __future__ import annotations

import pytest
from truth import ground_truth

from photondbg.capture.elfinfo import ElfInfo

# task index in the firmware's tcb[] -> (name, state, priority, backtrace to its entry)
TASKS = {
    0: ("IDLE", "ready", 0, ["idle_main"]),
    1: (
        "logger",
        "suspended",
        1,
        ["task_yield", "task_suspend_self", "logger_flush", "logger_main"],
    ),
    2: ("worker", "ready", 1, ["task_yield", "worker_step", "worker_main"]),
    3: ("app", "running", 1, ["app_compute", "app_step", "app_main"]),
    4: ("sensor", "blocked", 2, ["task_yield", "task_delay", "sensor_read", "sensor_main"]),
    5: ("net", "blocked", 3, ["task_yield", "event_wait_forever", "net_poll", "net_main"]),
}
SWITCHED_OUT = (1, 2, 4, 5)  # tasks that ran and were switched out by PendSV
STACK_BYTES = 192 * 4
VARIANTS = {  # firmware -> (state item member, stack bounds source of task i)
    "rtos_task": ("xStateListItem", lambda i: f"static buffer stack_{_buffer(i)}"),
    "rtos_task_v8": ("xGenericListItem", lambda i: "heap block (heap_4)"),
    "rtos_task_eos": ("xStateListItem", lambda i: "pxEndOfStack"),
    "rtos_task_stacks": ("xStateListItem", lambda i: _row(i)),
}


def _row(i: int) -> str:
    """rtos_task_stacks.c: task i's stack is task_stacks[i - 1]; IDLE's is 8 words into a
    flat pool, whose DWARF type has no rows: bounded by the pool's symbol."""
    if i == 0:
        return (
            "end of static object idle_pool (pxStack 0x20 bytes inside it; its symbol size, "
            "no DWARF rows)"
        )
    return f"static array task_stacks[{i - 1}] (DWARF: rows of {STACK_BYTES} bytes)"


def _buffer(i: int) -> str:
    return ["idle", "logger", "worker", "app", "sensor", "net"][i]


def truth_of(elf, machine="netduino2") -> dict:
    extra = []
    for i in TASKS:
        extra += [f"stack_lo[{i}]", f"stack_hi[{i}]", f"yield_sp[{i}]"]
        extra += [f"(unsigned)tcb[{i}].pxTopOfStack", f"&tcb[{i}]"]
    return ground_truth(elf, machine, extra=extra)


@pytest.mark.parametrize("firmware", sorted(VARIANTS))
def test_every_task_exactly(fault_elves, capture, firmware):
    elf = fault_elves[firmware]
    truth = truth_of(elf)
    r = capture(elf)
    assert r.outcome == "fault" and r.report["fault"]["stack"] == "psp"
    item, source = VARIANTS[firmware]
    kernel = r.report["rtos"]
    assert kernel["kernel"] == "FreeRTOS" and kernel["port"] == "ARM_CM3"
    assert kernel["current_task"] == "app" and kernel["state_item"] == item
    assert kernel["tasks"] == kernel["counted"] == len(TASKS)
    assert kernel["end_of_stack"] == (firmware == "rtos_task_eos")
    by_tcb = {t["tcb"]: t for t in r.report["threads"]}
    ram = (r.capdir / "ram.bin").read_bytes()
    base = r.report["dumps"]["ram"]["address"]
    for i, (name, state, prio, bt) in TASKS.items():
        t = by_tcb[truth[f"&tcb[{i}]"]]
        assert (t["name"], t["state"], t["priority"]) == (name, state, prio)
        assert t["current"] == (name == "app")
        lo, hi = truth[f"stack_lo[{i}]"], truth[f"stack_hi[{i}]"]
        if firmware == "rtos_task_eos":  # the top word the kernel gave it, 8-aligned down
            hi = ((hi - 4) & ~7) + 4
        assert (t["stack_lo"], t["stack_hi"]) == (lo, hi)
        assert t["stack_bounds_source"] == source(i)
        assert t["saved_sp"] == truth[f"(unsigned)tcb[{i}].pxTopOfStack"]
        if i in SWITCHED_OUT:  # r4-r11 below the hardware frame PendSV's entry pushed
            frame = (truth[f"yield_sp[{i}]"] - 32) & ~7
            assert t["saved_sp"] == t["sp"] == frame - 32
        stack = ram[lo - base : hi - base]
        untouched = len(stack) - len(stack.lstrip(b"\xa5"))
        assert (t["unused"], t["high_water"]) == (untouched, hi - lo - untouched)
        assert t["stack_overflow"] is False
        assert [b["function"] for b in t["backtrace"]] == bt
        assert "task_exit_error" in t["backtrace_stop"]
    app = by_tcb[truth["&tcb[3]"]]
    assert app["sp"] == truth["psp"] == r.report["fault"]["stack_pointers"]["psp"]
    assert [b["function"] for b in r.report["backtrace"]] == TASKS[3][3]
    assert by_tcb[truth["&tcb[5]"]]["state_list"] == "xSuspendedTaskList"  # with an event item
    assert by_tcb[truth["&tcb[4]"]]["state_list"] == "xDelayedTaskList1"


def test_report_names_the_kernel_and_the_current_task(fault_elves, capture):
    r = capture(fault_elves["rtos_task_v8"])
    md = (r.capdir / "report.md").read_text()
    assert "FreeRTOS (ARM_CM3 port, xGenericListItem): current task `app`, 6 tasks." in md
    assert "| net | blocked | 3 |" in md and "heap block (heap_4)" in md
    from photondbg.render.html import render_html

    page = render_html(r.capdir, r.report)
    assert "FreeRTOS (ARM_CM3 port, xGenericListItem): current task <code>app</code>" in page
    assert "<td>heap block (heap_4)</td>" in page


def test_layout_from_dwarf_not_assumed(fault_elves):
    """Offsets differ between the variants (pxEndOfStack, member names): all read from DWARF."""
    from photondbg.rtos.layout import freertos_layout

    plain, _ = freertos_layout(ElfInfo(fault_elves["rtos_task"]))
    eos, _ = freertos_layout(ElfInfo(fault_elves["rtos_task_eos"]))
    v8, _ = freertos_layout(ElfInfo(fault_elves["rtos_task_v8"]))
    assert plain and eos and v8
    assert "end_of_stack" not in plain.tcb and eos.tcb["end_of_stack"][0] == plain.tcb_size
    assert v8.member_names["state_item"] == "xGenericListItem"
    assert plain.item == v8.item == {"next": 4, "owner": 12, "container": 16}
    assert plain.priorities == 5 and plain.tcb["name"] == (52, 16)


def test_rows_of_an_array_of_stacks_from_dwarf(fault_elves):
    """``T a[N][M]`` (one array type, two subranges) and ``row_t a[N]`` with ``typedef T
    row_t[M]`` (two nested array types) both give the row size; a flat array has no rows."""
    from photondbg.rtos import dwarf

    names = {"task_stacks", "spare_rows", "idle_pool"}
    found = dwarf.variables(ElfInfo(fault_elves["rtos_task_stacks"]).elf, names)
    rows = {
        n: dwarf.element_of_rows(dwarf.type_of(found[n]))
        for n in ("task_stacks", "spare_rows", "idle_pool")
    }
    assert rows == {"task_stacks": STACK_BYTES, "spare_rows": 64, "idle_pool": None}


WORDS = 80  # words read above a saved SP: the ARM_CM4F context with FP state is 9 + 16 + 26


class Words:
    """Memory as plain GDB read it (word by word), for the saved-context decoder."""

    def __init__(self, words: dict[int, int]):
        self.words = words

    def read(self, addr: int, length: int) -> bytes | None:
        return None

    def word(self, addr: int) -> int | None:
        return self.words.get(addr)


def test_cm4f_saved_contexts_on_netduinoplus2(fault_elves):
    """The ARM_CM4F port's layout, decoded from the real firmware on netduinoplus2 (run by plain
    QEMU + GDB): "sensor" used the FPU before it switched out (EXC_RETURN FTYPE 0: S16-S31 and
    an extended frame), "worker" did not (basic frame). The SP each had before the switch, as
    decoded, equals the SP the task recorded itself."""
    from photondbg.rtos.context import port_of, saved_context

    elf = fault_elves["rtos_task_m4f"]
    assert port_of(ElfInfo(elf).elf) == "ARM_CM4F"
    assert port_of(ElfInfo(fault_elves["rtos_task"]).elf) == "ARM_CM3"
    extra = []
    for i in (2, 4):
        extra += [f"yield_sp[{i}]", f"(unsigned)tcb[{i}].pxTopOfStack"]
        extra += [f"((unsigned*)tcb[{i}].pxTopOfStack)[{k}]" for k in range(WORDS)]
    truth = ground_truth(elf, "netduinoplus2", extra=extra)
    for i, exc, fp in ((2, 0xFFFFFFFD, False), (4, 0xFFFFFFED, True)):
        top = truth[f"(unsigned)tcb[{i}].pxTopOfStack"]
        mem = Words(
            {top + 4 * k: truth[f"((unsigned*)tcb[{i}].pxTopOfStack)[{k}]"] for k in range(WORDS)}
        )
        regs = saved_context(mem, top, "ARM_CM4F")
        assert regs is not None and regs["exc_return"] == exc
        assert regs["sp"] == truth[f"yield_sp[{i}]"]
        assert ("s16" in regs) == fp and ("fpscr" in regs) == fp
        assert ElfInfo(elf).function_at(regs["pc"])[0].name == "task_yield"
    assert saved_context(mem, top, "ARM_CM3")["pc"] != regs["pc"]  # the wrong port misreads


def test_cm4f_extended_frame_with_the_alignment_pad():
    """A synthetic ARM_CM4F context: FP state, an extended frame whose xPSR bit 9 says the
    hardware added a 4-byte pad: the task's SP is above the 0x68-byte frame plus the pad."""
    from photondbg.rtos.context import saved_context

    top = 0x20001000
    words = list(range(0x40, 0x48)) + [0xFFFFFFED]  # r4-r11, EXC_RETURN (FTYPE 0, PSP)
    words += [0x3F800000 + k for k in range(16)]  # s16-s31
    frame = [1, 2, 3, 4, 12, 0x08000101, 0x08000200, 0x01000200]  # xPSR bit 9: padded
    words += frame + [0x40000000 + k for k in range(16)] + [0x03000000, 0]  # s0-s15, fpscr
    mem = Words({top + 4 * k: w for k, w in enumerate(words)})
    regs = saved_context(mem, top, "ARM_CM4F")
    assert regs["r11"] == 0x47 and regs["s31"] == 0x3F80000F and regs["s0"] == 0x40000000
    assert regs["pc"] == 0x08000200 and regs["fpscr"] == 0x03000000
    assert regs["sp"] == top + 4 * (9 + 16) + 0x68 + 4
    words[8] = 0x12345678  # not an EXC_RETURN: not a context this port saved
    assert (
        saved_context(Words({top + 4 * k: w for k, w in enumerate(words)}), top, "ARM_CM4F") is None
    )


def test_cm4f_port_captured_on_netduinoplus2(fault_elves, capture):
    """The same tasks on a Cortex-M4F (machine inferred from the ELF): the ARM_CM4F port's
    contexts, "sensor" with its FP state (S16-S31 + an extended frame), every saved SP equal
    to what the task recorded before its switch, every backtrace to the task's entry."""
    elf = fault_elves["rtos_task_m4f"]
    truth = truth_of(elf, "netduinoplus2")
    r = capture(elf)
    assert r.outcome == "fault" and r.report["target"]["machine"] == "netduinoplus2"
    assert r.report["rtos"]["port"] == "ARM_CM4F" and r.report["rtos"]["current_task"] == "app"
    by_tcb = {t["tcb"]: t for t in r.report["threads"]}
    for i, (name, state, prio, bt) in TASKS.items():
        t = by_tcb[truth[f"&tcb[{i}]"]]
        assert (t["name"], t["state"], t["priority"]) == (name, state, prio)
        assert t["saved_sp"] == truth[f"(unsigned)tcb[{i}].pxTopOfStack"]
        if i in SWITCHED_OUT:
            fp = name == "sensor"  # used the FPU: extended frame, then S16-S31 + r4-r11, r14
            frame = (truth[f"yield_sp[{i}]"] - (104 if fp else 32)) & ~7
            assert t["saved_sp"] == frame - (100 if fp else 36), name
        assert [b["function"] for b in t["backtrace"]] == bt
        assert t["context"] == (
            "its registers when the fault was taken"
            if name == "app"
            else "saved by the context switch (ARM_CM4F port layout)"
        )


def test_states_from_the_holding_list_and_a_broken_list(fault_elves, capture):
    """The captured RAM with list fields changed as the kernel would leave them: an event item
    in xPendingReadyList (readied while the scheduler was suspended) is ready, a state item in
    xTasksWaitingTermination is deleted (and not unwound); a list whose link loops is cut with
    a note, never followed for ever."""
    from photondbg.capture.threads import list_threads
    from photondbg.capture.unwind import Snapshot
    from photondbg.rtos.layout import freertos_layout

    elf = fault_elves["rtos_task"]
    info = ElfInfo(elf)
    lay = freertos_layout(info)[0]
    r = capture(elf)
    base = r.report["dumps"]["ram"]["address"]
    ram = bytearray((r.capdir / "ram.bin").read_bytes())
    tcb = {t["name"]: t["tcb"] for t in r.report["threads"]}
    lists = {kl.symbol: kl.address for kl in lay.lists}

    def poke(addr: int, value: int) -> None:
        ram[addr - base : addr - base + 4] = value.to_bytes(4, "little")

    poke(tcb["sensor"] + lay.item_word("event_item", "container"), lists["xPendingReadyList"])
    poke(
        tcb["logger"] + lay.item_word("state_item", "container"), lists["xTasksWaitingTermination"]
    )
    tasks, note, _ = list_threads(info, Snapshot(base, bytes(ram)))
    got = {t["name"]: (t["state"], t["state_list"]) for t in tasks}
    assert got["sensor"] == ("ready", "xPendingReadyList") and note == ""
    assert got["logger"] == ("deleted", "xTasksWaitingTermination")
    logger = next(t for t in tasks if t["name"] == "logger")
    assert logger["backtrace"] == [] and "deleted" in logger["backtrace_stop"]

    delayed = lists["xDelayedTaskList1"]
    item = tcb["sensor"] + lay.tcb["state_item"][0]
    poke(item + lay.item["next"], item)  # the delayed list's only item points at itself
    tasks, note, kernel = list_threads(info, Snapshot(base, bytes(ram)))
    assert f"list at 0x{delayed:08x} does not end after its 1 items" in note
    assert kernel["tasks"] == len(TASKS)  # the task before the loop is still listed


def test_irq_fault_over_an_fpu_task_on_netduinoplus2(fault_elves, capture):
    """IRQ0's handler faults over the running task "app", which had used the FPU and had its SP
    4 bytes off alignment: IRQ0's entry stacked an EXTENDED frame (0x68 bytes) with the pad.
    Only EXC_RETURN 0xFFFFFFED says so: the task's SP (the one it recorded when it pended IRQ0)
    and its backtrace are exact, and the fault's walk marks that frame at the exact PSP."""
    elf = fault_elves["rtos_task_irq_fpu"]
    truth = ground_truth(elf, "netduinoplus2", extra=["app_irq_sp", "&tcb[3]"])
    r = capture(elf)
    f = r.report["fault"]
    assert r.outcome == "fault" and f["vector"] == "HardFault" and f["stack"] == "msp"
    assert f["exc_return"] == truth["exc_return"] and f["stack_pointers"]["psp"] == truth["psp"]
    bt = r.report["backtrace"]
    assert [b["function"] for b in bt] == [
        "irq_filter",
        "Irq0_Handler",
        "<exception frame>",
        "app_irq_now",
        "app_irq_step",
        "app_main",
    ]
    assert (bt[2]["exc_return"], bt[2]["frame_address"]) == (0xFFFFFFED, truth["psp"])
    app = next(t for t in r.report["threads"] if t["tcb"] == truth["&tcb[3]"])
    assert app["current"] and app["name"] == "app" and app["sp"] == truth["psp"]
    assert app["task_sp"] == truth["app_irq_sp"] == truth["psp"] + 0x68 + 4
    assert [b["function"] for b in app["backtrace"]] == ["app_irq_now", "app_irq_step", "app_main"]
    assert "task_exit_error" in app["backtrace_stop"]
    assert app["context"] == (
        "the hardware frame at the PSP, as the EXC_RETURN its handler's CFI unwind reached "
        "says (EXC_RETURN 0xffffffed: extended frame, 0x68 bytes + the 4-byte alignment pad; "
        "r4-r11 restored by CFI)"
    )
    # without the walk: the EXC_RETURN still in the handler's LR is as exact; with nothing
    # at all the frame is read as a basic one, and the context says so (its SP is then wrong)
    from photondbg.capture.threads import under_handler
    from photondbg.capture.unwind import Snapshot

    mem = Snapshot(r.report["dumps"]["ram"]["address"], (r.capdir / "ram.bin").read_bytes())
    core = f["registers"]
    regs, how = under_handler(ElfInfo(elf), mem, None, truth["psp"], core, 0xFFFFFFED)
    assert regs["sp"] == truth["app_irq_sp"] and "the handler's EXC_RETURN in LR says" in how
    regs, how = under_handler(ElfInfo(elf), mem, None, truth["psp"], core, None)
    assert regs["sp"] == truth["psp"] + 0x20 + 4 and "read as a BASIC frame" in how
    # a core stopped inside IRQ0's handler (no fault: for_halt) reads the task the same way
    from photondbg.capture.backtrace import interrupted_registers
    from photondbg.capture.threads import for_halt

    in_irq = interrupted_registers(f)
    in_irq["xpsr"] = f["frame"]["xpsr"]
    tasks, _, _ = for_halt(ElfInfo(elf), in_irq, truth["psp"], mem)
    halted = next(t for t in tasks if t["current"])
    assert halted["task_sp"] == truth["app_irq_sp"] and "CFI unwind reached" in halted["context"]
    assert [b["function"] for b in halted["backtrace"]] == [
        "app_irq_now",
        "app_irq_step",
        "app_main",
    ]
