"""The capture engine: boot -> attach GDB -> arm -> run (+ WiFi-loss scenario) -> capture -> report.

Used by ``photondbg capture-fault`` and by the tests; knows nothing about click. Every stage is
recorded in the report (name, seconds, error) and the report is rewritten (atomically) as each
stage completes, so an interrupted capture leaves ``"status": "partial"`` and where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from photondbg.analysis import heaptrack
from photondbg.capture import backtrace
from photondbg.capture.arming import Armed, arm
from photondbg.capture.elfinfo import ElfInfo
from photondbg.capture.evidence import Evidence
from photondbg.capture.report import ReportWriter, new_report, utc_stamp
from photondbg.capture.waitloop import WaitLoop
from photondbg.deadline import Deadline
from photondbg.errors import PhotondbgError, ToolFailure, UsageError
from photondbg.gdb.mi import TargetDied, check_gdb
from photondbg.gdb.session import GdbSession
from photondbg.log import run_log
from photondbg.paths import GDB_SCRIPTS
from photondbg.procs import ProcessOwner, interruption
from photondbg.replay import reproduce
from photondbg.sim.facts import sim_artefacts
from photondbg.targets.base import TARGETS, Target, check_machine, make_target

if TYPE_CHECKING:
    from photondbg.campaign.scenario import WifiLossScenario

SCENARIOS = ("wifi-loss", "none")

log = logging.getLogger(__name__)


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
    follow: float = 5.0  # after the first fault: run on this long (lock-up? reset?)
    gdb_bin: str = "gdb-multiarch"
    probe: str | None = None  # photon: cmsis-dap | stlink (default: $PHOTONDBG_PROBE)
    serial_port: str | None = None  # photon: the Photon's USB serial (default: $PHOTONDBG_SERIAL)
    track_heap: bool = False  # log every malloc/free from GDB (who freed it, who reused it)


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
        check_machine(req.target, self.elf.path if self.elf else None, req.machine)
        check_gdb(req.gdb_bin)
        self.capdir = new_capdir(req.out, req.target)
        self.report = new_report(
            req.target,
            str(self.elf.path) if self.elf else None,
            self.elf.sha256 if self.elf else None,
            None if req.elf and req.variant is None else req.variant,
        )
        self.report["target"]["machine"] = req.machine
        self.report["scenario"] = {"name": req.scenario, "seed": req.seed, "events": []}
        self.writer = ReportWriter(self.capdir, self.report)
        self.writer.write()
        self.target: Target | None = None
        self.gdb: GdbSession | None = None
        self.armed: Armed | None = None
        self.scenario: WifiLossScenario | None = None
        self.main_bkpt: int | None = None
        self.main_addr: int | None = None
        self.t_stop: float | None = None
        self.fault_command = False  # gdb_scripts/fault.py loaded into the session
        self.waiter = WaitLoop(self)
        self.evidence = Evidence(self)

    # -- bookkeeping ---------------------------------------------------------------

    @contextlib.contextmanager
    def stage(self, name: str):
        self.report["stage"] = name
        t0 = time.monotonic()
        rec: dict[str, str | float | None] = {"name": name, "seconds": None, "error": None}
        self.report["stages"].append(rec)
        self.write()  # a partial report always says which stage it reached
        self.progress(name)
        log.info("capture stage %s", name)
        try:
            yield rec
        except BaseException as e:
            rec["error"] = _one_line(e)
            log.info("capture stage %s failed: %s", name, rec["error"])
            raise
        finally:
            rec["seconds"] = round(time.monotonic() - t0, 4)

    def write(self) -> None:
        self.writer.write()

    # -- the run -------------------------------------------------------------------

    def run(self) -> CaptureResult:
        with run_log(self.capdir):
            result = self._run_logged()
            log.info("capture %s: %s", result.outcome, result.report_path)
        return result

    def _run_logged(self) -> CaptureResult:
        owner = ProcessOwner(self.capdir)
        try:
            try:
                self._run(owner)
            except TargetDied:  # the remote end went away outside the wait: same verdict
                if self.target is None:
                    raise
                self.evidence.died(first=self.report["fault"] is None)
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
        return CaptureResult(
            self.report["outcome"], self.writer.json_path, self.capdir, self.report
        )

    def _run(self, owner: ProcessOwner) -> None:
        req = self.req
        with self.stage("build"):
            if self.elf is None:
                self.elf = ElfInfo(self._build())
                self.report["target"].update(elf=str(self.elf.path), elf_sha256=self.elf.sha256)
        with self.stage("boot"):
            self.target = make_target(
                req.target,
                self.elf.path,
                owner,
                logdir=self.capdir,
                machine=req.machine,
                probe=req.probe,
                serial_port=req.serial_port,
            )
            self.target.start()
            self.report["target"]["machine"] = self.target.machine
            if self.target.machine_choice:  # sim: --machine, or why the ELF chose it
                self.report["target"]["machine_choice"] = self.target.machine_choice
            self.report["sim_artefacts"] = sim_artefacts(
                self.elf.by_name, self.target.kind, self.target.machine
            )
            self.write()
        with self.stage("connect"):
            self.gdb = GdbSession(self.elf.path, owner, logdir=self.capdir, gdb_bin=req.gdb_bin)
            self.gdb.start()
            host, port = self.target.gdb_remote
            if port is None:  # no GDB port: fail the way connect() fails to reach one
                raise ToolFailure(f"gdb could not connect to {host}:{port}: the target has no port")
            self.gdb.connect(host, port)
            self.elf.demangler = self._demangle
            for cmd in self.target.gdb_init_commands:
                self.gdb.cli(cmd, timeout=10.0)
            # the same `fault` command users get in their own GDB (gdb_scripts/fault.py)
            self.fault_command = "Python" not in self.gdb.cli(
                f"source {GDB_SCRIPTS / 'fault.py'}", timeout=10.0, check=False
            )
            if req.track_heap:
                self.report["heap_track"] = heaptrack.start(self.gdb, self.capdir, self.elf)
        with self.stage("arm"):
            self.armed = arm(self.gdb, self.elf, vector_catch=self.target.supports_vector_catch)
            main = self.elf.symbol("main")
            if (
                main is not None
                and self.elf.in_code(main.address)
                and main.address not in self.armed.breakpoints
            ):
                self.main_addr = main.address
                self.main_bkpt = self.gdb.break_at(main.address, temporary=True)
            self.report["armed"] = self.armed.as_dict()
            if not self.armed.handlers and not self.armed.vector_catch:
                self.report.setdefault("warnings", []).append(
                    "no fault handler could be armed (no Thumb handler address in the fault "
                    "slots of the vector table): only a lock-up or a panic can be caught"
                )
            self.elf.load_lines()  # the slow part of symbolizing, done before the fault
            backtrace.unwinder_for(self.elf)  # and of unwinding thread stacks (CFI index)
            self.write()
        with self.stage("run"):
            deadline = Deadline(req.timeout)  # counts from when the device runs, not the build
            self.gdb.cont()
            if req.scenario == "wifi-loss":
                self._start_scenario(owner)
            kind, payload = self.waiter.wait(deadline)
        if kind == "fault":
            self.evidence.fault(payload)
        elif kind == "panic":
            self.evidence.panic()
        elif kind == "died":
            self.evidence.died(first=True)
        else:
            self.evidence.timeout()

    # -- pieces ----------------------------------------------------------------------

    def _build(self) -> Path:
        from photondbg import firmware

        return firmware.build(
            self.req.app, self.req.variant or "none", heap_trace=self.req.track_heap
        )

    def _start_scenario(self, owner: ProcessOwner) -> None:
        from photondbg.campaign.scenario import WifiLossScenario

        if self.target.link is None:
            raise UsageError(
                f"the wifi-loss scenario drives a simulated network link; the "
                f"{self.target.kind} target has none (use --scenario none)"
            )
        seed = self.req.seed if self.req.seed is not None else random.randrange(1 << 31)
        self.report["scenario"]["seed"] = seed
        self.scenario = WifiLossScenario(
            self.target, owner, app=self.req.app, seed=seed, logdir=self.capdir
        )
        self.scenario.start()

    def _stop_scenario(self) -> None:
        if self.scenario is None:
            return
        try:
            self.scenario.stop()
        except Exception:
            pass
        events = self.scenario.events
        self.report["scenario"]["events"] = [_plain(e) for e in list(events)[-200:]]
        self.scenario = None

    def _demangle(self, name: str) -> str:
        text = self.gdb.cli(f"demangle -l c++ -- {name}", timeout=2.0, check=False).strip()
        return text if text and "Can't demangle" not in text else name


def run(req: CaptureRequest, progress: Callable[[str], None] | None = None) -> CaptureResult:
    return Capture(req, progress=progress).run()


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
