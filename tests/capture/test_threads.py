"""Threads listed from the scheduler's own structures (symbol + DWARF) and unwound from their
saved contexts by the ELF's call-frame information, on tests/firmware/faults/threads.c: a
test-fixture scheduler in FreeRTOS's kernel-awareness layout (main and net switched out by
PendSV, worker faulting on its PSP). Expected values come from the firmware's ELF and RAM,
not from photondbg."""

from __future__ import annotations

from photondbg.capture.elfinfo import ElfInfo
from photondbg.rtos.layout import freertos_layout

RAM_BASE = 0x20000000
STACK_BYTES = 512


def named(threads) -> dict:
    return {t["name"]: t for t in threads}


def ram_word(capdir, addr) -> int:
    data = (capdir / "ram.bin").read_bytes()
    return int.from_bytes(data[addr - RAM_BASE : addr - RAM_BASE + 4], "little")


def test_every_thread_listed_with_its_stack(fault_elves, capture):
    elf = fault_elves["threads"]
    info = ElfInfo(elf)
    r = capture(elf)
    listed = {t["name"]: t for t in r.report["threads"]}  # in the kernel's list order
    threads = [listed["main"], listed["net"], listed["worker"]]
    assert len(listed) == 3
    assert [t["state"] for t in threads] == ["ready", "blocked", "running"]
    assert [t["priority"] for t in threads] == [2, 7, 2]
    assert [t["current"] for t in threads] == [False, False, True]
    ram = (r.capdir / "ram.bin").read_bytes()
    tcb_size = freertos_layout(info)[0].tcb_size
    for i, t in enumerate(threads):
        stack = info.symbol(f"stack_{t['name']}")
        assert (t["stack_lo"], t["stack_hi"]) == (stack.address, stack.address + STACK_BYTES)
        assert t["stack_bounds_source"] == f"static buffer stack_{t['name']}"
        assert t["tcb"] == info.symbol("tcb").address + i * tcb_size
        stack = ram[t["stack_lo"] - RAM_BASE : t["stack_hi"] - RAM_BASE]
        untouched = len(stack) - len(stack.lstrip(b"\xa5"))
        assert t["unused"] == untouched and t["high_water"] == STACK_BYTES - untouched
        assert t["stack_lo"] <= t["sp"] < t["stack_hi"]
    main, net, worker = threads
    for t in (main, net):  # switched out: SP = what PendSV saved, as the TCB holds it
        assert t["sp"] == t["saved_sp"] == ram_word(r.capdir, t["tcb"])
        assert t["high_water"] >= 64  # at least the saved context
    f = r.report["fault"]
    recorded = ram_word(r.capdir, info.symbol("psp_before_fault").address)
    assert worker["sp"] == f["stack_pointers"]["psp"] == (recorded - 32) & ~7
    assert r.report["outcome"] == "fault" and f["stack"] == "psp"
    assert ram_word(r.capdir, info.symbol("net_polls").address) == 1


def test_backtraces_reach_each_thread_entry(fault_elves, capture):
    r = capture(fault_elves["threads"])
    bt = {t["name"]: [b["function"] for b in t["backtrace"]] for t in r.report["threads"]}
    assert bt["main"] == ["os_yield", "app_wait", "app_loop", "main"]
    assert bt["net"] == ["os_yield", "net_poll", "net_main"]
    assert bt["worker"] == ["crunch", "work_step", "worker_main"]
    worker = named(r.report["threads"])["worker"]
    assert "thread_exit" in worker["backtrace_stop"]
    assert all(b["file"].endswith("threads.c") and b["line"] for b in worker["backtrace"])
    # the faulting thread's backtrace in the report is the same, through its PSP frame
    assert [b["function"] for b in r.report["backtrace"]] == bt["worker"]
    assert r.report["backtrace_source"].startswith("cfi")
    assert r.report["fault"]["faulting_symbol"] == "crunch"


def test_firmware_without_a_scheduler_has_no_threads(fault_elves, capture):
    r = capture(fault_elves["deep_chain"])
    assert r.report["threads"] == []
    assert "no RTOS kernel known" in r.report["threads_note"]


def test_layout_read_from_dwarf(fault_elves):
    """Offsets and sizes of the TCB and lists come from DWARF, and only the lists the kernel
    has are read (this one has no delayed, pending or termination list)."""
    layout, why = freertos_layout(ElfInfo(fault_elves["threads"]))
    assert why == ""
    assert layout.tcb["top_of_stack"] == (0, 4) and layout.tcb["name"] == (52, 16)
    assert layout.tcb["state_item"] == (4, 20) and layout.tcb["priority"] == (44, 4)
    assert {kl.symbol for kl in layout.lists} == {"pxReadyTasksLists", "xSuspendedTaskList"}
    assert layout.priorities == 8 and layout.count is None


def test_a_used_up_stack_is_flagged(fault_elves, capture):
    """The same snapshot with one thread's 0xA5 fill overwritten: stack_overflow, computed
    from RAM (the firmware never checks it)."""
    from photondbg.capture.threads import list_threads
    from photondbg.capture.unwind import Snapshot

    elf = fault_elves["threads"]
    r = capture(elf)
    assert [t["stack_overflow"] for t in r.report["threads"]] == [False, False, False]
    listed = named(r.report["threads"])
    assert listed["main"]["context"] == "saved by the context switch (ARM_CM3 port layout)"
    assert listed["worker"]["context"] == "its registers when the fault was taken"
    ram = bytearray((r.capdir / "ram.bin").read_bytes())
    net = listed["net"]
    lo = net["stack_lo"] - RAM_BASE
    ram[lo : lo + net["unused"]] = b"\x5a" * net["unused"]
    threads, _, _ = list_threads(ElfInfo(elf), Snapshot(RAM_BASE, bytes(ram)))
    assert {t["name"]: t["stack_overflow"] for t in threads} == {
        "main": False,
        "net": True,
        "worker": False,
    }
    assert named(threads)["net"]["unused"] == 0


def test_fault_in_a_handler_unwinds_the_interrupted_thread(fault_elves, capture):
    """The worker calls svc and SVC_Handler faults: the fault frame is on the MSP, the worker's
    registers only in the hardware frame SVC entry pushed on its PSP."""
    elf = fault_elves["threads_svc"]
    r = capture(elf)
    f = r.report["fault"]
    assert f["stack"] == "msp" and f["exc_return_decoded"]["mode"] == "handler"
    assert f["faulting_symbol"] == "SVC_Handler"
    worker = named(r.report["threads"])["worker"]
    assert worker["current"] and worker["sp"] == f["stack_pointers"]["psp"]
    recorded = ram_word(r.capdir, ElfInfo(elf).symbol("psp_before_fault").address)
    assert worker["sp"] == (recorded - 32) & ~7  # the frame SVC entry pushed
    assert "hardware frame at the PSP" in worker["context"]
    assert [b["function"] for b in worker["backtrace"]] == ["crunch", "work_step", "worker_main"]


def test_a_hang_shows_where_each_thread_is(fault_elves, capture):
    """Nothing faults within the time-out: the core is stopped and every thread listed, the
    running one unwound from the core's own registers."""
    r = capture(fault_elves["threads_hang"], timeout=3.0)
    assert r.outcome == "none" and r.report["fault"] is None
    bt = {t["name"]: [b["function"] for b in t["backtrace"]] for t in r.report["threads"]}
    assert bt == {
        "main": ["os_yield", "app_wait", "app_loop", "main"],
        "net": ["os_yield", "net_poll", "net_main"],
        "worker": ["crunch", "work_step", "worker_main"],
    }
    worker = named(r.report["threads"])["worker"]
    sps = r.report["stopped_at"]["stack_pointers"]
    assert worker["current"] and worker["sp"] == sps["psp"] and sps["method"] == "mrs-stub"
    assert r.report["stopped_at"]["symbol"] == "crunch"


def test_a_hang_without_a_scheduler_lists_no_threads(fault_elves, capture):
    r = capture(fault_elves["spin"], timeout=1.5)
    assert r.outcome == "none" and r.report["threads"] == []
    assert "no RTOS kernel known" in r.report["threads_note"]
