"""The statistics of verify-fix: did the candidate remove the crash, and does its server recover?

Baseline and candidate ran the same schedule; each cycle ended OK, CRASH, LOCKUP, HANG or
NO_RECOVERY. "Crashed" means CRASH, LOCKUP or HANG (the device stopped serving because it broke).

- Fisher's exact test (one-sided: the candidate crashes less) on the 2x2 table
  crashed / not crashed x baseline / candidate.
- When the candidate never crashed, an exact binomial (Clopper-Pearson) upper bound on its crash
  rate: with n clean cycles, the rate is below 1 - alpha**(1/n) at confidence 1 - alpha.
Verdict FIXED when p < alpha and the candidate's crash rate is below the baseline's; NOT FIXED
when the candidate crashes at least as often with enough evidence (p of the opposite one-sided
test < alpha, or it crashed and the baseline did not); INCONCLUSIVE otherwise (too few cycles, or
a baseline that did not crash: nothing to fix was shown). RECOVERY PASS when no candidate cycle
ended NO_RECOVERY.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from photondbg.campaign.records import OUTCOMES, Outcome

CRASHED = (Outcome.CRASH.value, Outcome.LOCKUP.value, Outcome.HANG.value)


@dataclass
class Verdict:
    verdict: str  # FIXED | NOT FIXED | INCONCLUSIVE
    recovery: str  # PASS | FAIL
    p_value: float | None  # one-sided Fisher exact, candidate < baseline
    baseline_rate: float
    candidate_rate: float
    candidate_upper_bound: float | None  # when the candidate had zero crashes
    alpha: float
    table: dict

    def to_dict(self) -> dict:
        return asdict(self)


def crashes(outcomes: dict[str, int]) -> int:
    return sum(outcomes.get(k, 0) for k in CRASHED)


def total(outcomes: dict[str, int]) -> int:
    return sum(outcomes.get(k, 0) for k in OUTCOMES)


def zero_event_upper_bound(n: int, alpha: float = 0.05) -> float:
    """Exact one-sided upper confidence bound on a rate after 0 events in n trials."""
    if n <= 0:
        return 1.0
    return 1.0 - alpha ** (1.0 / n)


def decide(baseline: dict[str, int], candidate: dict[str, int], alpha: float = 0.05) -> Verdict:
    from scipy.stats import fisher_exact

    nb, nc = total(baseline), total(candidate)
    if nb == 0 or nc == 0:
        raise ValueError("both runs need at least one cycle")
    cb, cc = crashes(baseline), crashes(candidate)
    table = [[cb, nb - cb], [cc, nc - cc]]
    # H1 "the baseline crashes more than the candidate": odds ratio > 1
    p_fixed = float(fisher_exact(table, alternative="greater")[1])
    p_worse = float(fisher_exact(table, alternative="less")[1])
    rb, rc = cb / nb, cc / nc
    if p_fixed < alpha and rc < rb:
        verdict = "FIXED"
    elif (p_worse < alpha) or (cc > 0 and cb == 0):
        verdict = "NOT FIXED"
    elif cc > 0 and p_fixed >= alpha and rc >= rb:
        verdict = "NOT FIXED"
    else:
        verdict = "INCONCLUSIVE"
    recovery = "FAIL" if candidate.get("NO_RECOVERY", 0) else "PASS"
    return Verdict(
        verdict=verdict,
        recovery=recovery,
        p_value=p_fixed,
        baseline_rate=rb,
        candidate_rate=rc,
        candidate_upper_bound=zero_event_upper_bound(nc, alpha) if cc == 0 else None,
        alpha=alpha,
        table={
            "baseline": {"crashed": cb, "survived": nb - cb},
            "candidate": {"crashed": cc, "survived": nc - cc},
        },
    )
