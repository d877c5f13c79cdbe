"""The WiFi-loss cycle and its classification (DESIGN §6), for any board, as a state machine.

One cycle: LOAD (the server answers, the tester keeps going) -> CUT (a seeded kind) -> HOLD
(seeded duration) -> RESTORE -> RECOVER (wait until the server answers again) -> CLASSIFY:

- ``CRASH``        the board crashed: ``@panic`` or an unexpected ``@boot`` on the console, or
                   the board's own evidence of a reset (QEMU exiting, the USB port dropping)
- ``LOCKUP``       the core locked up (QEMU's dump, OpenOCD's ``clearing lockup`` line)
- ``HANG``         no sign of life (PONG / serial output) and no HTTP answer for ``hang_after`` s
- ``NO_RECOVERY``  the board is alive, the server never answers within the recovery window
- ``OK``           the server answered again

After anything but OK the board is brought back for the next cycle. Every phase change and
every stage is recorded with arguments, duration and error.

:class:`CycleRunner` knows nothing of QEMU or probes: the board behind it is a subclass that
cuts and restores the WiFi, says whether the device crashed, how long ago it last showed life,
and brings it back (:class:`photondbg.campaign.sim.SimCampaign`, the simulated board;
:class:`photondbg.campaign.board.BoardCampaign`, a real one on the LAN).
"""

from __future__ import annotations

import abc
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from photondbg.campaign.policy import CutSchedule
from photondbg.campaign.records import CampaignConfig, CampaignResult, CycleResult, Outcome, Phase
from photondbg.campaign.steps import Step, stage
from photondbg.deadline import Deadline
from photondbg.procs import ProcessOwner
from photondbg.sim.tester import HTTP_RESULTS, ConsoleWatch, HttpTester

# The recovery window grows with the machine's present speed: at least the configured one, and
# at least RECOVERY_MARGIN times the slowest boot-to-serving of this run (a loaded machine
# boots slower and recovers slower; a fixed 5-6 s would call that NO_RECOVERY).
RECOVERY_MARGIN = 4.0


log = logging.getLogger(__name__)


def cycle_seed(seed: int, index: int) -> int:
    """The seed of cycle ``index``'s own random draws (the sim's WiFi delays)."""
    return seed * 1_000_003 + index


class CycleRunner(abc.ABC):
    """The WiFi-loss cycle and its classification, for any board. The board is the subclass:
    it implements the abstract methods below (the board interface) and nothing else."""

    alive_name = "PONG"  # what shows the device is alive (the sim's link PINGs)

    def check_config(self) -> None:
        """Bad configuration raises UsageError before anything starts."""

    def __init__(
        self,
        config: CampaignConfig,
        owner: ProcessOwner,
        *,
        logdir: Path,
        on_cycle: Callable[[CycleResult], None] | None = None,
        on_note: Callable[[str], None] | None = None,
        on_phase: Callable[[int, Phase], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ):
        self.cfg = config
        self.stop = stop or (lambda: False)  # asked before each cycle (a verdict was reached)
        self.owner = owner
        self.logdir = Path(logdir)
        self.on_cycle = on_cycle
        self.on_note = on_note or (lambda text: None)
        self.on_phase = on_phase or (lambda index, phase: None)
        self.index = 0  # the cycle under way
        self.check_config()
        self.indexes = list(config.indexes or range(1, config.cycles + 1))
        # cycle i's cut, hold and load, whichever board runs it (verify-fix --jobs)
        schedule = CutSchedule(config.seed, config.cuts, config.hold, config.load)
        self.plan = [schedule.next() for _ in range(max(self.indexes, default=0))]
        self.phase = Phase.IDLE
        self.phases: list[tuple[float, str]] = []
        self.steps: list[Step] = []
        self.tester: HttpTester | None = None
        self.watch = ConsoleWatch()
        self.boots = 0
        self._t0 = time.monotonic()
        self._boot_started = 0.0
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
        log.debug("cycle %d: %s", self.index, phase.value)
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
            self.tester = HttpTester(
                self.http_port,
                period=self.cfg.period,
                timeout=self.cfg.http_timeout,
                clients=self.cfg.clients,
                host=self.cfg.http_host,
            )
            self.tester.start()
            self.serve_again(since)
            for n, i in enumerate(self.indexes, 1):
                if deadline.expired:
                    self.result.stopped_early = "deadline"
                    break
                if self.stop():
                    self.result.stopped_early = "verdict"
                    break
                r = self.cycle(i)
                log.info("cycle %d: %s %s", r.index, r.outcome, r.detail)
                self.result.cycles.append(r)
                if self.on_cycle:
                    self.on_cycle(r)
                if r.outcome in self.cfg.stop_on:
                    self.result.stopped_early = r.outcome
                    break
                if n < len(self.indexes):
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
        plan = self.plan[index - 1]
        kind, hold, load = plan.kind, plan.hold, plan.load
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
        window = self.recovery_window()
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
                crash = self.watch_for(window, since, until=lambda: self.tester.ok_since(t_restore))
            if crash is None and self.tester.ok_since(t_restore):
                last_ok = self.tester.last_ok
                assert last_ok is not None  # ok_since() saw it set, and it is never unset
                r.recovery_time = round(last_ok - t_restore, 3)
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
            r.detail = (
                f"device alive ({self.alive_name} {pong:.1f} s ago), server silent for "
                f"{window:.0f} s"
            )
        r.duration = round(time.monotonic() - t_start, 3)
        http1, con1 = self.tester.snapshot(), self.watch.snapshot()
        r.http = {k: http1[k] - http0.get(k, 0) for k in http1}
        r.console = {k: con1[k] - con0.get(k, 0) for k in con1 if con1[k] - con0.get(k, 0)}
        return r

    def recovery_window(self) -> float:
        """Seconds after the restore for the server to answer: the configured window, widened
        to RECOVERY_MARGIN x the slowest boot-to-serving seen in this run."""
        seen = self.result.boot_to_serving
        return max(self.cfg.recovery, RECOVERY_MARGIN * max(seen)) if seen else self.cfg.recovery

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
                    last_ok = self.tester.last_ok
                    assert last_ok is not None  # ok_since() saw it set, and it is never unset
                    took = last_ok - since
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

    # ------------------------------------------------------------------ the board interface
    @abc.abstractmethod
    def setup(self) -> float:
        """Get the board running; return the monotonic time evidence counts from."""

    @abc.abstractmethod
    def http_port(self) -> int | None:
        """The port the tester finds the server on (None while unknown)."""

    @abc.abstractmethod
    def cut_wifi(self, kind: str) -> None:
        """Cut the WiFi (``kind`` from ``config.cuts``)."""

    @abc.abstractmethod
    def restore_wifi(self) -> None:
        """Restore the WiFi."""

    @abc.abstractmethod
    def crashed(self, since: float) -> tuple[str, float, str] | None:
        """(outcome, monotonic time, detail) of a crash, lock-up or reset seen since ``since``."""

    @abc.abstractmethod
    def alive_age(self) -> float | None:
        """Seconds since the board last showed life (None: not since it booted)."""

    @abc.abstractmethod
    def device_gone(self) -> bool:
        """True when the board can no longer answer (QEMU exited, the probe lost it)."""

    @abc.abstractmethod
    def serve_again(self, since: float) -> None:
        """Return once the server answers (resetting the board if needed), else raise."""

    @abc.abstractmethod
    def bring_back(self, r: CycleResult) -> None:
        """After a cycle that was not OK, get the board serving for the next one."""

    @abc.abstractmethod
    def teardown(self) -> None:
        """Stop what ``setup()`` started; record the board's own summary in ``self.result``."""

    @abc.abstractmethod
    def serving_note(self, took: float) -> str:
        """A progress line: the board serves, ``took`` s after its (re)boot."""
