"""WiFi loss as a background scenario, for callers that own the target (``capture-fault``).

``WifiLossScenario(target, owner, app=..., seed=..., logdir=...)`` puts a bridge on
``target.link``, starts the HTTP tester and a console watch, and cuts/restores the WiFi on a
seeded schedule until :meth:`stop`. The target may sit at a GDB breakpoint at any moment: no
thread here ever waits on the device, they only notice that it has gone quiet.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from photondbg.campaign.policy import LOAD, CutSchedule, RecoveryWatch
from photondbg.firmware import app_port
from photondbg.procs import ProcessOwner
from photondbg.sim.bridge import Bridge
from photondbg.sim.tester import ConsoleWatch, HttpTester
from photondbg.sim.wifi import CUT_KINDS, Delays, parse_cut


@dataclass
class ScenarioEvent:
    wall: float  # time.time()
    t: float  # seconds since start()
    name: str  # cut, restore, served, ...
    detail: str = ""

    def as_dict(self) -> dict:
        return {
            "wall": round(self.wall, 3),
            "t": round(self.t, 3),
            "name": self.name,
            "detail": self.detail,
        }


class WifiLossScenario:
    """Cut and restore the simulated WiFi under HTTP load, on a seeded schedule."""

    def __init__(
        self,
        target,
        owner: ProcessOwner,
        *,
        app: str = "multi-server",
        seed: int = 0,
        logdir: Path | str | None = None,
        cuts: tuple[str, ...] = CUT_KINDS,
        load: tuple[float, float] = LOAD,
        hold: tuple[float, float] | None = None,
        settle: float = 3.0,
        period: float = 1.0,
        http_timeout: float = 5.0,
        clients: int = 1,
    ):
        self.target = target
        self.owner = owner
        self.app = app
        self.device_port = app_port(app)
        self.seed = seed
        self.logdir = Path(logdir) if logdir else getattr(target, "logdir", None)
        for kind in cuts:
            parse_cut(kind)
        self.cuts = tuple(cuts)
        self.load = load
        self.hold = hold
        self.settle = settle
        self.period = period
        self.http_timeout = http_timeout
        self.clients = clients
        self.schedule = CutSchedule(seed, self.cuts, hold, load)
        self.recovery = RecoveryWatch()
        self.events: list[ScenarioEvent] = []
        self.bridge: Bridge | None = None
        self.tester: HttpTester | None = None
        self.watch = ConsoleWatch()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public
    def start(self) -> "WifiLossScenario":
        if self._thread is not None:
            raise RuntimeError("scenario already started")
        self._t0 = time.monotonic()
        self.bridge = Bridge(
            self.target.link, logdir=self.logdir, seed=self.seed, delays=Delays(self.seed)
        )
        self.owner.add_cleanup(self.stop)
        if getattr(self.target, "console", None) is not None:
            self.watch.attach(self.target.console)
        self.tester = HttpTester(
            lambda: self.bridge.host_port(self.device_port),
            period=self.period,
            timeout=self.http_timeout,
            clients=self.clients,
        ).start()
        self._thread = threading.Thread(target=self._run, name="wifi-loss", daemon=True)
        self._thread.start()
        self._event("start", f"app={self.app} seed={self.seed} cuts={','.join(self.cuts)}")
        return self

    def stop(self) -> None:
        """Stop the schedule (the WiFi is left restored), the tester and the bridge."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.tester is not None:
            self.tester.stop(timeout=self.http_timeout + 1)
        if self.bridge is not None:
            self.bridge.close()
        self._event("stop", " ".join(f"{k}={v}" for k, v in self.counters().items()))

    def deaf(self) -> bool:
        """True once the server stayed silent for the recovery grace after a restore: the
        board will not crash again in this boot (the 0.6.x NO_RECOVERY bug) and should be
        reset, as a campaign reboots it, before the next cut."""
        return self.tester is not None and self.recovery.deaf(self.tester.ok_since)

    @property
    def host_port(self) -> int | None:
        return self.bridge.host_port(self.device_port) if self.bridge else None

    @property
    def cycles(self) -> int:
        return sum(1 for e in self.events if e.name == "cut")

    def counters(self) -> dict:
        out = {}
        if self.tester is not None:
            out.update({f"http_{k}": v for k, v in self.tester.snapshot().items()})
        out.update({f"console_{k}": v for k, v in self.watch.snapshot().items() if v})
        return out

    # ------------------------------------------------------------------ the schedule
    def _event(self, name: str, detail: str = "") -> None:
        with self._lock:
            self.events.append(
                ScenarioEvent(time.time(), time.monotonic() - self._t0, name, detail)
            )

    def _sleep(self, seconds: float) -> bool:
        """False when stopped meanwhile."""
        return not self._stop.wait(seconds)

    def _wait_served(self, since: float, limit: float = 15.0) -> bool:
        """Wait for an HTTP answer; after ``limit`` s go on anyway (a deaf server is a result
        too). False only when stopped."""
        end = time.monotonic() + limit
        while not self._stop.is_set():
            if self.tester.ok_since(since) or time.monotonic() > end:
                return True
            self._stop.wait(0.1)
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                t = time.monotonic()
                if not self._wait_served(t - self.period - self.http_timeout):
                    return
                served = self.tester.ok_since(t - self.period - self.http_timeout)
                self._event("served" if served else "not-serving", f"port {self.host_port}")
                plan = self.schedule.next()
                kind = plan.kind
                if not self._sleep(plan.load):
                    return
                self.bridge.cut(kind)
                self._event("cut", f"{kind} hold={plan.hold:.2f}s")
                stopped = not self._sleep(plan.hold)
                self.bridge.restore()
                self.recovery.restored()
                self._event("restore", f"{kind}{' (scenario stopped)' if stopped else ''}")
                if stopped or not self._sleep(self.settle):
                    return
        except Exception as e:  # the bridge was closed under us, or similar: just end
            self._event("error", f"{type(e).__name__}: {e}")
