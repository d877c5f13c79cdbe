"""Stacking and unstacking faults (issue 13 item 3), captured through real QEMU + GDB and checked
against the ground truth each firmware records at its handler's entry (truth.h): the exception
wrote no frame, so the report says "no frame" and builds nothing from the stale stack; the
``stack_check`` section places the SP against the stack's bounds and the MPU guard the firmware
programmed, and counts the recursion that filled the stack."""

from __future__ import annotations

import json

from truth import ground_truth

from photondbg.capture.elfinfo import ElfInfo
from photondbg.capture.report import summary
from photondbg.render.html import render_html

MACHINE = "netduino2"


def sym(elf, name) -> int:
    return ElfInfo(elf).symbol(name).address


def fields(reasons: list[str]) -> set[str]:
    return {r.split(":")[0] for r in reasons}


def assert_no_frame(report: dict, field: str) -> None:
    """Nothing of the interrupted code is read from the stack: no frame, PC, caller, backtrace."""
    f = report["fault"]
    assert f["frame"] is None
    assert f["frame_error"].startswith(f"no frame: {field}: ")
    assert f["faulting_pc"] is None and f["faulting_symbol"] is None
    assert f["caller"] is None and f["instruction"] is None
    assert report["backtrace"] == []
    assert report["backtrace_source"].startswith(f"none: no exception frame ({field})")
    assert report["stack_check"]["findings"][0].startswith(f"no frame: {field}: ")


def test_recursion_into_the_main_stack_guard(fault_elves, capture):
    elf = fault_elves["stack_guard"]
    t = ground_truth(elf, MACHINE, extra=["depth", "guard_base", "guard_end"])
    r = capture(elf)
    f, sc = r.report["fault"], r.report["stack_check"]
    assert t["count"] == 1 and t["ipsr"] == 4  # MemManage, entered once
    assert f["vector"] == "MemManage" and f["vector_number"] == t["ipsr"]
    assert fields(f["reasons"]) == {"DACCVIOL", "MSTKERR", "MMARVALID", "no frame"}
    assert t["guard_base"] <= f["fault_address"] < t["guard_end"]  # the push into the guard
    assert f["exc_return"] == t["exc_return"] == 0xFFFFFFF9 and f["stack"] == "msp"
    assert f["stack_pointer"] == t["msp"] == sc["sp"]
    assert_no_frame(r.report, "MSTKERR")
    assert sc["frame"] == "not written" and sc["stack_error"]["failed"] == "stacking"
    assert sc["bounds"]["lo"] == sym(elf, "_ebss") and sc["bounds"]["hi"] == sym(elf, "_estack")
    assert sc["position"] == "in-guard" and sc["overflow"] == t["guard_end"] - t["msp"]
    g = sc["guard"]
    assert (g["base"], g["end"], g["of"]) == (t["guard_base"], t["guard_end"], "main stack")
    assert g["access"] == "privileged no access, unprivileged no access"
    assert sc["region"]["number"] == g["number"] == 0 and sc["region"]["at"] == t["msp"]
    # every region, though the firmware left MPU_RNR at 3 and QEMU's gdbstub cannot select
    m = sc["mpu"]
    assert m["enable"] and m["privdefena"] and m["read_by"] == "core" and m["restored"]
    assert [(x["number"], x["base"], x["size"]) for x in m["regions"]] == [
        (0, t["guard_base"], 256),
        (3, 0x08000000, 1 << 20),
    ]
    assert m["regions"][1]["access"] == "privileged read-only, unprivileged read-only"
    # every recurse() call that had begun pushed its return address into its caller, except
    # the first (into main); the faulting push is the next call's: depth - 1 of them
    count = t["depth"] - 1
    assert sc["recursion"] == {"function": "recurse", "count": count, "unbounded": True}
    assert f"recurse() appears {count} times: unbounded recursion" in sc["findings"]
    ra = sc["return_addresses"]
    assert ra["scanned_from"] == t["msp"] and ra["scanned_to"] == sym(elf, "_estack")
    md = (r.capdir / "report.md").read_text()
    assert "## Stack check" in md and f"recurse() appears {count} times" in md
    assert "Stacked frame: none (no frame: MSTKERR" in md
    gdb_fault = (r.capdir / "gdb-fault.txt").read_text()  # the standalone GDB `fault` command
    assert f"MSP 0x{t['msp']:08x}: no frame: MSTKERR" in gdb_fault
    assert "Stacked frame at" not in gdb_fault
    page = render_html(r.capdir, json.loads(r.report_path.read_text()))
    assert 'id="stack-check"' in page and f"recurse() appears {count} times" in page
    assert "guard of the main stack" in page


def test_recursion_into_a_thread_stack_guard(fault_elves, capture):
    elf = fault_elves["thread_guard"]
    t = ground_truth(elf, MACHINE, extra=["depth", "guard_base", "guard_end", "stack_top"])
    r = capture(elf)
    f, sc = r.report["fault"], r.report["stack_check"]
    assert f["vector"] == "MemManage" and f["vector_number"] == t["ipsr"] == 4
    assert fields(f["reasons"]) == {"DACCVIOL", "MSTKERR", "MMARVALID", "no frame"}
    assert f["exc_return"] == t["exc_return"] == 0xFFFFFFFD and f["stack"] == "psp"
    assert f["stack_pointer"] == t["psp"] == sc["sp"]
    assert f["stack_pointers"]["msp"] == t["msp"]
    assert_no_frame(r.report, "MSTKERR")
    b = sc["bounds"]
    assert (b["lo"], b["hi"], b["kind"]) == (t["guard_base"], t["stack_top"], "thread")
    assert "thread_stack" in b["source"]  # the stack object holding the PSP (no scheduler)
    assert sc["position"] == "in-guard" and sc["overflow"] == t["guard_end"] - t["psp"]
    g = sc["guard"]
    assert (g["base"], g["end"], g["of"]) == (t["guard_base"], t["guard_end"], "thread stack")
    count = t["depth"] - 1
    assert sc["recursion"] == {"function": "recurse", "count": count, "unbounded": True}
    callers = {fn["function"]: fn["count"] for fn in sc["return_addresses"]["functions"]}
    assert callers == {"recurse": count, "thread_entry": 1, "main": 1}


def test_rtos_task_overflows_into_its_guard(fault_elves, capture):
    """A FreeRTOS-layout task (Device OS-like: no MemManage handler) recurses into the MPU guard
    at the bottom of its stack: HardFault forced from MemManage, and its entry could not stack
    either. The stack's bounds come from the threads section (the running task)."""
    elf = fault_elves["rtos_task_overflow"]
    t = ground_truth(elf, MACHINE, extra=["app_depth", "stack_lo[3]", "stack_hi[3]"])
    lo, hi = t["stack_lo[3]"], t["stack_hi[3]"]
    r = capture(elf)
    f, sc = r.report["fault"], r.report["stack_check"]
    assert f["vector"] == "HardFault" and t["ipsr"] == 3
    assert fields(f["reasons"]) == {"DACCVIOL", "MSTKERR", "MMARVALID", "FORCED", "no frame"}
    assert f["exc_return"] == t["exc_return"] == 0xFFFFFFFD
    assert f["stack_pointer"] == t["psp"] == lo == sc["sp"]  # the frame would start at the guard
    assert_no_frame(r.report, "MSTKERR")
    app = next(th for th in r.report["threads"] if th["current"])
    assert app["name"] == "app" and app["backtrace"] == []  # nothing from the stale stack
    b = sc["bounds"]
    assert (b["lo"], b["hi"], b["thread"]) == (lo, hi, "app")
    assert b["source"] == "thread 'app' (threads section)"
    assert sc["position"] == "in-guard" and sc["overflow"] == 32
    g = sc["guard"]
    assert (g["base"], g["size"], g["of"]) == (lo, 32, "thread stack")
    count = t["app_depth"] - 1
    assert sc["recursion"] == {"function": "app_recurse", "count": count, "unbounded": True}
    assert f"app_recurse() appears {count} times: unbounded recursion" in sc["findings"]
    text = summary(r.report, r.report_path)  # what the CLI prints
    assert "  at   unknown: no exception frame" in text
    assert f"  stk  app_recurse() appears {count} times: unbounded recursion" in text


def test_unstacking_fault_from_a_guard(fault_elves, capture):
    elf = fault_elves["unstack_fault"]
    t = ground_truth(elf, MACHINE, extra=["bad_psp", "guard_base", "guard_end"])
    r = capture(elf)
    f, sc = r.report["fault"], r.report["stack_check"]
    assert f["vector"] == "MemManage" and t["ipsr"] == 4
    assert fields(f["reasons"]) == {"MUNSTKERR", "no frame"}
    assert f["fault_address"] is None  # MUNSTKERR sets no MMFAR
    # the return being made: to thread mode on the PSP the handler had just moved
    assert f["exc_return"] == t["exc_return"] == 0xFFFFFFFD
    assert f["stack_pointer"] == t["psp"] == t["bad_psp"]
    assert f["stack_pointers"]["msp"] == t["msp"]
    assert_no_frame(r.report, "MUNSTKERR")
    assert sc["frame"] == "not read back" and sc["stack_error"]["failed"] == "unstacking"
    assert sc["position"] == "in-guard"
    assert (sc["guard"]["base"], sc["guard"]["end"]) == (t["guard_base"], t["guard_end"])
    assert sc["findings"][1].startswith("the exception return read its frame from the guard")
    assert sc["recursion"] is None


def test_stack_pointer_outside_ram(fault_elves, capture):
    elf = fault_elves["bad_sp"]
    t = ground_truth(elf, MACHINE)
    r = capture(elf)
    f, sc = r.report["fault"], r.report["stack_check"]
    assert r.report["status"] == "complete"  # the rest of the capture completed
    # the UDF's UsageFault could not stack at 0x70000000: the derived BusFault is taken
    assert f["vector"] == "BusFault" and t["ipsr"] == 5
    assert fields(f["reasons"]) == {"STKERR", "UNDEFINSTR", "no frame"}
    assert f["stack_pointer"] == t["msp"] == 0x70000000 - 32 == sc["sp"]
    assert f["exc_return"] == t["exc_return"] == 0xFFFFFFF9
    assert_no_frame(r.report, "STKERR")
    assert sc["position"] == "outside-ram" and sc["return_addresses"] is None
    assert "a corrupt stack pointer" in sc["findings"][1]
    assert sc["mpu"]["present"] and not sc["mpu"]["enable"]
    assert r.report["dumps"]["ram"]["length"] == 128 * 1024


def test_fault_command_reads_the_psp_in_place_under_the_mpu(fault_elves, owner, tmp_path):
    """gdb_scripts/fault.py in a plain (synchronous) gdb-multiarch on thread_guard: with the MPU
    on, the MRS stub is stepped in place of the halted code (as stackptr.py does), never in
    RAM below the SP; it reads the exact PSP, and the fault registers, r0-r3, the PC and the
    code are the same after the command as before it."""
    import re
    import subprocess

    from photondbg.paths import GDB_SCRIPTS
    from photondbg.ports import LOOPBACK
    from photondbg.targets.sim import SimTarget

    elf = fault_elves["thread_guard"]
    t = ground_truth(elf, MACHINE)
    handler = sym(elf, "MemManage_Handler") & ~1
    target = SimTarget(elf, owner, logdir=tmp_path, gdb=True).start()
    state = (
        'printf "state %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x %08x\\n", '
        "*(unsigned*)0xE000ED28, *(unsigned*)0xE000ED2C, *(unsigned*)0xE000ED34, "
        "$r0, $r1, $r2, $r3, $pc, *(unsigned*)$pc, *(unsigned*)($pc+4), *(unsigned*)($pc+8)"
    )
    argv = ["gdb-multiarch", "-nx", "-q", "-batch"]
    for cmd in [
        f"target remote {LOOPBACK}:{target.gdb_port}",
        f"source {GDB_SCRIPTS / 'fault.py'}",
        f"break *0x{handler:x}",  # by address: the name also finds startup.c's weak one
        "continue",
        state,
        "fault",
        state,
    ]:
        argv += ["-ex", cmd]
    gdb = owner.spawn(
        "gdb-batch", [*argv, str(elf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = gdb.proc.communicate(timeout=60)
    text = out.decode()
    before, after = re.findall(r"^state (.*)$", text, re.M)
    assert before == after, text  # CFSR, HFSR, MMFAR, r0-r3, PC, the code: untouched
    assert int(before.split()[7], 16) == handler
    assert f"PSP 0x{t['psp']:08x} (read by an MRS stub stepped in place of the halted code" in text
    assert f"PSP 0x{t['psp']:08x}: no frame: MSTKERR" in text
    assert "WARNING" not in text and "Stacked frame at" not in text
