"""A verify-fix verdict that stops as soon as it is decided: Wald's SPRT on paired cycles.

Baseline and candidate run the same schedule, so cycle *i* of one is paired with cycle *i* of
the other. A pair where both or neither crashed says nothing about which build crashes more; a
*discordant* pair does. If the two boards run independently and cycle *i* makes them crash with
probabilities ``pb`` and ``pc``, a discordant pair is candidate-only with probability

    theta = pc(1 - pb) / (pc(1 - pb) + pb(1 - pc)) = psi / (1 + psi)

where ``psi`` is the odds ratio of crashing, candidate over baseline. ``theta`` does not depend
on how often the baseline crashes, nor on the cut kind or hold time of the cycle (only on
``psi``), so the schedule's mix of cuts cannot bias the test. The hypotheses are

- H0 "not fixed":  psi >= 1   (theta >= 1/2, the candidate crashes at least as often)
- H1 "fixed":      psi <= psi1 (theta <= theta1; default psi1 = 0.1: the fix removes at least
                               nine tenths of the crash odds)

and after every pair the log likelihood ratio of the discordant pairs seen so far,

    llr = b_only * log(2 (1 - theta1)) + c_only * log(2 theta1)

is compared with two boundaries: ``llr >= log(1/alpha)`` -> FIXED, ``llr <= -log(1/beta)`` ->
NOT FIXED. Under H0 the likelihood ratio exp(llr) is a non-negative supermartingale with mean
<= 1, so by Ville's inequality the chance it EVER reaches 1/alpha is at most alpha: the type-I
error holds under looking after every cycle, whatever the stopping time, the cap or the crash
rate (tests/unit/test_sequential.py checks it by simulation; a naive Fisher test repeated every
cycle does not hold it). The same argument under H1 bounds P(NOT FIXED) by beta. At the cap
(``max_cycles``) without a decision the verdict is INCONCLUSIVE: no error budget is left over to
spend on a last look. ``1 / max(exp(llr))`` is an anytime-valid p-value for H0.

Assumption, shared with the fixed-N Fisher test of :mod:`photondbg.campaign.verdict`: given the
schedule, a cycle's outcome does not depend on the earlier cycles' outcomes. A crash reboots the
board (fresh state), which if anything lowers the next cycle's chance and keeps both designs within
alpha; if a crash made the NEXT cycle more likely to crash, both designs would exceed alpha by
about as much (simulated: +0.2 on a 0.2 rate -> 0.08 instead of 0.05 for both).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from photondbg.campaign.verdict import CRASHED

FIXED, NOT_FIXED, INCONCLUSIVE = "FIXED", "NOT FIXED", "INCONCLUSIVE"
DEFAULT_ODDS_RATIO = 0.1


@dataclass(frozen=True)
class Design:
    """The stopping rule's parameters. ``beta`` defaults to ``alpha``."""

    max_cycles: int
    alpha: float = 0.05
    beta: float | None = None
    odds_ratio: float = DEFAULT_ODDS_RATIO

    def __post_init__(self):
        if self.max_cycles < 1:
            raise ValueError("max_cycles must be at least 1")
        for name in ("alpha", "beta"):
            v = getattr(self, name)
            if v is not None and not 0.0 < v < 0.5:
                raise ValueError(f"{name} must be in (0, 0.5), not {v}")
        if not 0.0 < self.odds_ratio < 1.0:
            raise ValueError(f"odds_ratio must be in (0, 1), not {self.odds_ratio}")

    @property
    def error_not_fixed(self) -> float:
        return self.alpha if self.beta is None else self.beta

    @property
    def theta1(self) -> float:
        """P(a discordant pair is candidate-only) when the fix works at ``odds_ratio``."""
        return self.odds_ratio / (1.0 + self.odds_ratio)

    @property
    def step_baseline_only(self) -> float:
        return math.log(2.0 * (1.0 - self.theta1))

    @property
    def step_candidate_only(self) -> float:
        return math.log(2.0 * self.theta1)

    @property
    def upper(self) -> float:
        """llr at or above this: FIXED."""
        return math.log(1.0 / self.alpha)

    @property
    def lower(self) -> float:
        """llr at or below this: NOT FIXED."""
        return -math.log(1.0 / self.error_not_fixed)

    def as_dict(self) -> dict:
        return {
            "method": "SPRT on discordant paired cycles",
            "max_cycles": self.max_cycles,
            "alpha": self.alpha,
            "beta": self.error_not_fixed,
            "odds_ratio": self.odds_ratio,
            "theta1": self.theta1,
            "upper": self.upper,
            "lower": self.lower,
        }


@dataclass
class Decision:
    verdict: str  # FIXED | NOT FIXED | INCONCLUSIVE
    cycle: int  # the number of paired cycles looked at when it stopped
    reason: str
    llr: float
    baseline_only: int
    candidate_only: int
    both: int
    p_value: float  # anytime-valid: 1 / the largest likelihood ratio seen
    design: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


class SequentialTest:
    """Feed it paired cycles in index order with :meth:`add`; it says when to stop."""

    def __init__(self, design: Design):
        self.design = design
        self.cycles = 0
        self.baseline_only = 0
        self.candidate_only = 0
        self.both = 0
        self.llr = 0.0
        self.max_llr = 0.0
        self.decision: Decision | None = None

    @property
    def done(self) -> bool:
        return self.decision is not None

    def add(self, baseline_crashed: bool, candidate_crashed: bool) -> Decision | None:
        """Account one pair; return the decision when this pair settles it (else None)."""
        if self.decision is not None:
            raise RuntimeError("the test has already stopped")
        d = self.design
        self.cycles += 1
        if baseline_crashed and candidate_crashed:
            self.both += 1
        elif baseline_crashed:
            self.baseline_only += 1
            self.llr += d.step_baseline_only
        elif candidate_crashed:
            self.candidate_only += 1
            self.llr += d.step_candidate_only
        self.max_llr = max(self.max_llr, self.llr)
        # a hair of tolerance so that exactly k steps reaching a boundary count as reaching it
        eps = 1e-9
        if self.llr >= d.upper - eps:
            self._stop(
                FIXED,
                f"the log likelihood ratio {self.llr:.2f} reached the FIXED "
                f"boundary log(1/alpha) = {d.upper:.2f}",
            )
        elif self.llr <= d.lower + eps:
            self._stop(
                NOT_FIXED,
                f"the log likelihood ratio {self.llr:.2f} reached the NOT "
                f"FIXED boundary -log(1/beta) = {d.lower:.2f}",
            )
        elif self.cycles >= d.max_cycles:
            self._stop(
                INCONCLUSIVE,
                f"--max-cycles {d.max_cycles} reached with the log "
                f"likelihood ratio {self.llr:.2f} between the boundaries "
                f"{d.lower:.2f} and {d.upper:.2f}",
            )
        return self.decision

    def finish(self, why: str) -> Decision:
        """Stop before a boundary or the cap (a run ended early): INCONCLUSIVE."""
        if self.decision is None:
            return self._stop(INCONCLUSIVE, why)
        return self.decision

    def _stop(self, verdict: str, reason: str) -> Decision:
        counts = (
            f"{self.baseline_only} baseline-only and {self.candidate_only} "
            f"candidate-only crashes, {self.both} in both"
        )
        self.decision = Decision(
            verdict=verdict,
            cycle=self.cycles,
            reason=f"stopped after cycle {self.cycles}: {reason} ({counts})",
            llr=self.llr,
            baseline_only=self.baseline_only,
            candidate_only=self.candidate_only,
            both=self.both,
            p_value=min(1.0, math.exp(-self.max_llr)),
            design=self.design.as_dict(),
        )
        return self.decision


def crashed(outcome: str) -> bool:
    return outcome in CRASHED


def run_pairs(design: Design, pairs) -> Decision:
    """The decision over ``(baseline_crashed, candidate_crashed)`` pairs, stopping early."""
    test = SequentialTest(design)
    for b, c in pairs:
        if (decision := test.add(bool(b), bool(c))) is not None:
            return decision
    return test.finish(
        f"the runs ended after {test.cycles} paired cycles, before a "
        f"boundary or --max-cycles {design.max_cycles}"
    )


def cycles_to_fixed(design: Design) -> int:
    """The fewest discordant baseline-only pairs that decide FIXED (the best case)."""
    return math.ceil(design.upper / design.step_baseline_only - 1e-9)


def cycles_to_not_fixed(design: Design) -> int:
    """The fewest candidate-only pairs that decide NOT FIXED (the best case)."""
    return math.ceil(design.lower / design.step_candidate_only - 1e-9)
