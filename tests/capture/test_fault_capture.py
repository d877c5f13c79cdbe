"""Each fault firmware captured through real QEMU + real GDB + the engine; the decoded report is
checked against what the firmware did (addresses from its own ELF symbols)."""

from __future__ import annotations

import json
from collections import Counter

from photondbg.capture.elfinfo import ElfInfo
from photondbg.cortexm import faults


def sym(elf, name) -> int:
    return ElfInfo(elf).symbol(name).address


def fields(reasons: list[str]) -> set[str]:
    return {r.split(":")[0] for r in reasons}


def check_report_file(result):
    on_disk = json.loads(result.report_path.read_text())
    assert on_disk["schema"] == "photondbg.capture/1"
    assert on_disk["status"] == "complete"
    assert on_disk["outcome"] == result.outcome
    for name in ("report.md", "gdb-mi.log", "ram.bin"):
        assert (result.capdir / name).exists(), name
    return on_disk


def test_bad_pc_jump(fault_elves, capture):
    elf = fault_elves["bad_pc"]
    r = capture(elf)
    f = check_report_file(r)["fault"]
    assert r.outcome == "fault"
    assert f["vector"] == "HardFault"
    assert {"IACCVIOL", "FORCED"} <= fields(f["reasons"])
    assert f["faulting_pc"] == 0xA0000000  # garbage_target without the Thumb bit
    assert f["faulting_symbol"] is None  # not code of this firmware
    assert f["caller"]["symbol"] == "jump_to_garbage"
    assert f["exc_return"] == 0xFFFFFFF9 and f["stack"] == "msp"
    assert [b["function"] for b in r.report["backtrace"]][-2:] == ["jump_to_garbage", "main"]


def test_precise_bus_fault_with_bfar(fault_elves, capture):
    r = capture(fault_elves["bus_fault"])  # mps2-an385, inferred from the ELF
    f = r.report["fault"]
    assert r.report["target"]["machine"] == "mps2-an385"
    assert f["vector"] == "BusFault"
    assert {"PRECISERR", "BFARVALID"} <= fields(f["reasons"])
    assert f["scb"]["bfar"] == 0x70000000 and f["fault_address"] == 0x70000000
    assert f["faulting_symbol"] == "read_bad_address"
    assert f["faulting_location"].endswith("bus_fault.c:5")
    assert f["instruction"].startswith("ldr")


def test_divide_by_zero(fault_elves, capture):
    r = capture(fault_elves["div_zero"])
    f = r.report["fault"]
    assert f["vector"] == "UsageFault" and f["vector_number"] == 6
    assert fields(f["reasons"]) == {"DIVBYZERO"}
    assert f["scb"]["cfsr"] == 1 << 25
    assert f["fault_address"] is None  # no VALID bit: MMFAR/BFAR not trusted
    assert f["faulting_symbol"] == "divide"
    assert f["instruction"].startswith("sdiv")
    assert r.report["after_fault"]["kind"] == "spin"


def test_unaligned_access(fault_elves, capture):
    elf = fault_elves["unaligned"]
    r = capture(elf)
    f = r.report["fault"]
    assert f["kind"] == "HardFault (forced from UsageFault)"
    assert {"UNALIGNED", "FORCED"} <= fields(f["reasons"])
    assert f["frame"]["r0"] == sym(elf, "buffer") + 1
    assert f["faulting_symbol"] == "read_unaligned"
    assert f["instruction"].startswith("ldr")


def test_undefined_instruction(fault_elves, capture):
    r = capture(fault_elves["undef"])
    f = r.report["fault"]
    assert fields(f["reasons"]) == {"UNDEFINSTR"}
    assert f["instruction"] == "udf #7"
    assert f["faulting_symbol"] == "run_undefined"


def test_invalid_state(fault_elves, capture):
    elf = fault_elves["invstate"]
    r = capture(elf)
    f = r.report["fault"]
    assert fields(f["reasons"]) == {"INVSTATE"}
    assert f["faulting_pc"] == sym(elf, "target_function")  # even address, Thumb bit lost
    assert f["frame"]["xpsr"] & (1 << 24) == 0  # EPSR.T clear
    assert f["caller"]["symbol"] == "call_even"


def test_deep_call_chain_backtrace(fault_elves, capture):
    r = capture(fault_elves["deep_chain"])
    names = [b["function"] for b in r.report["backtrace"]]
    assert names == ["level_6", "level_5", "level_4", "level_3", "level_2", "level_1", "main"]
    assert all(b["file"].endswith("deep_chain.c") and b["line"] for b in r.report["backtrace"])
    scanned = {s["symbol"] for s in r.report["stack_scan"]}
    assert {"level_5", "level_1", "main"} <= scanned  # return addresses found on the stack
    info = ElfInfo(fault_elves["deep_chain"])
    for s in r.report["stack_scan"]:  # each one just after a call (BL/BLX) in the code
        assert faults.is_call_return(info.read((s["value"] & ~1) - 4, 4)), s
    # one scanner: the stack (< 4 KiB here) gives stack_check's recursion count the same words
    counts = Counter(s["symbol"] for s in r.report["stack_scan"])
    ra = r.report["stack_check"]["return_addresses"]
    assert ra["calls"] == len(r.report["stack_scan"])
    assert {f["function"]: f["count"] for f in ra["functions"]} == dict(counts)
    assert (r.capdir / "stack.bin").stat().st_size == r.report["dumps"]["stack"]["length"]


def test_fault_in_hardfault_handler_locks_up(fault_elves, capture):
    elf = fault_elves["lockup"]
    r = capture(elf, follow=5.0)
    assert r.outcome == "lockup"
    f, lk = r.report["fault"], r.report["lockup"]
    assert f["faulting_symbol"] == "first_fault"  # the first fault, caught before
    assert lk["source"] == "qemu" and "can't escalate" in lk["message"]
    assert lk["symbol"] == "HardFault_Handler"
    assert set(lk["registers"]) >= {"r0", "sp", "lr", "pc", "xpsr"}
    assert r.report["after_fault"]["kind"] == "lockup"


def test_panic_entry(fault_elves, capture):
    r = capture(fault_elves["panic"])
    assert r.outcome == "panic"
    p = r.report["panic"]
    assert p["code"] == 8 and p["name"] == "OutOfHeap"
    assert p["caller_symbol"] == "check_heap"
    assert [b["function"] for b in r.report["backtrace"]] == ["panic_", "check_heap", "main"]


def test_nothing_happens_within_timeout(fault_elves, capture):
    r = capture(fault_elves["spin"], timeout=1.5)
    assert r.outcome == "none"
    assert r.report["fault"] is None and r.report["status"] == "complete"
    assert r.report["stopped_at"]["symbol"] == "main"


def test_handler_shared_with_interrupts(fault_elves, capture):
    """One Default_Handler for every vector, SysTick running through it: interrupts at the
    armed address are not faults; the real fault is."""
    r = capture(fault_elves["shared_handler"])
    f = r.report["fault"]
    assert r.outcome == "fault"
    assert f["vector"] == "HardFault" and f["faulting_symbol"] == "fault_after_ticks"
    assert fields(f["reasons"]) == {"UNDEFINSTR", "FORCED"}
    assert r.report["shared_handler_hits"] >= 5
    assert r.report["armed"]["handlers"][0]["vectors"] == [
        "NMI",
        "HardFault",
        "MemManage",
        "BusFault",
        "UsageFault",
    ]


def test_fault_on_the_process_stack(fault_elves, capture):
    """Thread code on PSP (as under an RTOS): QEMU's stub has no $psp, so the core is asked by
    an MRS stub (photondbg/capture/stackptr.py); the capture says how it got there."""
    elf = fault_elves["psp_stack"]
    r = capture(elf)
    f = r.report["fault"]
    assert f["exc_return"] == 0xFFFFFFFD and f["stack"] == "psp"
    assert f["stack_pointer_source"] == "mrs-stub"
    task_stack = ElfInfo(elf).symbol("task_stack")
    assert task_stack.address <= f["stack_pointer"] < task_stack.address + task_stack.size
    assert f["faulting_symbol"] == "task_body" and f["instruction"] == "udf #4"
    assert [b["function"] for b in r.report["backtrace"]][:2] == ["task_body", "task_entry"]


SCHEMA_TOP = {
    "schema",
    "status",
    "created",
    "target",
    "outcome",
    "fault",
    "lockup",
    "backtrace",
    "artifacts",
}
SCHEMA_FAULT = {
    "vector",
    "registers",
    "exc_return",
    "stack",
    "frame",
    "scb",
    "reasons",
    "fault_address",
    "faulting_pc",
    "faulting_symbol",
    "faulting_location",
    "instruction",
}


def test_report_has_the_design_schema(fault_elves, capture):
    """DESIGN §5.1: every field present, integers as numbers, artifacts that exist."""
    r = capture(fault_elves["lockup"], follow=5.0)
    rep = check_report_file(r)
    assert SCHEMA_TOP <= set(rep)
    assert set(rep["target"]) >= {"kind", "elf", "elf_sha256", "variant"}
    assert SCHEMA_FAULT <= set(rep["fault"])
    f = rep["fault"]
    assert set(f["registers"]) == {f"r{i}" for i in range(13)} | {"sp", "lr", "pc", "xpsr"}
    assert set(f["frame"]) == {"r0", "r1", "r2", "r3", "r12", "lr", "pc", "xpsr"}
    assert set(f["scb"]) == {"cfsr", "hfsr", "dfsr", "mmfar", "bfar"}
    ints = [
        *f["registers"].values(),
        *f["frame"].values(),
        *f["scb"].values(),
        f["exc_return"],
        f["faulting_pc"],
        rep["lockup"]["pc"],
        *rep["lockup"]["registers"].values(),
    ]
    assert all(type(v) is int for v in ints)
    assert set(rep["lockup"]) >= {"pc", "registers", "source"}
    for frame in rep["backtrace"]:
        assert set(frame) >= {"pc", "function", "file", "line"} and type(frame["pc"]) is int
    for name, rel in rep["artifacts"].items():
        assert (r.capdir / rel).is_file(), name


def test_lockup_without_a_caught_fault(fault_elves, capture):
    """HardFault's vector has no Thumb bit: nothing can be armed, the core locks up at once;
    the report is a lock-up with QEMU's registers and no fault."""
    r = capture(fault_elves["bad_vector"])
    assert r.outcome == "lockup" and r.report["fault"] is None
    assert r.report["armed"]["handlers"] == []
    assert any("no fault handler could be armed" in w for w in r.report["warnings"])
    lk = r.report["lockup"]
    assert lk["pc"] == 0x08000100 and lk["registers"]["lr"] == 0xFFFFFFF9
    assert r.report["status"] == "complete"
