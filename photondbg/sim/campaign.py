"""The WiFi-loss campaign on the simulated Photon (DESIGN §6), as a small state machine.

One cycle: LOAD (the server answers, the tester keeps going) -> CUT (a seeded kind) -> HOLD
(seeded duration) -> RESTORE -> RECOVER (wait until the server answers again) -> CLASSIFY:

- ``CRASH``        ``@panic`` or an unexpected ``@boot`` on the console (QEMU still running)
- ``LOCKUP``       QEMU exited: the core locked up (``target.lockup()`` holds the dump)
- ``HANG``         neither a PONG nor an HTTP answer for ``hang_after`` s
- ``NO_RECOVERY``  PONGs still come, the server never answers within the recovery window
- ``OK``           the server answered again

After anything but OK the device is brought back: a crashed release build reboots by itself
(we wait for it); a locked-up, hung or deaf one is rebooted (a new QEMU, same bridge and
host port). Every phase change and every stage is recorded with arguments, duration and error.

The cycle itself (load, cut, hold, restore, recover, classify) lives in :class:`CycleRunner`,
which knows nothing of QEMU: it asks its subclass to cut and restore the WiFi, whether the
device crashed, how long ago it last showed life, and to bring it back. :class:`Campaign` is
the simulated board; :mod:`photondbg.photon.campaign` is a real one on the LAN.
"""

from __future__ import annotations

import functools
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Callable

from photondbg.deadline import Deadline
from photondbg.errors import ToolFailure
from photondbg.procs import ProcessOwner
from photondbg.sim.bridge import Bridge
from photondbg.sim.tester import HTTP_RESULTS, ConsoleWatch, HttpTester
from photondbg.sim.wifi import CUT_KINDS, Delays, parse_cut


class Outcome(str, Enum):
    OK = "OK"
    CRASH = "CRASH"
    LOCKUP = "LOCKUP"
    HANG = "HANG"
    NO_RECOVERY = "NO_RECOVERY"


OUTCOMES = tuple(o.value for o in Outcome)


class Phase(str, Enum):
    IDLE = "idle"
    BOOT = "boot"
    LOAD = "load"
    CUT = "cut"
    HOLD = "hold"
    RESTORE = "restore"
    RECOVER = "recover"
    CLASSIFY = "classify"
    REBOOT = "reboot"
    DONE = "done"


# the device port each app serves on; photondbg.firmware.APPS is the source when present
DEFAULT_APP_PORTS = {"simple-server": 80, "multi-server": 7123}

# seconds a cut is held, per kind: an uplink cut must outlast the platform's cloud time-out
HOLDS = {"down": (1.0, 3.0), "uplink": (4.0, 6.0)}


def app_port(app: str) -> int:
    try:
        from photondbg.firmware import APPS
    except ImportError:
        APPS = DEFAULT_APP_PORTS
    if app not in APPS:
        from photondbg.errors import UsageError

        raise UsageError(f"unknown app {app!r} (choose from {', '.join(APPS)})")
    return APPS[app]


@dataclass
class Step:
    name: str
    args: dict
    started: float  # seconds since the campaign began
    duration: float = 0.0
    error: str | None = None


def stage(*argnames: str):
    """Record a method call as a :class:`Step` (name, chosen args, duration, exception)."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            names = fn.__code__.co_varnames[1:fn.__code__.co_argcount]
            bound = dict(zip(names, args), **kwargs)
            step = Step(fn.__name__, {k: _plain(bound[k]) for k in argnames if k in bound},
                        self._clock())
            self.steps.append(step)
            t0 = time.monotonic()
            try:
                return fn(self, *args, **kwargs)
            except BaseException as e:
                step.error = f"{type(e).__name__}: {e}"
                raise
            finally:
                step.duration = time.monotonic() - t0

        return wrapper

    return deco


def _plain(v):
    return v.value if isinstance(v, Enum) else v


@dataclass
class CampaignConfig:
    elf: Path
    app: str = "multi-server"
    variant: str = "none"
    cycles: int = 5
    seed: int = 0
    cuts: tuple[str, ...] = CUT_KINDS  # each cycle draws one kind (seeded)
    hold: tuple[float, float] | None = None  # None: HOLDS per kind
    load: tuple[float, float] = (1.0, 2.0)  # s of HTTP load before each cut
    period: float = 0.25  # s between requests of one client
    http_timeout: float = 2.0
    clients: int = 1
    boot_timeout: float = 15.0  # s from QEMU start (or a crash) until the server answers
    recovery: float = 6.0  # s after restore for the server to answer again
    hang_after: float = 4.0  # s without PONG and HTTP answer that make a HANG
    machine: str | None = None
    host_port: int | None = None  # fixed 127.0.0.1 port for the server (None: any free one)
    timeout: float | None = None  # whole campaign
    stop_on: tuple[str, ...] = ()  # end the campaign early after a cycle with one of these
    http_host: str = "127.0.0.1"  # where the tester finds the server


@dataclass
class CycleResult:
    index: int
    outcome: str
    cut: str
    hold: float
    duration: float = 0.0
    cut_to_crash: float | None = None  # s from the cut to @panic / QEMU exit / @boot
    recovery_time: float | None = None  # s from restore to the first answer
    detail: str = ""
    http: dict = field(default_factory=dict)
    console: dict = field(default_factory=dict)
    reboots: int = 0


@dataclass
class CampaignResult:
    variant: str
    app: str
    seed: int
    requested: int
    cycles: list[CycleResult] = field(default_factory=list)
    http: dict = field(default_factory=dict)
    console: dict = field(default_factory=dict)
    bridge: dict = field(default_factory=dict)
    boot_to_serving: list[float] = field(default_factory=list)
    duration: float = 0.0
    stopped_early: str | None = None
    steps: list[dict] = field(default_factory=list)  # recorded stages (name, args, duration, error)
    phases: list[tuple[float, str]] = field(default_factory=list)  # (s since start, phase)
    target: str = "sim"
    device: dict = field(default_factory=dict)  # a real board's netcut / serial / probe record

    @property
    def outcomes(self) -> dict[str, int]:
        c = Counter(r.outcome for r in self.cycles)
        return {o: c.get(o, 0) for o in OUTCOMES}

    def summary(self) -> dict:
        """The one-line JSON contract of ``photondbg sim run --json``."""
        return {"variant": self.variant, "cycles": len(self.cycles), "outcomes": self.outcomes,
                "http": self.http, "app": self.app, "seed": self.seed,
                "requested": self.requested, "duration": round(self.duration, 3),
                "stopped_early": self.stopped_early}

    def as_dict(self) -> dict:
        out = self.summary()
        out.update(console=self.console, bridge=self.bridge,
                   boot_to_serving=[round(x, 3) for x in self.boot_to_serving],
                   per_cycle=[asdict(c) for c in self.cycles], steps=self.steps,
                   phases=self.phases, target=self.target)
        if self.device:
            out["device"] = self.device
        return out


class CycleRunner:
    """The WiFi-loss cycle and its classification, for any device. A subclass provides
    ``setup()`` (device ready, returns the time evidence counts from), ``cut_wifi(kind)``,
    ``restore_wifi()``, ``crashed(since)``, ``alive_age()``, ``device_gone()``,
    ``reboot()``, ``bring_back(r)``, ``teardown()`` and ``serving_note(took)``."""

    alive_name = "PONG"  # what shows the device is alive (the sim's link PINGs)

    def check_config(self) -> None:
        """Bad configuration raises UsageError before anything starts."""

    def __init__(self, config: CampaignConfig, owner: ProcessOwner, *, logdir: Path,
                 on_cycle: Callable[[CycleResult], None] | None = None,
                 on_note: Callable[[str], None] | None = None,
                 on_phase: Callable[[int, Phase], None] | None = None):
        self.cfg = config
        self.owner = owner
        self.logdir = Path(logdir)
        self.on_cycle = on_cycle
        self.on_note = on_note or (lambda text: None)
        self.on_phase = on_phase or (lambda index, phase: None)
        self.index = 0  # the cycle under way
        self.rng = random.Random(config.seed)
        self.check_config()
        self.phase = Phase.IDLE
        self.phases: list[tuple[float, str]] = []
        self.steps: list[Step] = []
        self.target = None
        self.bridge: Bridge | None = None
        self.tester: HttpTester | None = None
        self.watch = ConsoleWatch()
        self.boots = 0
        self._t0 = time.monotonic()
        self._boot_started = 0.0
        self._qemu_boot = True
        self._finished = False
        self.result = CampaignResult(config.variant, config.app, config.seed, config.cycles)

    # ------------------------------------------------------------------ state machine
    def _clock(self) -> float:
        return round(time.monotonic() - self._t0, 3)

    def transition(self, phase: Phase) -> None:
        if phase is self.phase:
            return
        self.phases.append((self._clock(), phase.value))
        self.phase = phase
        try:
            self.on_phase(self.index, phase)
        except Exception:
            pass

    # ------------------------------------------------------------------ the run
    def run(self) -> CampaignResult:
        deadline = Deadline(self.cfg.timeout)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.owner.add_cleanup(self._shutdown)
        try:
            since = self.setup()
            self.tester = HttpTester(self.http_port, period=self.cfg.period,
                                     timeout=self.cfg.http_timeout, clients=self.cfg.clients,
                                     host=self.cfg.http_host)
            self.tester.start()
            self.serve_again(since)
            for i in range(1, self.cfg.cycles + 1):
                if deadline.expired:
                    self.result.stopped_early = "deadline"
                    break
                r = self.cycle(i)
                self.result.cycles.append(r)
                if self.on_cycle:
                    self.on_cycle(r)
                if r.outcome in self.cfg.stop_on:
                    self.result.stopped_early = r.outcome
                    break
                if i < self.cfg.cycles:
                    self.bring_back(r)
                    if self.result.stopped_early:  # the device could not be brought back
                        break
        finally:
            self.transition(Phase.DONE)
            self._shutdown()
        return self.result

    @stage("index")
    def cycle(self, index: int) -> CycleResult:
        cfg = self.cfg
        kind = self.rng.choice(list(cfg.cuts))
        lo, hi = cfg.hold or HOLDS[kind]
        hold = round(self.rng.uniform(lo, hi), 3)
        load = self.rng.uniform(*cfg.load)
        self.index = index
        r = CycleResult(index, "", kind, hold)
        t_start = time.monotonic()
        http0, con0 = self.tester.snapshot(), self.watch.snapshot()

        self.transition(Phase.LOAD)
        if not self.tester.ok_since(t_start - cfg.period - cfg.http_timeout):
            self.serve_again(t_start)  # may reboot: evidence counts from the serving device on
        since = time.monotonic()
        crash = self.watch_for(load, since)
        t_cut = time.monotonic()
        if crash is None:
            self.transition(Phase.CUT)
            self.cut_wifi(kind)
            self.transition(Phase.HOLD)
            crash = self.watch_for(hold, since)
            self.transition(Phase.RESTORE)
            self.restore_wifi()
            t_restore = time.monotonic()
            self.transition(Phase.RECOVER)
            if crash is None:
                crash = self.watch_for(cfg.recovery, since,
                                       until=lambda: self.tester.ok_since(t_restore))
            if crash is None and self.tester.ok_since(t_restore):
                r.recovery_time = round(self.tester.last_ok - t_restore, 3)
        self.transition(Phase.CLASSIFY)
        pong = self.alive_age()
        if crash is not None:
            r.outcome, t_crash, r.detail = crash
            r.cut_to_crash = round(t_crash - t_cut, 3) if t_crash >= t_cut else None
        elif r.recovery_time is not None:
            r.outcome = Outcome.OK.value
        elif pong is None or pong > cfg.hang_after:
            r.outcome = Outcome.HANG.value
            what = self.alive_name
            r.detail = f"no {what} since boot" if pong is None else f"no {what} for {pong:.1f} s"
        else:
            r.outcome = Outcome.NO_RECOVERY.value
            r.detail = (f"device alive ({self.alive_name} {pong:.1f} s ago), server silent for "
                        f"{cfg.recovery:.0f} s")
        r.duration = round(time.monotonic() - t_start, 3)
        http1, con1 = self.tester.snapshot(), self.watch.snapshot()
        r.http = {k: http1[k] - http0.get(k, 0) for k in http1}
        r.console = {k: con1[k] - con0.get(k, 0) for k in con1 if con1[k] - con0.get(k, 0)}
        return r

    def watch_for(self, seconds: float, since: float, until: Callable[[], bool] | None = None):
        """Wait ``seconds`` (or until ``until()``), returning (outcome, time, detail) as soon as
        the device crashes, locks up or reboots; None if it did not."""
        end = time.monotonic() + seconds
        while True:
            crash = self.crashed(since)
            if crash is not None:
                return crash
            if until is not None and until():
                return None
            if time.monotonic() >= end:
                return None
            time.sleep(0.05)

    # ------------------------------------------------------------------ shared device steps
    @stage("timeout")
    def wait_serving(self, since: float, timeout: float) -> bool:
        """Wait until the server answers a request that ended after ``since``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.tester.ok_since(since):
                if since == self._boot_started:
                    took = self.tester.last_ok - since
                    self.result.boot_to_serving.append(took)
                    self.on_note(self.serving_note(took))
                return True
            if self.device_gone():
                return False
            time.sleep(0.05)
        return False

    def watch_for_boot(self, since: float, timeout: float) -> float | None:
        panics = self.watch.since(since, "panic")
        after = panics[0].t if panics else since
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.device_gone():
            boots = self.watch.since(after, "boot")
            if boots:
                return boots[0].t
            time.sleep(0.05)
        return None

    def _shutdown(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.tester is not None:
            self.tester.stop(timeout=self.cfg.http_timeout + 1)
            self.result.http = self.tester.snapshot()
        self.result.console = self.watch.snapshot()
        self.teardown()
        self.result.duration = time.monotonic() - self._t0
        self.result.steps = [asdict(st) for st in self.steps]
        self.result.phases = list(self.phases)
        if self.tester is None:
            self.result.http = {k: 0 for k in (*HTTP_RESULTS, "requests")}


class Campaign(CycleRunner):
    """Boots the simulated device, runs ``config.cycles`` WiFi-loss cycles, always cleans up."""

    def check_config(self) -> None:
        self.device_port = app_port(self.cfg.app)
        for kind in self.cfg.cuts:
            parse_cut(kind)

    def setup(self) -> float:
        self.bridge = Bridge(None, logdir=self.logdir, seed=self.cfg.seed,
                             delays=Delays(self.cfg.seed),
                             host_ports={self.device_port: self.cfg.host_port}
                             if self.cfg.host_port else None)
        self.boot()
        return self._boot_started

    def http_port(self) -> int | None:
        return self.bridge.host_port(self.device_port)

    def cut_wifi(self, kind: str) -> None:
        self.bridge.cut(kind)

    def restore_wifi(self) -> None:
        self.bridge.restore()

    def alive_age(self) -> float | None:
        return self.bridge.pong_age()

    def device_gone(self) -> bool:
        return not self.target.running

    def serving_note(self, took: float) -> str:
        how = "QEMU start" if self._qemu_boot else "its own reset"
        return (f"boot {len(self.result.boot_to_serving)}: serving device port "
                f"{self.device_port} on http://127.0.0.1:"
                f"{self.bridge.host_port(self.device_port)}/ {took:.2f}s after {how}")

    def crashed(self, since: float):
        if not self.target.running:
            t = time.monotonic()
            dump = self.target.lockup()
            if dump is not None:
                pc = dump.pc
                return (Outcome.LOCKUP.value, t,
                        f"lockup: {dump.message} pc=0x{pc:08x}" if pc is not None else dump.message)
            return (Outcome.CRASH.value, t, f"qemu exited with {self.target.returncode}")
        events = self.watch.since(since, "panic", "boot")
        if events:
            e = events[0]
            return (Outcome.CRASH.value, e.t, e.text)
        return None

    # ------------------------------------------------------------------ device lifecycle
    @stage()
    def boot(self) -> None:
        from photondbg.targets.sim import SimTarget

        self.transition(Phase.BOOT)
        self.boots += 1
        self._boot_started = time.monotonic()
        self._qemu_boot = True
        target = SimTarget(self.cfg.elf, self.owner, logdir=self.logdir / f"boot-{self.boots:02d}",
                           machine=self.cfg.machine)
        target.start()
        self.target = target
        self.watch.attach(target.console)
        self.bridge.attach(target.link)

    @stage()
    def reboot(self) -> None:
        self.transition(Phase.REBOOT)
        if self.target is not None:
            self.bridge.detach()
            self.target.stop()
        self.boot()

    def serve_again(self, since: float) -> None:
        """The server must answer before a cycle starts: wait, then reboot once, then give up."""
        if self.wait_serving(since, self.cfg.boot_timeout):
            return
        self.reboot()
        if not self.wait_serving(self._boot_started, self.cfg.boot_timeout):
            raise ToolFailure(f"the simulated board never served HTTP after boot "
                              f"{self.boots}; see {self.logdir}/boot-{self.boots:02d}/serial.log")

    @stage("outcome")
    def bring_back(self, r: CycleResult) -> None:
        """After a bad cycle, get the device serving again for the next one."""
        if r.outcome == Outcome.OK.value:
            return
        t = time.monotonic()
        if r.outcome == Outcome.CRASH.value and self.target.running:
            # a release build resets itself after two SOS rounds and boots again
            boot = self.watch_for_boot(t - r.duration, self.cfg.boot_timeout)
            if boot:
                self._boot_started = boot
                self._qemu_boot = False
                self.serve_again(boot)
                return
        r.reboots += 1
        self.reboot()
        self.serve_again(self._boot_started)

    def teardown(self) -> None:
        if self.bridge is not None:
            self.result.bridge = self.bridge.summary()
            self.bridge.close()
        if self.target is not None:
            self.target.stop()
