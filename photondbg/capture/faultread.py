"""Reading a fault off a core halted on a fault handler's first instruction: the ``fault``
section (registers, EXC_RETURN, exact MSP/PSP, the stacked frame or "no frame", SCB reasons,
faulting instruction, caller, FPU state) and the backtrace through the exception frame.

One implementation for both captures: ``capture-fault``'s :class:`~.evidence.Evidence` and the
pytest plugin's :func:`~.snapshot.snapshot` of a board a test drives. A stacking or unstacking
fault (MSTKERR, STKERR, MUNSTKERR, UNSTKERR) wrote no frame: nothing of the interrupted code is
read from the stack then (no frame, no faulting PC, no backtrace); ``stack_check``
(:mod:`.stackcheck`) says what can be known instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import TYPE_CHECKING

from photondbg.capture import backtrace, collect, fpu
from photondbg.capture.elfinfo import ElfInfo
from photondbg.cortexm import faults
from photondbg.gdb.session import GdbSession

if TYPE_CHECKING:
    from photondbg.targets.base import Region, Target


def read_fault(
    gdb: GdbSession,
    elf: ElfInfo,
    target: "Target",
    handlers: Collection[int],
    notes: dict,
    regs: dict[str, int] | None = None,
) -> tuple[dict, dict | None]:
    """(the ``fault`` section, the stacked frame or None). ``handlers`` are the armed fault
    handlers' addresses (the labelled RAM-scan fallback runs only on one of them); ``notes``
    (the report) receives ``stack_pointer_note`` when the stack pointer stays unknown. The
    section carries ``_stack_sp`` (where to dump the stack from): pop it before writing."""
    regs = regs if regs is not None else gdb.registers()
    core = collect.core_registers(regs)
    pc = core.get("pc", 0)
    # by the exception number the core is handling (the vector slot), never by the name
    # of the handler: one Default_Handler may serve every vector
    number = faults.exception_number(core.get("xpsr", 0))
    vector = faults.exception_name(number)
    lr = core.get("lr", 0)
    exc = faults.decode_exc_return(lr)
    ram = target.memory.ram
    scb = collect.read_scb(gdb)  # first: nothing photondbg does may touch the fault state
    sps = target.read_stack_pointers(gdb, regs)  # exact: $msp/$psp or the MRS stub
    sp = sps.get(exc["stack"]) if exc["valid"] else None
    sp_source = sps.method if sp is not None else None
    no_frame = faults.stack_error(scb)  # the entry wrote no frame / the return popped one
    if sp is None and exc["stack"] == "msp" and number:
        sp, sp_source = core.get("sp"), "sp"  # in a handler the SP register is the MSP
    if sp is None and exc["valid"] and not no_frame and (pc & ~1) in handlers:
        sp, how = collect.find_stacked_frame(gdb, core, ram)  # labelled fallback only
        sp_source = "ram-scan" if sp is not None else None
        if sp is not None:
            msp, psp = (sp, sps.psp) if exc["stack"] == "msp" else (sps.msp, sp)
            sps = dataclasses.replace(
                sps, msp=msp, psp=psp, method="ram-scan", detail=f"{sps.detail}; {how}"
            )
        if sp is None:
            notes["stack_pointer_note"] = f"{exc['stack']} not exposed by the target; {how}"
    size = exc["frame_bytes"] or faults.BASIC_FRAME_BYTES
    frame, frame_error = collect.stacked_frame(gdb, sp, ram, size) if not no_frame else (None, None)
    if frame is None and sp is None and notes.get("stack_pointer_note"):
        frame_error = f"stacked frame unknown: {notes['stack_pointer_note']}"
    if not exc["valid"]:
        frame_error = f"LR 0x{lr:08x} is not an EXC_RETURN value: no exception frame to read"
    elif no_frame:
        frame_error = f"no frame: {no_frame[0]}: {no_frame[2]}"
    reasons = faults.reasons(scb)
    if frame_error:
        reasons.append(frame_error)
    fpc = frame["pc"] if frame else None
    where = collect.locate(elf, fpc, gdb)
    handler = collect.locate(elf, pc)
    fault = {
        "vector": vector,
        "vector_number": number,
        "kind": faults.fault_kind(number, scb),
        "registers": core,
        "exc_return": lr,
        "exc_return_decoded": {k: v for k, v in exc.items() if k != "value"},
        "stack": exc["stack"],
        "frame": frame,
        "frame_error": frame_error,
        "stack_pointer": sp,
        "stack_pointer_source": sp_source,
        "stack_pointers": sps.as_dict(),
        "scb": scb,
        "reasons": reasons,
        "fault_address": faults.fault_address(scb),
        "faulting_pc": fpc,
        "faulting_symbol": where["symbol"],
        "faulting_location": where["location"],
        "instruction": collect.instruction_at(gdb, elf, fpc) if fpc is not None else None,
        "pc_in_code": elf.in_code(fpc) if fpc is not None else None,
        "caller": None,
        "handler": {"pc": pc, "symbol": handler["symbol"]},
        "frame_padded": faults.frame_padded(frame["xpsr"]) if frame else None,
        "caller_sp": faults.frame_caller_sp(sp, exc, frame["xpsr"]) if frame else None,
    }
    if target.has_fpu:  # frame kind, lazy stacking, stacked S0-S15/FPSCR, S0-S31
        fault["fpu"] = fpu.read_fpu(gdb, exc, sp if frame else None, ram)[0]
    if frame:
        lr_loc = collect.locate(elf, (frame["lr"] & ~1) - 2 if frame["lr"] & 1 else frame["lr"])
        fault["caller"] = {
            "lr": frame["lr"],
            "symbol": lr_loc["symbol"],
            "location": lr_loc["location"],
        }
    fault["_stack_sp"] = (
        sp
        if sp is not None and ram.contains(sp)
        else (core.get("sp") if ram.contains(core.get("sp", 0)) else None)
    )
    return fault, frame


def fault_backtrace(
    gdb: GdbSession, elf: ElfInfo, fault: dict, ram: "Region"
) -> backtrace.Backtrace:
    """The backtrace from the stacked frame (CFI walk, else GDB given the frame's registers);
    none at all when the exception wrote no frame (GDB would unwind stale memory at the SP)."""
    no_frame = faults.stack_error(fault.get("scb") or {})
    if no_frame:
        return backtrace.Backtrace(
            [], "none", f"none: no exception frame ({no_frame[0]}); see stack_check"
        )
    stack = backtrace.stack_window(gdb, fault.get("stack_pointer"), ram)
    return backtrace.fault_backtrace(elf, fault, stack.word) or backtrace.gdb_fault_backtrace(
        gdb, elf, fault
    )


def put_backtrace(report: dict, bt: backtrace.Backtrace) -> None:
    """The backtrace's four report keys."""
    report["backtrace"], report["backtrace_method"] = bt.frames, bt.method
    report["backtrace_source"], report["backtrace_stop"] = bt.source, bt.stop
