"""A capture of a board that a test drives: stop the core wherever it is, and write what
``capture-fault`` would (report.json + report.md, registers, decoded fault registers, the stacked
frame when stopped in a fault handler, a backtrace, a RAM dump, the logs so far).

Used by the pytest plugin when a test fails with a debugger attached: if the firmware faulted,
the core already sits on an armed fault handler and the report says ``outcome: fault``;
otherwise the core is interrupted and the report is a snapshot (``outcome: none``) of where it
was when the test gave up.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from photondbg.capture import backtrace, collect, threads
from photondbg.capture.engine import new_capdir
from photondbg.capture.report import ReportWriter, new_report
from photondbg.capture.unwind import Snapshot
from photondbg.cortexm import faults
from photondbg.deadline import Deadline
from photondbg.errors import PhotondbgError


def snapshot(dut, out: Path, *, why: str = "") -> Path:
    """Write a capture directory for ``dut`` (a :class:`photondbg.dut.SimDut` under GDB)."""
    gdb, elf, armed = dut.gdb, dut.elfinfo, dut.armed
    capdir = new_capdir(out, dut.kind)
    report = new_report(dut.kind, str(elf.path), elf.sha256, None)
    report["trigger"] = {"kind": "test-failure", "why": why}
    writer = ReportWriter(capdir, report)
    writer.write()
    t0 = time.monotonic()
    try:
        stopped = gdb.wait_stopped(Deadline(0.2))  # already on a fault handler?
        if stopped is None:
            stopped = gdb.interrupt(timeout=5.0)
        regs = gdb.registers()
        core = collect.core_registers(regs)
        pc = core.get("pc", 0) & ~1
        report["stop"] = {
            "reason": (stopped or {}).get("reason"),
            "pc": pc,
            "symbol": collect.locate(elf, pc)["symbol"],
        }
        scb = collect.read_scb(gdb)
        frame = None
        sps = dut.target.read_stack_pointers(gdb, regs)  # exact MSP/PSP (MRS stub on QEMU)
        if armed is not None and pc in armed.handlers:
            exc = faults.decode_exc_return(core.get("lr", 0))
            sp = sps.get(exc["stack"]) if exc["valid"] else None
            frame, frame_error = collect.stacked_frame(gdb, sp, _ram(dut))
            where = collect.locate(elf, frame["pc"] if frame else None, gdb)
            report["outcome"] = "fault"
            report["fault"] = {
                "vector": faults.exception_name(faults.exception_number(core.get("xpsr", 0))),
                "registers": core,
                "exc_return": core.get("lr"),
                "stack": exc["stack"],
                "frame": frame,
                "exc_return_decoded": {k: v for k, v in exc.items() if k != "value"},
                "stack_pointer": sp,
                "stack_pointers": sps.as_dict(),
                "frame_error": frame_error,
                "scb": scb,
                "reasons": faults.reasons(scb),
                "fault_address": faults.fault_address(scb),
                "faulting_pc": frame["pc"] if frame else None,
                "faulting_symbol": where["symbol"],
                "faulting_location": where["location"],
                "instruction": None,
            }
        else:
            report["registers"] = core
            report["scb"] = scb
            report["stop"]["stack_pointers"] = sps.as_dict()
        if report["outcome"] == "fault":
            stack = backtrace.stack_window(gdb, report["fault"]["stack_pointer"], _ram(dut))
            bt = backtrace.fault_backtrace(elf, report["fault"], stack.word)
            if bt is None:
                frames, how = collect.backtrace(gdb, elf, frame)
                bt = backtrace.Backtrace(
                    frames, how.split(",")[0] if how.startswith("gdb") else "stacked-pc-lr", how
                )
            report["backtrace"], report["backtrace_method"] = bt.frames, bt.method
            report["backtrace_source"], report["backtrace_stop"] = bt.source, bt.stop
        else:
            report["backtrace"], report["backtrace_source"] = _frames(gdb), "gdb"
            report["backtrace_method"] = "gdb"
        ram = _ram(dut)
        path = capdir / "ram.bin"
        mem = collect.dump(gdb, path, ram.base, min(ram.size, collect.RAM_DUMP_MAX))
        writer.artifact("ram.bin", path)
        report["dumps"] = {
            "ram": {"address": ram.base, "length": ram.size, "gaps": collect.gaps_json(mem)}
        }
        snap = Snapshot(mem.start, mem.data, mem.gaps)  # every thread, where it stopped
        report["threads"], note, kernel = (
            threads.for_capture(elf, report, snap)
            if report["fault"]
            else threads.for_halt(elf, regs, sps.psp, snap)
        )
        if kernel:
            report["rtos"] = kernel
        if note:
            report["threads_note"] = note
        report["status"] = "complete"
    except PhotondbgError as e:
        report["error"] = str(e).splitlines()[0] if str(e) else type(e).__name__
    finally:
        report["timing"] = {"stop_to_report_s": round(time.monotonic() - t0, 4)}
        _copy_logs(dut, capdir, writer)
        writer.write()
    return capdir


def _frames(gdb) -> list[dict]:
    """GDB's backtrace where the core was stopped (no exception frame to go through)."""
    try:
        res = gdb.command(f"-stack-list-frames 0 {collect.BACKTRACE_MAX - 1}", timeout=5.0)
    except PhotondbgError:
        return []
    return [
        {
            "pc": int(f.get("addr", "0"), 16),
            "function": f.get("func") if f.get("func") != "??" else None,
            "file": f.get("file"),
            "line": int(f["line"]) if f.get("line") else None,
        }
        for f in (res.payload or {}).get("stack", [])
    ]


def _ram(dut) -> collect.Region:
    return dut.target.memory.ram


def _copy_logs(dut, capdir: Path, writer: ReportWriter) -> None:
    for name in ("serial.log", "bridge.log", "qemu-stderr.log", "gdb-mi.log"):
        src = dut.logdir / name
        if src.is_file():
            shutil.copyfile(src, capdir / name)
            writer.artifact(name, capdir / name)
