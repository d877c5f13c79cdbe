"""Cortex-M4F fault frames on netduinoplus2 / mps2-an386 (photondbg/capture/fpu.py): the extended
frame, lazy (LSPEN=1) and immediate (LSPEN=0) stacking, the alignment pad in the SP before the
exception, the FP register file; and basic frames on mps2-an386 and lm3s6965evb. Every number is
compared with what the firmware measured itself (truth.h / truth.py); the machine is never
passed: it is inferred from the ELF."""

from __future__ import annotations

import struct

import pytest
from truth import ground_truth

from photondbg.capture.model import CaptureReport
from photondbg.cortexm import faults

FP_TRUTH = [f"fp_bits[{i}]" for i in range(32)] + ["fpscr_bits", "sp_before", "fpccr_at_fault"]
STALE_WORD = 0x5A5A5A5A  # fpu_frame.h fills the stack with it before the fault


def fp_capture(name, fault_elves, capture):
    elf = fault_elves[name]
    truth = ground_truth(elf, "netduinoplus2", extra=FP_TRUTH)
    r = capture(elf)
    assert r.outcome == "fault"
    assert r.report["target"]["machine"] == "netduinoplus2"
    return r, r.report["fault"], truth


def check_common(f, truth, vector="UsageFault", number=6):
    sp = truth["msp"] if f["stack"] == "msp" else truth["psp"]
    assert f["exc_return"] == truth["exc_return"]
    assert f["exc_return_decoded"]["frame"] == "extended"
    assert f["exc_return_decoded"]["frame_bytes"] == 0x68
    assert f["stack_pointer"] == sp  # the frame's address
    assert f["vector"] == vector and f["vector_number"] == truth["ipsr"] == number
    assert f["frame"]["r0"] == 0xA0 and f["frame"]["r12"] == 0xAC
    assert f["frame"]["xpsr"] >> 9 & 1 == 1
    assert f["frame_padded"] is True
    assert truth["sp_before"] % 8 == 4
    assert f["caller_sp"] == truth["sp_before"] == sp + 0x68 + 4
    assert f["instruction"].startswith("udf")
    assert f["faulting_symbol"] == "fp_fault"
    fpu = f["fpu"]
    assert fpu["frame"] == "extended"
    for i in range(16):
        assert fpu["stacked"][f"s{i}"] == truth[f"fp_bits[{i}]"], i
    assert fpu["stacked"]["fpscr"] == truth["fpscr_bits"] == 0x00C00000
    regs = fpu["registers"]  # S16-S31 are callee-saved: never stacked, never touched
    assert [regs[f"s{i}"] for i in range(16, 32)] == [truth[f"fp_bits[{i}]"] for i in range(16, 32)]
    assert fpu["fpccr"] >> 31 & 1 == 1  # ASPEN
    return sp


def test_lazy_extended_frame_with_pad_on_msp(fault_elves, capture):
    r, f, truth = fp_capture("fpu_lazy", fault_elves, capture)
    assert truth["exc_return"] == 0xFFFFFFE9  # thread mode, MSP, extended frame
    sp = check_common(f, truth)
    # unwound through the MSP's extended, padded frame
    assert [b["function"] for b in r.report["backtrace"]][:2] == ["fp_fault", "main"]
    fpu = f["fpu"]
    assert fpu["lazy"] is True and "LSPACT" in fpu["fpccr_bits"] and "LSPEN" in fpu["fpccr_bits"]
    assert fpu["fpcar"] == sp + faults.EXTENDED_FP_OFFSET
    assert fpu["stacked_source"] == "registers"
    assert "lazy" in fpu["note"]
    regs = fpu["registers"]  # still the interrupted code's: nothing has written them out
    assert [regs[f"s{i}"] for i in range(16)] == [truth[f"fp_bits[{i}]"] for i in range(16)]
    assert regs["fpscr"] == truth["fpscr_bits"]
    # the frame's FP slots in memory were never written: the values cannot have come from there
    dump = r.report["dumps"]["stack"]
    assert dump["address"] == sp
    raw = (r.capdir / "stack.bin").read_bytes()[0x20 : 0x20 + 17 * 4]
    assert struct.unpack("<17I", raw) == (STALE_WORD,) * 17
    # report.md and the HTML page show the FP part
    md = (r.capdir / "report.md").read_text()
    assert "### FPU" in md and "lazy (FPCCR.LSPACT set)" in md
    assert "| s14 | 0xc1700000 | 0xc1700000 | -15 |" in md
    assert f"SP before the exception: 0x{truth['sp_before']:08x} (frame padded" in md
    from photondbg.render.html import render_html

    page = render_html(r.capdir, r.report)
    assert 'id="fpu"' in page and "0xc1800000" in page and "-16" in page
    from photondbg.capture.report import summary

    assert "fpu  extended frame (lazy: S0-S15/FPSCR from the registers)" in summary(r.report, "x")
    gdb_text = (r.capdir / "gdb-fault.txt").read_text()  # the `fault` command users run
    assert "FP state: lazy" in gdb_text
    assert f"SP before the exception 0x{truth['sp_before']:08x} (frame padded" in gdb_text


def test_immediate_extended_frame_with_pad_on_psp(fault_elves, capture):
    r, f, truth = fp_capture("fpu_immediate", fault_elves, capture)
    assert truth["exc_return"] == 0xFFFFFFED  # thread mode, PSP, extended frame
    assert f["stack"] == "psp"
    check_common(f, truth)
    # the PSP frame is unwound from the stacked registers, from SP + 0x68 + pad
    assert [b["function"] for b in r.report["backtrace"]][:2] == ["fp_fault", "main"]
    fpu = f["fpu"]
    assert fpu["lazy"] is False and "LSPEN" not in fpu["fpccr_bits"]
    assert truth["fpccr_at_fault"] >> 30 & 1 == 0  # the firmware cleared LSPEN itself
    assert fpu["stacked_source"] == "frame"
    # QEMU 7.2 zeroes S0-S15/FPSCR once it has stacked them (measured; docs/machines.md): the
    # registers no longer hold the interrupted code's values, only the frame does
    regs = fpu["registers"]
    assert [regs[f"s{i}"] for i in range(16)] != [truth[f"fp_bits[{i}]"] for i in range(16)]
    gdb_text = (r.capdir / "gdb-fault.txt").read_text()
    assert f"s15 = 0x{truth['fp_bits[15]']:08x}" in gdb_text
    report = CaptureReport.load(r.capdir)  # the typed report reads the fpu part back
    assert report.fault.fpu.stacked["s15"] == truth["fp_bits[15]"]
    assert report.to_dict() == r.report


def test_lazy_extended_frame_from_handler_mode(fault_elves, capture):
    """FP code in the SVCall handler faults; the UsageFault escalates to HardFault, which
    stacks an extended frame on the MSP with EXC_RETURN 0xFFFFFFE1 (Handler mode)."""
    r, f, truth = fp_capture("fpu_handler", fault_elves, capture)
    assert truth["exc_return"] == 0xFFFFFFE1
    assert f["exc_return_decoded"]["mode"] == "handler"
    sp = check_common(f, truth, vector="HardFault", number=3)
    assert f["kind"] == "HardFault (forced from UsageFault)"
    assert f["frame"]["xpsr"] & 0x1FF == 11  # the interrupted code was the SVCall handler
    fpu = f["fpu"]
    assert fpu["lazy"] is True and fpu["fpcar"] == sp + faults.EXTENDED_FP_OFFSET
    assert "THREAD" not in fpu["fpccr_bits"]  # the FP context was allocated in Handler mode
    assert fpu["stacked_source"] == "registers"


@pytest.mark.parametrize(
    "name, machine, handler, exc_return, stack, kind",
    [
        ("basic_m4", "mps2-an386", "UsageFault_Handler", 0xFFFFFFF9, "msp", "UsageFault"),
        ("basic_lm3s", "lm3s6965evb", "HardFault_Handler", 0xFFFFFFFD, "psp", "HardFault"),
    ],
)
def test_basic_frames_on_the_other_machines(
    fault_elves, capture, name, machine, handler, exc_return, stack, kind
):
    elf = fault_elves[name]
    truth = ground_truth(elf, machine)
    r = capture(elf)
    f = r.report["fault"]
    assert r.report["target"]["machine"] == machine
    assert "inferred" in r.report["target"]["machine_choice"]
    assert f["exc_return"] == truth["exc_return"] == exc_return
    assert f["stack"] == stack
    assert f["stack_pointer"] == truth[stack]
    assert f["vector_number"] == truth["ipsr"]
    assert f["kind"].startswith(kind)
    assert f["exc_return_decoded"]["frame"] == "basic"
    assert f["caller_sp"] == truth[stack] + 32 + (4 if f["frame_padded"] else 0)
    if machine == "mps2-an386":  # an FPU core: the fpu part says no FP state was stacked
        assert f["fpu"]["frame"] == "basic" and f["fpu"]["stacked"] is None
        assert len(f["fpu"]["registers"]) == 33
        assert "DIVBYZERO" in " ".join(f["reasons"])
    else:  # a Cortex-M3: no fpu part
        assert "fpu" not in f
        assert "FORCED" in " ".join(f["reasons"]) and "UNDEFINSTR" in " ".join(f["reasons"])
    assert f["handler"]["symbol"] == handler
