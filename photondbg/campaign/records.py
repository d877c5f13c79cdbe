"""What a campaign is asked to do and what it found: the outcomes, the phases of a cycle, the
configuration, one cycle's result and the whole run's (``campaign.json``, ``sim run --json``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

from photondbg.campaign.policy import LOAD
from photondbg.sim.wifi import CUT_KINDS


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


@dataclass
class CampaignConfig:
    elf: Path
    app: str = "multi-server"
    variant: str = "none"
    cycles: int = 5
    seed: int = 0
    cuts: tuple[str, ...] = CUT_KINDS  # each cycle draws one kind (seeded)
    hold: tuple[float, float] | None = None  # None: policy.HOLDS per kind
    load: tuple[float, float] = LOAD  # s of HTTP load before each cut
    period: float = 1.0  # s between requests of one client (the seed's tester: GET / each second)
    http_timeout: float = 5.0  # the seed's tester waited about 5 s
    clients: int = 1
    boot_timeout: float = 15.0  # s from QEMU start (or a crash) until the server answers
    recovery: float = 6.0  # s after restore for the server to answer again
    hang_after: float = 4.0  # s without PONG and HTTP answer that make a HANG
    machine: str | None = None
    host_port: int | None = None  # fixed 127.0.0.1 port for the server (None: any free one)
    timeout: float | None = None  # whole campaign
    stop_on: tuple[str, ...] = ()  # end the campaign early after a cycle with one of these
    http_host: str = "127.0.0.1"  # where the tester finds the server
    indexes: tuple[int, ...] | None = None  # the cycles this board runs (None: 1..cycles)


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
        return {
            "variant": self.variant,
            "cycles": len(self.cycles),
            "outcomes": self.outcomes,
            "http": self.http,
            "app": self.app,
            "seed": self.seed,
            "requested": self.requested,
            "duration": round(self.duration, 3),
            "stopped_early": self.stopped_early,
        }

    def as_dict(self) -> dict:
        out = self.summary()
        out.update(
            console=self.console,
            bridge=self.bridge,
            boot_to_serving=[round(x, 3) for x in self.boot_to_serving],
            per_cycle=[asdict(c) for c in self.cycles],
            steps=self.steps,
            phases=self.phases,
            target=self.target,
        )
        if self.device:
            out["device"] = self.device
        return out
