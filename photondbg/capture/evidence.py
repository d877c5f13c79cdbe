"""Evidence collection once the wait loop stopped: the fault (registers, EXC_RETURN, exact
MSP/PSP, stacked frame, SCB reasons, faulting instruction, caller, backtrace), a panic, a lock-up,
what followed the first fault, the memory dumps, the threads and the root-cause analysis. Each
piece goes into the capture's report inside a recorded stage.
"""

from __future__ import annotations

import time

from photondbg.analysis import heaptrack
from photondbg.analysis import rootcause as root_cause
from photondbg.capture import backtrace, collect, faultread, returns, stackcheck, threads
from photondbg.capture.part import CapturePart
from photondbg.capture.unwind import Snapshot
from photondbg.capture.waitloop import LOCKUP_GRACE, stop_pc
from photondbg.cortexm import faults
from photondbg.deadline import Deadline
from photondbg.errors import PhotondbgError, ToolFailure
from photondbg.gdb.mi import GdbError, TargetDied

FOLLOW_MAX_EVENTS = 8  # stops recorded after the first fault before following ends


class Evidence(CapturePart):
    """Reads the halted core through the capture's GDB session into its report (``cap``)."""

    def timing(self) -> dict:
        """How long the evidence took from the stop (report.json ``timing``)."""
        t_stop = self.cap.t_stop if self.cap.t_stop is not None else time.monotonic()
        return {"stop_to_report_s": round(time.monotonic() - t_stop, 4)}

    def ram(self) -> collect.Region:
        return self.target.memory.ram

    def fault(self, payload: dict | None) -> None:
        gdb, elf = self.gdb, self.elf
        with self.cap.stage("capture"):
            fault, _ = self.read_fault()
            self.cap.report["fault"] = fault
            self.cap.report["outcome"] = "fault"
            faultread.put_backtrace(
                self.cap.report, faultread.fault_backtrace(gdb, elf, fault, self.ram())
            )
            self.cap.report["timing"] = self.timing()
            self.cap.write()
        self.dumps(fault.get("_stack_sp"))
        fault.pop("_stack_sp", None)
        if self.cap.fault_command:
            try:
                psp = (fault.get("stack_pointers") or {}).get("psp")
                if psp is not None:  # the `fault` command shows the PSP frame with it
                    gdb.cli(f"set $photondbg_psp = 0x{psp:x}", timeout=5.0, check=False)
                text = gdb.cli("fault", timeout=5.0, check=False)
                path = self.cap.capdir / "gdb-fault.txt"
                path.write_text(text)
                self.cap.writer.artifact("gdb-fault.txt", path)
            except PhotondbgError:
                pass
        self.cap.write()
        if self.cap.req.follow > 0:
            self.follow()

    def read_fault(self) -> tuple[dict, dict | None]:
        return faultread.read_fault(
            self.gdb, self.elf, self.target, self.armed.handlers, self.cap.report
        )

    def dumps(self, sp: int | None) -> None:
        gdb, elf = self.gdb, self.elf
        with self.cap.stage("dumps"):
            ram = self.ram()
            dumps = {}
            if sp is not None:
                top = ram.end
                vt = elf.vector_table()
                if vt and vt[1] and ram.contains(vt[1][0] - 4) and vt[1][0] > sp:
                    top = vt[1][0]
                length = min(max(0, top - sp), collect.STACK_DUMP_MAX)
                path = self.cap.capdir / "stack.bin"
                mem = collect.dump(gdb, path, sp, length)
                self.cap.writer.artifact("stack.bin", path)
                dumps["stack"] = {"address": sp, "length": length, "gaps": collect.gaps_json(mem)}
                near = returns.scan(elf, mem, sp, sp + collect.SCAN_BYTES)  # as stack_check's
                self.cap.report["stack_scan"] = [r.as_dict() for r in near.found]
            path = self.cap.capdir / "ram.bin"
            length = min(ram.size, collect.RAM_DUMP_MAX)
            mem = collect.dump(gdb, path, ram.base, length)
            self.cap.writer.artifact("ram.bin", path)
            dumps["ram"] = {"address": ram.base, "length": length, "gaps": collect.gaps_json(mem)}
            self.cap.report["dumps"] = dumps
        with self.cap.stage("threads"):  # the scheduler's threads, by symbol + DWARF, from the dump
            snap = Snapshot(mem.start, mem.data, mem.gaps, fallback=gdb.read_u32)
            self.cap.report["threads"], note, kernel = threads.for_capture(
                elf, self.cap.report, snap
            )
            if kernel:
                self.cap.report["rtos"] = kernel
            if note:
                self.cap.report["threads_note"] = note
        if self.cap.report.get("fault"):  # the SP against its stack, the MPU, recursion
            with self.cap.stage("stack_check"):
                self.cap.report["stack_check"] = stackcheck.for_capture(
                    gdb, elf, self.cap.report, mem, ram
                )
        with self.cap.stage("analysis"):  # heap walk, dangling pointers, provenance
            if (self.cap.report.get("heap_track") or {}).get("method") == "gdb":
                heaptrack.stop(self.gdb)
            self.cap.report["root_cause"] = root_cause.for_capture(
                self.cap.capdir, self.cap.report, self.elf
            )

    def follow(self) -> None:
        """Let the core run on for ``follow`` seconds after the first fault: does it escalate?
        Every stop at an armed address (the panic entry, a second fault) is recorded in
        ``after_fault_events`` and the core runs on, until a lock-up ends the target (recorded
        as ``lockup`` beside the first ``fault``), the fault handler spins, something else
        stops the core, or the time is up. ``after_fault`` is the last of them."""
        with self.cap.stage("follow"):
            deadline = Deadline(self.cap.req.follow)
            events = self.cap.report.setdefault("after_fault_events", [])
            self.cap.report["after_fault"] = None
            reset = self.reset_handler()
            if reset is not None and reset not in self.armed.breakpoints:
                try:  # a release build panics, then resets: see that, not the next boot
                    self.gdb.break_at(reset, temporary=True)
                except GdbError:
                    reset = None
            while len(events) < FOLLOW_MAX_EVENTS:
                try:
                    self.gdb.cont()
                    payload = self.gdb.wait_stopped(deadline)
                except TargetDied:
                    self.died(first=False)
                    events.append(self.cap.report["after_fault"])
                    return
                if payload is None:
                    return  # time is up; the core runs on
                pc = stop_pc(payload)
                kind = self.armed.kind_at(pc) if pc is not None else None
                if kind == "fault" and pc is not None and not self.cap.waiter.in_fault(pc):
                    continue  # an interrupt through a handler it shares with the faults
                if pc is not None and pc == reset:
                    kind = "reset"
                elif kind is None and self.cap.waiter.lockup_seen(LOCKUP_GRACE):
                    self.died(first=False)
                    events.append(self.cap.report["after_fault"])
                    return
                after = self.after_event(kind, pc)
                events.append(after)
                self.cap.report["after_fault"] = after
                self.cap.write()
                if after["kind"] in ("spin", "stop", "reset"):
                    return

    def after_event(self, kind: str | None, pc: int | None) -> dict:
        after = {"kind": kind or "stop", "pc": pc, "symbol": collect.locate(self.elf, pc)["symbol"]}
        if kind == "reset":
            after["detail"] = "the core was reset (a release build resets after its panic)"
        elif kind == "panic":
            regs = self.gdb.registers()
            code = regs.get("r0")
            after["code"] = code
            name = faults.PANIC_NAMES.get(code, "?") if code is not None else "?"
            after["detail"] = f"panic code {code} ({name})"
        elif kind == "fault":
            regs = self.gdb.registers()
            first = (self.cap.report.get("fault") or {}).get("registers") or {}
            if collect.core_registers(regs) == first:
                # same handler, same state: the handler is a tight loop at its entry
                after.update(
                    kind="spin",
                    detail="the fault handler loops forever (no reset, no panic, no lock-up)",
                )
                return after
            after["vector"] = faults.exception_name(faults.exception_number(regs.get("xpsr", 0)))
            after["detail"] = f"second fault: {after['vector']}"
        return after

    def reset_handler(self) -> int | None:
        vt = self.elf.vector_table()
        if not vt or len(vt[1]) < 2 or not vt[1][1] & 1 or not self.elf.in_code(vt[1][1]):
            return None
        return vt[1][1] & ~1

    def panic(self) -> None:
        gdb, elf = self.gdb, self.elf
        with self.cap.stage("capture"):
            regs = gdb.registers()
            core = collect.core_registers(regs)
            code = core.get("r0")
            lr = core.get("lr", 0)
            caller = collect.locate(elf, (lr & ~1) - 2)
            self.cap.report["outcome"] = "panic"
            self.cap.report["panic"] = {
                "code": code,
                "name": faults.PANIC_NAMES.get(code) if code is not None else None,
                "entry": self.armed.panic_symbol,
                "pc": core.get("pc"),
                "registers": core,
                "caller": lr & ~1,
                "caller_symbol": caller["symbol"],
                "caller_location": caller["location"],
                "stack_pointers": self.target.read_stack_pointers(gdb, regs).as_dict(),
            }
            psp = self.cap.report["panic"]["stack_pointers"].get("psp")
            stack = backtrace.stack_window(gdb, core.get("sp"), self.ram())
            bt = backtrace.halt_backtrace(elf, core, psp, stack.word, "at the panic entry")
            if bt is None:
                trim = faults.exception_number(core.get("xpsr", 0)) == 0 and bool(
                    threads.scheduler(elf)[0]
                )
                frames = backtrace.gdb_frames(gdb, elf, core, trim=trim)
                bt = backtrace.Backtrace(frames, "gdb", "gdb: -stack-list-frames")
            faultread.put_backtrace(self.cap.report, bt)
            self.cap.report["timing"] = self.timing()
            self.cap.write()
        self.dumps(core.get("sp") if self.ram().contains(core.get("sp", 0)) else None)

    def died(self, first: bool) -> None:
        """The remote end closed: a lock-up (QEMU's dump / the probe's evidence) or a crash."""
        target = self.target
        if self.gdb is not None and not self.gdb.alive and target.running:
            raise ToolFailure("gdb exited unexpectedly during the capture")
        with self.cap.stage("lockup" if first else "follow-lockup"):
            if target.running:
                target.wait_exit(3.0)
            dump = target.lockup()
            if dump is None:
                lines = target.stderr_text().strip().splitlines()
                tail = f": {lines[-1]}" if lines else ""
                raise ToolFailure(
                    f"target died during the capture (exit status {target.returncode}){tail}"
                )
            regs = dict(dump.registers)
            loc = collect.locate(self.elf, dump.pc)
            self.cap.report["lockup"] = {
                "pc": dump.pc,
                "registers": regs,
                "source": target.lockup_source,
                "message": dump.message,
                "symbol": loc["symbol"],
                "location": loc["location"],
            }
            self.cap.report["outcome"] = "lockup"
            if not first:
                self.cap.report["after_fault"] = {
                    "kind": "lockup",
                    "pc": dump.pc,
                    "symbol": loc["symbol"],
                    "detail": "the core locked up after the fault",
                }

    def timeout(self) -> None:
        with self.cap.stage("timeout"):
            self.cap.report["outcome"] = "none"
            try:
                if self.gdb.interrupt(timeout=2.0) is not None:
                    regs = collect.core_registers(self.gdb.registers())
                    loc = collect.locate(self.elf, regs.get("pc"))
                    self.cap.report["stopped_at"] = {
                        "pc": regs.get("pc"),
                        "symbol": loc["symbol"],
                        "location": loc["location"],
                    }
                    self.threads_at_halt()
            except (PhotondbgError, KeyError):
                pass

    def threads_at_halt(self) -> None:
        """Nothing faulted: where was each thread when the core was stopped (a hang)?"""
        cap, gdb, elf = self.cap, self.gdb, self.elf
        layout, why = threads.scheduler(elf)
        if layout is None:
            cap.report["threads"], cap.report["threads_note"] = [], why
            return
        regs = gdb.registers()
        sps = self.target.read_stack_pointers(gdb, regs)
        cap.report["stopped_at"]["stack_pointers"] = sps.as_dict()
        ram = self.ram()
        mem = gdb.read_memory(ram.base, min(ram.size, collect.RAM_DUMP_MAX))
        snap = Snapshot(mem.start, mem.data, mem.gaps, fallback=gdb.read_u32)
        cap.report["threads"], note, kernel = threads.for_halt(elf, regs, sps.psp, snap)
        if kernel:
            cap.report["rtos"] = kernel
        if note:
            cap.report["threads_note"] = note
