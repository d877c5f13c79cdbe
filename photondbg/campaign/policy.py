"""The WiFi-cut and recovery policy, one for every caller: ``sim run`` and the board campaign
(:class:`photondbg.campaign.cycle.CycleRunner`) and the background scenario of a capture
(:class:`photondbg.campaign.scenario.WifiLossScenario`).

- :class:`CutSchedule`: seeded; before each cut, how long the load runs, which kind of cut, how
  long it is held. Same seed, same cuts, same schedule: a baseline and a candidate build (and a
  capture re-run with the seed from its report) see the same sequence.
- :class:`RecoveryWatch`: after a restore the server must answer within a grace time; a board
  that does not is deaf (the 0.6.x NO_RECOVERY bug) and gets reset before the next cut.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable

from photondbg.sim.wifi import CUT_KINDS

# seconds a cut is held, per kind: an uplink cut must outlast the platform's cloud time-out
HOLDS = {"down": (1.0, 3.0), "uplink": (4.0, 6.0)}
LOAD = (1.0, 2.0)  # s of HTTP load before each cut
RECOVERY_GRACE = 2.0  # s after a restore without an HTTP answer: the board is deaf (capture)


@dataclass(frozen=True)
class PlannedCut:
    kind: str
    hold: float  # s the cut is held (rounded to ms)
    load: float  # s of load before the cut


class CutSchedule:
    """Draws each cycle's cut from ``random.Random(seed)``: the kind (from ``cuts``), the hold
    (``hold`` MIN:MAX, or :data:`HOLDS` for the kind), then the load before it."""

    def __init__(
        self,
        seed: int | None,
        cuts: tuple[str, ...] = CUT_KINDS,
        hold: tuple[float, float] | None = None,
        load: tuple[float, float] = LOAD,
    ):
        self.rng = random.Random(seed)
        self.cuts = list(cuts)
        self.hold = hold
        self.load = load

    def next(self) -> PlannedCut:
        kind = self.rng.choice(self.cuts)
        lo, hi = self.hold or HOLDS[kind]
        hold = round(self.rng.uniform(lo, hi), 3)
        return PlannedCut(kind, hold, self.rng.uniform(*self.load))


class RecoveryWatch:
    """Told when the WiFi came back (:meth:`restored`), says once whether the server stayed
    silent for ``grace`` s after it (:meth:`deaf`)."""

    def __init__(self, grace: float = RECOVERY_GRACE):
        self.grace = grace
        self._restored_at: float | None = None

    def restored(self, at: float | None = None) -> None:
        self._restored_at = time.monotonic() if at is None else at

    def deaf(self, answered_since: Callable[[float], bool]) -> bool:
        """True once ``grace`` s passed after the restore with no answer
        (``answered_since(t)``: did the server answer after ``t``); then it forgets the
        restore, so one silence gives one reset."""
        if self._restored_at is None or time.monotonic() - self._restored_at < self.grace:
            return False
        served = answered_since(self._restored_at)
        self._restored_at = None
        return not served
