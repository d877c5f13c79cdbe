"""The capture engine: boot -> attach GDB -> arm -> run (+ WiFi-loss scenario) -> capture -> report.

Used by ``photondbg capture-fault`` and by the tests; knows nothing about click. Every stage is
recorded in the report (name, seconds, error) and the report is rewritten (atomically) as each
stage completes, so an interrupted capture leaves ``"status": "partial"`` and where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from photondbg.analysis import heaptrack
from photondbg.analysis import rootcause as root_cause
from photondbg.capture import collect, threads
from photondbg.capture.arming import Armed, arm, rearm_from_target
from photondbg.capture.elfinfo import ElfInfo
from photondbg.capture.report import ReportWriter, new_report, utc_stamp
from photondbg.capture.unwind import Snapshot
from photondbg.cortexm import faults
from photondbg.deadline import Deadline
from photondbg.errors import PhotondbgError, ToolFailure, UsageError
from photondbg.gdb.session import GdbError, GdbSession, TargetDied, check_gdb
from photondbg.paths import GDB_SCRIPTS
from photondbg.progress import scenario_counters
from photondbg.procs import ProcessOwner, interruption
from photondbg.replay import reproduce
from photondbg.sim.facts import sim_artefacts
from photondbg.targets.base import TARGETS, Target, make_target

SCENARIOS = ("wifi-loss", "none")
VARIANTS = ("none", "clients", "all")
APPS = ("multi-server", "simple-server")
LOCKUP_GRACE = 1.0  # s: after a plain stop, how long lock-up evidence may take to arrive
FOLLOW_MAX_EVENTS = 8  # stops recorded after the first fault before following ends


@dataclass
class CaptureRequest:
    target: str = "sim"
    elf: Path | None = None
    variant: str | None = "none"
    app: str = "multi-server"
    scenario: str = "wifi-loss"
    timeout: float = 300.0
    out: Path = Path("captures")
    machine: str | None = None
    seed: int | None = None
    follow: float = 5.0           # after the first fault: run on this long (lock-up? reset?)
    gdb_bin: str = "gdb-multiarch"
    probe: str | None = None       # photon: cmsis-dap | stlink (default: $PHOTONDBG_PROBE)
    serial_port: str | None = None  # photon: the Photon's USB serial (default: $PHOTONDBG_SERIAL)
    track_heap: bool = False       # log every malloc/free from GDB (who freed it, who reused it)


@dataclass
class CaptureResult:
    outcome: str
    report_path: Path
    capdir: Path
    report: dict = field(repr=False, default_factory=dict)


def check_request(req: CaptureRequest) -> None:
    """Argument checks before anything starts (UsageError -> exit 2)."""
    if req.target not in TARGETS:
        raise UsageError(f"unknown target {req.target!r}")
    if req.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {req.scenario!r}")
    if req.timeout is None or req.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if req.follow < 0:
        raise UsageError("follow time must not be negative")


def new_capdir(out: Path, target: str) -> Path:
    out = Path(out)
    base = f"{utc_stamp()}-{target}"
    path, n = out / base, 1
    while path.exists():
        n += 1
        path = out / f"{base}-{n}"
    try:
        path.mkdir(parents=True)
    except OSError as e:
        raise UsageError(f"cannot create the capture directory {path}: {e.strerror}") from None
    return path


class Capture:
    """One capture run. ``run()`` returns a :class:`CaptureResult` or raises PhotondbgError;
    in every case ``report.json`` is left in ``capdir``."""

    def __init__(self, req: CaptureRequest, *, progress: Callable[[str], None] | None = None):
        check_request(req)
        self.req = req
        self.progress = progress or (lambda msg: None)
        self.status = getattr(progress, "status", None)  # live counters (photondbg.progress)
        self.elf: ElfInfo | None = ElfInfo(req.elf) if req.elf else None
        check_gdb(req.gdb_bin)
        self.capdir = new_capdir(req.out, req.target)
        self.report = new_report(req.target, str(self.elf.path) if self.elf else None,
                                 self.elf.sha256 if self.elf else None,
                                 None if req.elf and req.variant is None else req.variant)
        self.report["target"]["machine"] = req.machine
        self.report["scenario"] = {"name": req.scenario, "seed": req.seed, "events": []}
        self.writer = ReportWriter(self.capdir, self.report)
        self.writer.write()
        self.target: Target | None = None
        self.gdb: GdbSession | None = None
        self.armed: Armed | None = None
        self.scenario = None
        self.main_bkpt: int | None = None
        self.main_addr: int | None = None
        self.t_stop: float | None = None
        self._fault_command = False

    # -- bookkeeping ---------------------------------------------------------------
    @contextlib.contextmanager
    def stage(self, name: str):
        self.report["stage"] = name
        t0 = time.monotonic()
        rec = {"name": name, "seconds": None, "error": None}
        self.report["stages"].append(rec)
        self.write()  # a partial report always says which stage it reached
        self.progress(name)
        try:
            yield rec
        except BaseException as e:
            rec["error"] = _one_line(e)
            raise
        finally:
            rec["seconds"] = round(time.monotonic() - t0, 4)

    def write(self) -> None:
        self.writer.write()

    # -- the run -------------------------------------------------------------------
    def run(self) -> CaptureResult:
        owner = ProcessOwner(self.capdir)
        try:
            try:
                self._run(owner)
            except TargetDied:  # the remote end went away outside the wait: same verdict
                if self.target is None:
                    raise
                self._on_died(first=self.report["fault"] is None)
            self.report["status"] = "complete"
            self.report["stage"] = "done"
        except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM, SIGHUP: the report says which
            intr = interruption(e)
            self.report["error"] = intr.reason
            intr.partial = self.writer.json_path
            if intr is not e:
                raise intr from None
            raise
        except PhotondbgError as e:
            self.report["error"] = _one_line(e)
            raise
        except BaseException as e:
            self.report["error"] = _one_line(e) or type(e).__name__
            raise
        finally:
            try:
                self._stop_scenario()
            finally:
                owner.close()
                self.report.update(reproduce.sections(self))  # replay: reproduce + timeline
                self.writer.write()
                if self.elf is not None:
                    self.elf.close()
        return CaptureResult(self.report["outcome"], self.writer.json_path, self.capdir, self.report)

    def _run(self, owner: ProcessOwner) -> None:
        req = self.req
        with self.stage("build"):
            if self.elf is None:
                self.elf = ElfInfo(self._build())
                self.report["target"].update(elf=str(self.elf.path), elf_sha256=self.elf.sha256)
        with self.stage("boot"):
            self.target = make_target(req.target, self.elf.path, owner, logdir=self.capdir,
                                      machine=req.machine, probe=req.probe,
                                      serial_port=req.serial_port)
            self.target.start()
            self.report["target"]["machine"] = self.target.machine
            self.report["sim_artefacts"] = sim_artefacts(self.elf.by_name, req.target,
                                                         self.target.machine)
            self.write()
        with self.stage("connect"):
            self.gdb = GdbSession(self.elf.path, owner, logdir=self.capdir, gdb_bin=req.gdb_bin)
            self.gdb.start()
            self.gdb.connect(*self.target.gdb_remote)
            self.elf.demangler = self._demangle
            for cmd in self.target.gdb_init_commands:
                self.gdb.cli(cmd, timeout=10.0)
            # the same `fault` command users get in their own GDB (gdb_scripts/fault.py)
            self._fault_command = "Python" not in self.gdb.cli(
                f"source {GDB_SCRIPTS / 'fault.py'}", timeout=10.0, check=False)
            if req.track_heap:
                self.report["heap_track"] = heaptrack.start(self.gdb, self.capdir)
        with self.stage("arm"):
            self.armed = arm(self.gdb, self.elf,
                             vector_catch=self.target.supports_vector_catch)
            main = self.elf.symbol("main")
            if main is not None and self.elf.in_code(main.address) \
                    and main.address not in self.armed.breakpoints:
                self.main_addr = main.address
                self.main_bkpt = self.gdb.break_at(main.address, temporary=True)
            self.report["armed"] = self.armed.as_dict()
            if not self.armed.handlers and not self.armed.vector_catch:
                self.report.setdefault("warnings", []).append(
                    "no fault handler could be armed (no Thumb handler address in the fault "
                    "slots of the vector table): only a lock-up or a panic can be caught")
            self.elf.load_lines()  # the slow part of symbolizing, done before the fault
            self.write()
        with self.stage("run"):
            deadline = Deadline(req.timeout)  # counts from when the device runs, not the build
            self.gdb.cont()
            if req.scenario == "wifi-loss":
                self._start_scenario(owner)
            kind, payload = self._wait_for_event(deadline)
        if kind == "fault":
            self._on_fault(payload)
        elif kind == "panic":
            self._on_panic()
        elif kind == "died":
            self._on_died(first=True)
        else:
            self._on_timeout()

    # -- pieces ----------------------------------------------------------------------
    def _build(self) -> Path:
        from photondbg import firmware

        return firmware.build(self.req.app, self.req.variant or "none")

    def _start_scenario(self, owner: ProcessOwner) -> None:
        from photondbg.campaign.scenario import WifiLossScenario

        if self.target.link is None:
            raise UsageError(f"the wifi-loss scenario drives a simulated network link; the "
                             f"{self.target.kind} target has none (use --scenario none)")
        seed = self.req.seed if self.req.seed is not None else random.randrange(1 << 31)
        self.report["scenario"]["seed"] = seed
        self.scenario = WifiLossScenario(self.target, owner, app=self.req.app, seed=seed,
                                         logdir=self.capdir)
        self.scenario.start()

    def _stop_scenario(self) -> None:
        if self.scenario is None:
            return
        try:
            self.scenario.stop()
        except Exception:
            pass
        events = getattr(self.scenario, "events", []) or []
        self.report["scenario"]["events"] = [_plain(e) for e in list(events)[-200:]]
        self.scenario = None

    def _demangle(self, name: str) -> str:
        text = self.gdb.cli(f"demangle -l c++ -- {name}", timeout=2.0, check=False).strip()
        return text if text and "Can't demangle" not in text else name

    def _reset_target(self) -> dict | None:
        """Reset the device under the debugger (breakpoints stay armed). Returns the stop
        payload if the device stopped at something else meanwhile."""
        gdb = self.gdb
        gdb.command("-exec-interrupt", 5.0, check=False)
        payload = gdb.wait_stopped(Deadline(5.0))
        if payload is not None and self.armed.kind_at(_stop_pc(payload) or 0):
            return payload
        self.target.reset(gdb)
        self.report["scenario"]["resets"] = self.report["scenario"].get("resets", 0) + 1
        gdb.cont()
        return None

    def _wait_for_event(self, deadline: Deadline) -> tuple[str, dict | None]:
        gdb = self.gdb
        t0 = time.monotonic()
        while True:
            if self.status is not None:
                self.status(scenario_counters(time.monotonic() - t0, self.scenario))
            try:
                payload = gdb.wait_stopped(Deadline(deadline.cap(0.5)))
                if payload is None and self.scenario is not None and not deadline.expired \
                        and self.scenario.deaf():
                    payload = self._reset_target()
            except TargetDied:
                return "died", None
            if payload is None:
                if deadline.expired:
                    return "timeout", None
                continue
            self.t_stop = time.monotonic()
            pc = _stop_pc(payload)
            if self.main_bkpt is not None and pc == self.main_addr:
                self.main_bkpt = None
                new = rearm_from_target(gdb, self.armed)
                if new:
                    self.report["armed"] = self.armed.as_dict()
                gdb.cont()
                continue
            kind = self.armed.kind_at(pc) if pc is not None else None
            if kind == "fault" and not self._in_fault(pc):
                # a handler shared with interrupts (Default_Handler): this was an IRQ
                self.report["shared_handler_hits"] = self.report.get("shared_handler_hits", 0) + 1
                gdb.cont()
                continue
            if kind:
                return kind, payload
            # a probe halts a locked-up core (OpenOCD): GDB sees a plain stop
            if self._lockup_seen(LOCKUP_GRACE):
                return "died", None
            # vector catch (OpenOCD) or another halt: a fault if the core is in a fault handler
            regs = gdb.registers()
            ipsr = faults.exception_number(regs.get("xpsr", 0))
            if ipsr in dict(faults.FAULT_VECTORS):
                return "fault", payload
            gdb.cont()

    def _ram(self) -> collect.Region:
        return self.target.memory.ram

    def _on_fault(self, payload: dict) -> None:
        gdb, elf = self.gdb, self.elf
        with self.stage("capture"):
            fault, frame = self._capture_fault()
            self.report["fault"] = fault
            self.report["outcome"] = "fault"
            bt, how = collect.backtrace(gdb, elf, frame)
            thread_bt = threads.psp_backtrace(elf, fault, gdb.read_u32)
            if thread_bt:  # through the PSP frame, which GDB cannot see on QEMU
                bt, how = thread_bt, "cfi: unwound from the stacked PSP frame"
            self.report["backtrace"] = bt
            self.report["backtrace_source"] = how
            self.report["timing"] = {"stop_to_report_s": round(time.monotonic() - self.t_stop, 4)}
            self.write()
        self._dumps(fault.get("_stack_sp"))
        fault.pop("_stack_sp", None)
        if self._fault_command:
            try:
                psp = (fault.get("stack_pointers") or {}).get("psp")
                if psp is not None:  # the `fault` command shows the PSP frame with it
                    gdb.cli(f"set $photondbg_psp = 0x{psp:x}", timeout=5.0, check=False)
                text = gdb.cli("fault", timeout=5.0, check=False)
                path = self.capdir / "gdb-fault.txt"
                path.write_text(text)
                self.writer.artifact("gdb-fault.txt", path)
            except PhotondbgError:
                pass
        self.write()
        if self.req.follow > 0:
            self._follow()

    def _capture_fault(self) -> tuple[dict, dict | None]:
        gdb, elf = self.gdb, self.elf
        regs = gdb.registers()
        core = collect.core_registers(regs)
        pc = core.get("pc", 0)
        ipsr = faults.exception_number(core.get("xpsr", 0))
        vectors = self.armed.handlers.get(pc & ~1, [])
        if ipsr in dict(faults.FAULT_VECTORS) or not vectors:
            vector, number = faults.exception_name(ipsr), ipsr
        else:
            vector = vectors[0]
            number = dict((n, s) for s, n in faults.FAULT_VECTORS).get(vector)
        lr = core.get("lr", 0)
        exc = faults.decode_exc_return(lr)
        ram = self._ram()
        sps = self.target.read_stack_pointers(gdb, regs)  # exact: $msp/$psp or the MRS stub
        sp = sps.get(exc["stack"]) if exc["valid"] else None
        sp_source = sps.method if sp is not None else None
        if sp is None and exc["valid"] and (pc & ~1) in self.armed.handlers:
            sp, how = collect.find_stacked_frame(gdb, core, ram)  # labelled fallback only
            sp_source = "ram-scan" if sp is not None else None
            if sp is not None:
                sps = dataclasses.replace(sps, method="ram-scan", detail=f"{sps.detail}; {how}",
                                          **{exc["stack"]: sp})
            if sp is None:
                self.report["stack_pointer_note"] = f"{exc['stack']} not exposed by the target; {how}"
        frame, frame_error = collect.stacked_frame(gdb, sp, ram)
        if frame is None and sp is None and self.report.get("stack_pointer_note"):
            frame_error = f"stacked frame unknown: {self.report['stack_pointer_note']}"
        if not exc["valid"]:
            frame_error = f"LR 0x{lr:08x} is not an EXC_RETURN value: no exception frame to read"
        scb = collect.read_scb(gdb)
        reasons = faults.reasons(scb)
        if frame_error:
            reasons.append(frame_error)
        fpc = frame["pc"] if frame else None
        where = collect.locate(elf, fpc, gdb)
        handler = collect.locate(elf, pc)
        fault = {
            "vector": vector,
            "vector_number": number,
            "kind": faults.fault_kind(number if number is not None else vector, scb),
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
        }
        if frame:
            lr_loc = collect.locate(elf, (frame["lr"] & ~1) - 2 if frame["lr"] & 1 else frame["lr"])
            fault["caller"] = {"lr": frame["lr"], "symbol": lr_loc["symbol"],
                               "location": lr_loc["location"]}
        fault["_stack_sp"] = sp if sp is not None and ram.contains(sp) else (
            core.get("sp") if ram.contains(core.get("sp", 0)) else None)
        return fault, frame

    def _dumps(self, sp: int | None) -> None:
        gdb, elf = self.gdb, self.elf
        with self.stage("dumps"):
            ram = self._ram()
            dumps = {}
            if sp is not None:
                top = ram.end
                vt = elf.vector_table()
                if vt and vt[1] and ram.contains(vt[1][0] - 4) and vt[1][0] > sp:
                    top = vt[1][0]
                length = min(max(0, top - sp), collect.STACK_DUMP_MAX)
                path = self.capdir / "stack.bin"
                mem = collect.dump(gdb, path, sp, length)
                self.writer.artifact("stack.bin", path)
                dumps["stack"] = {"address": sp, "length": length, "gaps": collect.gaps_json(mem)}
                self.report["stack_scan"] = collect.scan_stack(mem.data[:collect.SCAN_BYTES], sp, elf)
            path = self.capdir / "ram.bin"
            length = min(ram.size, collect.RAM_DUMP_MAX)
            mem = collect.dump(gdb, path, ram.base, length)
            self.writer.artifact("ram.bin", path)
            dumps["ram"] = {"address": ram.base, "length": length, "gaps": collect.gaps_json(mem)}
            self.report["dumps"] = dumps
        with self.stage("threads"):  # the scheduler's threads, by symbol + DWARF, from the dump
            snap = Snapshot(mem.start, mem.data, mem.gaps, fallback=gdb.read_u32)
            self.report["threads"], note = threads.for_capture(elf, self.report, snap)
            if note:
                self.report["threads_note"] = note
        with self.stage("analysis"):   # heap walk, dangling pointers, provenance
            if self.report.get("heap_track"):
                heaptrack.stop(self.gdb)
            self.report["root_cause"] = root_cause.for_capture(self.capdir, self.report, self.elf)

    def _follow(self) -> None:
        """Let the core run on for ``follow`` seconds after the first fault: does it escalate?
        Every stop at an armed address (the panic entry, a second fault) is recorded in
        ``after_fault_events`` and the core runs on, until a lock-up ends the target (recorded
        as ``lockup`` beside the first ``fault``), the fault handler spins, something else
        stops the core, or the time is up. ``after_fault`` is the last of them."""
        with self.stage("follow"):
            deadline = Deadline(self.req.follow)
            events = self.report.setdefault("after_fault_events", [])
            self.report["after_fault"] = None
            reset = self._reset_handler()
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
                    self._on_died(first=False)
                    events.append(self.report["after_fault"])
                    return
                if payload is None:
                    return  # time is up; the core runs on
                pc = _stop_pc(payload)
                kind = self.armed.kind_at(pc) if pc is not None else None
                if kind == "fault" and not self._in_fault(pc):
                    continue  # an interrupt through a handler it shares with the faults
                if pc is not None and pc == reset:
                    kind = "reset"
                elif kind is None and self._lockup_seen(LOCKUP_GRACE):
                    self._on_died(first=False)
                    events.append(self.report["after_fault"])
                    return
                after = self._after_event(kind, pc)
                events.append(after)
                self.report["after_fault"] = after
                self.write()
                if after["kind"] in ("spin", "stop", "reset"):
                    return

    def _after_event(self, kind: str | None, pc: int | None) -> dict:
        after = {"kind": kind or "stop", "pc": pc, "symbol": collect.locate(self.elf, pc)["symbol"]}
        if kind == "reset":
            after["detail"] = "the core was reset (a release build resets after its panic)"
        elif kind == "panic":
            regs = self.gdb.registers()
            code = regs.get("r0")
            after["code"] = code
            after["detail"] = f"panic code {code} ({faults.PANIC_NAMES.get(code, '?')})"
        elif kind == "fault":
            regs = self.gdb.registers()
            first = (self.report.get("fault") or {}).get("registers") or {}
            if collect.core_registers(regs) == first:
                # same handler, same state: the handler is a tight loop at its entry
                after.update(kind="spin", detail="the fault handler loops forever "
                             "(no reset, no panic, no lock-up)")
                return after
            after["vector"] = faults.exception_name(faults.exception_number(regs.get("xpsr", 0)))
            after["detail"] = f"second fault: {after['vector']}"
        return after

    def _reset_handler(self) -> int | None:
        vt = self.elf.vector_table()
        if not vt or len(vt[1]) < 2 or not vt[1][1] & 1 or not self.elf.in_code(vt[1][1]):
            return None
        return vt[1][1] & ~1

    def _in_fault(self, pc: int) -> bool:
        """At a fault handler's address: is the core really handling a fault (IPSR 2..6), or
        thread code calling the handler (IPSR 0)? Not when IPSR is an interrupt."""
        ipsr = faults.exception_number(self.gdb.registers(only=["xpsr"]).get("xpsr", 0))
        return ipsr == 0 or ipsr in dict(faults.FAULT_VECTORS)

    def _lockup_seen(self, grace: float = 0.0) -> bool:
        """Lock-up evidence from the target; after a plain stop, wait up to ``grace`` s for
        it (OpenOCD halts the locked-up core; its log line may reach us after GDB's stop)."""
        deadline = Deadline(grace)
        while True:
            try:
                if self.target.lockup() is not None:
                    return True
            except Exception:
                pass
            if deadline.expired:
                return False
            time.sleep(min(0.05, deadline.remaining))

    def _on_panic(self) -> None:
        gdb, elf = self.gdb, self.elf
        with self.stage("capture"):
            regs = gdb.registers()
            core = collect.core_registers(regs)
            code = core.get("r0")
            lr = core.get("lr", 0)
            caller = collect.locate(elf, (lr & ~1) - 2)
            self.report["outcome"] = "panic"
            self.report["panic"] = {
                "code": code, "name": faults.PANIC_NAMES.get(code),
                "entry": self.armed.panic_symbol, "pc": core.get("pc"), "registers": core,
                "caller": lr & ~1, "caller_symbol": caller["symbol"],
                "caller_location": caller["location"],
                "stack_pointers": self.target.read_stack_pointers(gdb, regs).as_dict(),
            }
            try:
                res = gdb.command(f"-stack-list-frames 0 {collect.BACKTRACE_MAX - 1}")
                raw = res.payload.get("stack", [])
            except GdbError:
                raw = []
            self.report["backtrace"] = [
                {"pc": int(f.get("addr", "0"), 16), "function": f.get("func"),
                 "file": f.get("file"), "line": int(f["line"]) if f.get("line") else None}
                for f in raw]
            self.report["timing"] = {"stop_to_report_s": round(time.monotonic() - self.t_stop, 4)}
            self.write()
        self._dumps(core.get("sp") if self._ram().contains(core.get("sp", 0)) else None)

    def _on_died(self, first: bool) -> None:
        """The remote end closed: a lock-up (QEMU's dump / the probe's evidence) or a crash."""
        target = self.target
        if self.gdb is not None and not self.gdb.alive and target.running:
            raise ToolFailure("gdb exited unexpectedly during the capture")
        with self.stage("lockup" if first else "follow-lockup"):
            if target.running:
                target.wait_exit(3.0)
            dump = target.lockup()
            if dump is None:
                lines = target.stderr_text().strip().splitlines()
                tail = f": {lines[-1]}" if lines else ""
                raise ToolFailure(f"target died during the capture (exit status "
                                  f"{target.returncode}){tail}")
            regs = dict(dump.registers)
            loc = collect.locate(self.elf, dump.pc)
            self.report["lockup"] = {
                "pc": dump.pc, "registers": regs,
                "source": target.lockup_source,
                "message": dump.message, "symbol": loc["symbol"], "location": loc["location"],
            }
            self.report["outcome"] = "lockup"
            if not first:
                self.report["after_fault"] = {"kind": "lockup", "pc": dump.pc,
                                              "symbol": loc["symbol"],
                                              "detail": "the core locked up after the fault"}

    def _on_timeout(self) -> None:
        with self.stage("timeout"):
            self.report["outcome"] = "none"
            try:
                if self.gdb.interrupt(timeout=2.0) is not None:
                    regs = collect.core_registers(self.gdb.registers())
                    loc = collect.locate(self.elf, regs.get("pc"))
                    self.report["stopped_at"] = {"pc": regs.get("pc"), "symbol": loc["symbol"],
                                                 "location": loc["location"]}
            except (PhotondbgError, KeyError):
                pass


def run(req: CaptureRequest, progress: Callable[[str], None] | None = None) -> CaptureResult:
    return Capture(req, progress=progress).run()


def _stop_pc(payload: dict) -> int | None:
    try:
        return int(payload["frame"]["addr"], 16) & ~1
    except (KeyError, TypeError, ValueError):
        return None


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _plain(e):
    if dataclasses.is_dataclass(e):
        return dataclasses.asdict(e)
    if isinstance(e, (list, tuple)):
        return [_plain(x) for x in e]
    if isinstance(e, (str, int, float, bool, type(None), dict)):
        return e
    return str(e)
