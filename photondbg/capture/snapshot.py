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

from photondbg.capture import collect, faultread, stackcheck, threads
from photondbg.capture.engine import new_capdir
from photondbg.capture.report import ReportWriter, new_report
from photondbg.capture.unwind import Snapshot
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
        stopped = dut.halted  # the stop a test waited for (Dut.wait_halt), else
        if stopped is None:  # already on a fault handler?
            stopped = gdb.wait_stopped(Deadline(0.2))
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
        if armed is not None and pc in armed.handlers:
            # the same reading as capture-fault's: frame or "no frame", reasons, backtrace
            fault, _ = faultread.read_fault(gdb, elf, dut.target, armed.handlers, report, regs)
            fault.pop("_stack_sp", None)
            report["outcome"], report["fault"] = "fault", fault
            faultread.put_backtrace(report, faultread.fault_backtrace(gdb, elf, fault, _ram(dut)))
        else:
            report["registers"] = core
            report["scb"] = collect.read_scb(gdb)  # before the MRS stub steps the core
            sps = dut.target.read_stack_pointers(gdb, regs)  # exact MSP/PSP (MRS stub on QEMU)
            report["stop"]["stack_pointers"] = sps.as_dict()
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
            else threads.for_halt(elf, regs, report["stop"]["stack_pointers"]["psp"], snap)
        )
        if kernel:
            report["rtos"] = kernel
        if note:
            report["threads_note"] = note
        if report["fault"]:  # the SP against its stack, the MPU guard, recursion
            report["stack_check"] = stackcheck.for_capture(gdb, elf, report, mem, ram)
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
