"""Backtraces of faults on fault firmwares that record their own ground truth (truth.h: MSP,
PSP, EXC_RETURN, IPSR at the fault handler's entry; unwind_rig.h's ENTRY_SHIM: the same at an
interrupt's or SVCall's entry): a thread on the PSP faulting deep down, faults inside an
interrupt handler and inside SVCall (unwound through the exception frame into the code they
interrupted), a NULL function pointer and a C++ use-after-free (garbage PCs: the walk goes on
from the stacked LR), one Default_Handler shared by every vector (classified by the exception
number). Every number is compared with the firmware's own, exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIRMWARES
from test_fault_capture import fields
from truth import ground_truth, run_to

from photondbg.capture.backtrace import EXCEPTION_FRAME
from photondbg.capture.report import summary

X = EXCEPTION_FRAME
THREAD_END = "thread_exit"  # the scheduler-planted return address ends a thread's walk
MAIN_END = "main: the start-up code"

# firmware -> (vector, reasons, backtrace functions (None: a PC outside the code), end of walk)
CASES = {
    "psp_deep": (
        "UsageFault",
        {"DIVBYZERO"},
        ["worker_divide", "worker_compute", "worker_step", "worker_entry"],
        THREAD_END,
    ),
    "irq_fault": (
        "UsageFault",
        {"DIVBYZERO"},
        ["irq_divide", "irq_work", "irq_body", X, "pend_irq", "sampler_wait", "sampler_entry"],
        THREAD_END,
    ),
    "irq_fault_msp": (
        "UsageFault",
        {"DIVBYZERO"},
        ["irq_divide", "irq_work", "irq_body", X, "pend_irq", "sampler_wait", "sampler_entry"]
        + ["main"],
        MAIN_END,
    ),
    "svc_escalate": (
        "HardFault",
        {"UNDEFINSTR", "FORCED"},
        ["svc_op", "svc_dispatch", "svc_body", X, "do_svc", "app_request", "app_entry"],
        THREAD_END,
    ),
    "null_call": (
        "UsageFault",
        {"INVSTATE"},
        [None, "invoke", "dispatch", "run_job", "main"],
        MAIN_END,
    ),
    "null_call_psp": (
        "UsageFault",
        {"INVSTATE"},
        [None, "invoke", "dispatch", "run_job"],
        THREAD_END,
    ),
    "uaf_virtual": (
        "UsageFault",
        {"INVSTATE"},
        [None, "poll_sensor", "sample_all", "main"],
        MAIN_END,
    ),
    "shared_default_hard": (
        "HardFault",
        {"UNDEFINSTR", "FORCED"},
        ["do_fault", "after_ticks", "main"],
        MAIN_END,
    ),
    "shared_default_mem": (
        "MemManage",
        {"IACCVIOL"},
        [None, "do_fault", "after_ticks", "main"],
        MAIN_END,
    ),
    "shared_default_bus": (
        "BusFault",
        {"PRECISERR", "BFARVALID"},
        ["do_fault", "after_ticks", "main"],
        MAIN_END,
    ),
    "shared_default_usage": (
        "UsageFault",
        {"DIVBYZERO"},
        ["do_fault", "after_ticks", "main"],
        MAIN_END,
    ),
}
NUMBERS = {"HardFault": 3, "MemManage": 4, "BusFault": 5, "UsageFault": 6}
SHIMMED = {"irq_fault", "irq_fault_msp", "svc_escalate"}  # record their own entry (ENTRY_SHIM)
GARBAGE_PC = {"null_call": 0, "null_call_psp": 0, "uaf_virtual": 0x706D6574}  # "temp"


@pytest.mark.parametrize("name", list(CASES))
def test_backtrace_against_the_firmwares_own_truth(name, fault_elves, capture):
    vector, reasons, functions, end = CASES[name]
    elf = fault_elves[name]
    extra = [f"entry_truth.{k}" for k in ("msp", "psp", "exc_return")] if name in SHIMMED else []
    truth = ground_truth(elf, FIRMWARES[name], extra=extra)
    r = capture(elf)
    f = r.report["fault"]
    assert r.outcome == "fault"
    # classified by the exception number, the same the firmware read from IPSR
    assert f["vector"] == vector and f["vector_number"] == NUMBERS[vector] == truth["ipsr"]
    assert fields(f["reasons"]) == reasons
    assert f["exc_return"] == truth["exc_return"]
    assert f["stack_pointer"] == truth[f["stack"]]  # the frame's exact address
    assert f["stack_pointers"]["msp"] == truth["msp"]
    assert f["stack_pointers"]["psp"] == truth["psp"]
    bt = r.report["backtrace"]
    assert [b["function"] for b in bt] == functions
    assert r.report["backtrace_method"] == "cfi"
    assert r.report["backtrace_source"].startswith(
        f"cfi: DWARF call-frame information from the stacked frame on the {f['stack'].upper()}"
        f" at 0x{truth[f['stack']]:08x}"
    )
    assert end in r.report["backtrace_stop"]
    assert bt[0]["pc"] == f["faulting_pc"] == f["frame"]["pc"]
    if name in GARBAGE_PC:  # no code there: the caller is the stacked LR's
        assert f["faulting_pc"] == GARBAGE_PC[name] and f["pc_in_code"] is False
        assert bt[1]["pc"] == f["frame"]["lr"] & ~1
    for b in bt:
        if b["function"] not in (None, X):
            assert name.startswith(Path(b["file"]).stem) and b["line"]  # psp_deep.c:19 ...
    if name in SHIMMED:  # the exception frame: where the interrupt / SVCall entry put it
        (mark,) = [b for b in bt if b["function"] == X]
        assert mark["exc_return"] == truth["entry_truth.exc_return"]
        assert mark["stack"] == "psp" if mark["exc_return"] & 4 else "msp"
        assert mark["frame_address"] == truth[f"entry_truth.{mark['stack']}"]
        assert mark["exception"] == ("SVCall" if name == "svc_escalate" else "IRQ0")
        assert mark["pc"] is None  # no code address: root-cause analysis skips it


def test_a_fault_inside_an_interrupt_says_so_in_every_view(fault_elves, capture):
    """report.md, report.html and the CLI summary show the method and the exception frame."""
    import subprocess
    import sys

    r = capture(fault_elves["irq_fault"])
    truth = ground_truth(fault_elves["irq_fault"], "netduino2", extra=["entry_truth.psp"])
    mark = (
        f"IRQ0 entry: EXC_RETURN 0xfffffffd, frame on the PSP at 0x{truth['entry_truth.psp']:08x}"
    )
    md = (r.capdir / "report.md").read_text()
    assert "Method: **cfi** (cfi: DWARF call-frame information" in md
    assert f"3. --- {mark} ---" in md
    text = summary(r.report, r.report_path)
    assert "  backtrace (cfi):" in text and f"    --- {mark} ---" in text
    res = subprocess.run(
        [sys.executable, "-m", "photondbg", "report", str(r.capdir), "--format", "html"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    html = (r.capdir / "report.html").read_text()
    assert 'id="backtrace-method">method: <strong>cfi</strong>' in html
    assert (
        f'<tr class="exception-frame"><td>3</td><td colspan="4" class="mono">--- {mark} ---' in html
    )


def test_one_handler_for_every_vector_lets_interrupts_through(fault_elves, capture):
    """shared_default_usage: SysTick runs through the same Default_Handler that is armed for
    the faults; those stops are counted and let run, only the UsageFault is captured."""
    r = capture(fault_elves["shared_default_usage"])
    assert r.report["shared_handler_hits"] >= 3  # the firmware waits for 3 ticks
    (handler,) = r.report["armed"]["handlers"]
    assert handler["vectors"] == ["NMI", "HardFault", "MemManage", "BusFault", "UsageFault"]
    assert r.report["fault"]["handler"]["symbol"] == "Default_Handler"


NODEBUG = {  # firmware built without -g -> (startup.c?, GDB's frames, backtrace_stop)
    "deep_chain": (True, ["level_6", "level_5", "level_4", "level_3", "level_2", "level_1"], None),
    "irq_fault": (False, ["irq_divide", "irq_work", "irq_body"], "another exception frame"),
}


@pytest.mark.parametrize("name", list(NODEBUG))
def test_without_call_frame_information_no_cfi_is_claimed(name, capture, tmp_path):
    """Built without -g: no .debug_frame, so the backtrace is GDB's (on the MSP, by its
    prologue analysis) and says so; GDB's walk is cut at a second exception frame (below it
    GDB would read a PSP frame from the MSP: irq_fault's thread)."""
    import subprocess

    from conftest import CFLAGS, FAULTS
    from support import linker_script

    startup, functions, stop = NODEBUG[name]
    ld = tmp_path / "n2.ld"
    ld.write_text(linker_script("netduino2"))
    elf = tmp_path / f"{name}_nodebug.elf"
    flags = [f for f in CFLAGS if not f.startswith("-g")] + ["-mcpu=cortex-m3", "-g0"]
    sources = [str(FAULTS / "startup.c")] if startup else []
    subprocess.run(
        ["arm-none-eabi-gcc", *flags, "-T", str(ld), "-o", str(elf)]
        + sources
        + [str(FAULTS / f"{name}.c")],
        check=True,
        cwd=FAULTS.parents[2],
    )
    r = capture(elf)
    assert r.report["backtrace_method"] == "gdb"
    assert r.report["backtrace_source"].startswith("gdb: ")
    assert [b["function"] for b in r.report["backtrace"]][: len(functions)] == functions
    if stop is None:
        assert r.report.get("backtrace_stop") is None
    else:
        assert stop in r.report["backtrace_stop"]
        assert [b["function"] for b in r.report["backtrace"]] == functions


def test_a_panic_inside_an_interrupt_unwinds_into_the_thread(fault_elves, capture):
    """irq_panic: panic_ called in IRQ0's handler over a PSP thread. GDB would show the MSP's
    launch_thread/main below IRQ0's frame; the CFI walk from the core goes into the thread."""
    elf = fault_elves["irq_panic"]
    truth = run_to(elf, "netduino2", "panic_", ["entry_truth.psp", "entry_truth.exc_return"])
    r = capture(elf)
    assert r.outcome == "panic" and r.report["panic"]["code"] == 3
    bt = r.report["backtrace"]
    assert [b["function"] for b in bt] == [
        "panic_",
        "check_level",
        "irq_check",
        X,
        "pend_irq",
        "sampler_wait",
        "sampler_entry",
    ]
    assert r.report["backtrace_method"] == "cfi"
    assert r.report["backtrace_source"].startswith(
        "cfi: DWARF call-frame information from the core"
    )
    assert THREAD_END in r.report["backtrace_stop"]
    assert bt[3]["exc_return"] == int(truth["entry_truth.exc_return"], 16) == 0xFFFFFFFD
    assert bt[3]["stack"] == "psp"
    assert bt[3]["frame_address"] == int(truth["entry_truth.psp"], 16)


def test_offline_walk_matches_and_refuses_a_frame_that_is_not_one(fault_elves, capture):
    """The capture's RAM dump alone gives the same backtrace (nothing read from the target);
    with IRQ0's stacked xPSR made impossible (no Thumb bit) the walk stops at the marker and
    says why, instead of unwinding whatever the words hold."""
    from photondbg.capture.backtrace import fault_backtrace
    from photondbg.capture.elfinfo import ElfInfo
    from photondbg.capture.unwind import Snapshot

    r = capture(fault_elves["irq_fault"])
    fault, dumps = r.report["fault"], r.report["dumps"]["ram"]
    ram = bytearray((r.capdir / "ram.bin").read_bytes())
    elf = ElfInfo(fault_elves["irq_fault"])
    same = fault_backtrace(elf, fault, Snapshot(dumps["address"], bytes(ram)).word)
    assert same is not None and same.frames == r.report["backtrace"]
    mark = next(b for b in r.report["backtrace"] if b["function"] == X)
    at = mark["frame_address"] + 28 - dumps["address"]  # the stacked xPSR
    ram[at : at + 4] = (0x00000000).to_bytes(4, "little")
    broken = fault_backtrace(elf, fault, Snapshot(dumps["address"], bytes(ram)).word)
    assert [b["function"] for b in broken.frames] == ["irq_divide", "irq_work", "irq_body", X]
    assert broken.frames[-1]["frame_address"] is None
    assert broken.stop == (
        f"no exception frame at 0x{mark['frame_address']:08x}: "
        "stacked xPSR 0x00000000 has no Thumb bit"
    )
