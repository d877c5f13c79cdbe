"""verify-fix: the same WiFi-loss schedule on a baseline and a candidate build, then the
statistics of :mod:`photondbg.campaign.verdict`. Writes verify.json, verify.md and outcomes.png.
The campaigns are the sim's unless the caller passes another maker (the real board's)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from photondbg.campaign import verdict as stats
from photondbg.campaign.chart import outcome_chart
from photondbg.campaign.records import OUTCOMES, CampaignConfig, CampaignResult, CycleResult
from photondbg.campaign.sim import SimCampaign
from photondbg.errors import ToolFailure
from photondbg.procs import ProcessOwner


@dataclass
class VerifyResult:
    baseline: CampaignResult
    candidate: CampaignResult
    verdict: stats.Verdict
    files: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict:
        v = self.verdict
        return {"verdict": v.verdict, "recovery": v.recovery, "p_value": v.p_value,
                "alpha": v.alpha, "candidate_upper_bound": v.candidate_upper_bound,
                "baseline": {"variant": self.baseline.variant,
                             "cycles": len(self.baseline.cycles),
                             "outcomes": self.baseline.outcomes,
                             "crash_rate": v.baseline_rate},
                "candidate": {"variant": self.candidate.variant,
                              "cycles": len(self.candidate.cycles),
                              "outcomes": self.candidate.outcomes,
                              "crash_rate": v.candidate_rate},
                "files": self.files}


def run_verify(baseline: CampaignConfig, candidate: CampaignConfig, outdir: Path, *,
               alpha: float = 0.05,
               on_cycle: Callable[[str, CycleResult], None] | None = None,
               on_note: Callable[[str], None] | None = None,
               make_campaign: Callable[..., object] = SimCampaign,
               before: Callable[[str, CampaignConfig], None] | None = None) -> VerifyResult:
    """Both campaigns, then the verdict. ``make_campaign(cfg, owner, logdir=, on_note=,
    on_cycle=)`` builds a campaign (the sim's by default; a real board's for ``--target
    photon``); ``before(role, cfg)`` runs first for each (flashing a real board)."""
    results = []
    for role, cfg in (("baseline", baseline), ("candidate", candidate)):
        logdir = Path(outdir) / f"{role}-{cfg.variant}"
        if before is not None:
            before(role, cfg)
        with ProcessOwner(logdir=logdir) as owner:
            camp = make_campaign(cfg, owner, logdir=logdir, on_note=on_note,
                                 on_cycle=(lambda r, role=role: on_cycle(role, r))
                                 if on_cycle else None)
            results.append(camp.run())
    base, cand = results
    if not base.cycles or not cand.cycles:
        raise ToolFailure("a run ended before its first cycle (time-out too short?)")
    v = stats.decide(base.outcomes, cand.outcomes, alpha=alpha)
    res = VerifyResult(base, cand, v)
    write_outputs(res, Path(outdir))
    return res


def write_outputs(res: VerifyResult, outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    png = outdir / "outcomes.png"
    v = res.verdict
    outcome_chart(png, [[c.outcome for c in res.baseline.cycles],
                        [c.outcome for c in res.candidate.cycles]],
                  labels=[f"baseline: {res.baseline.variant}", f"candidate: {res.candidate.variant}"],
                  title=f"{v.verdict} (p={v.p_value:.3g}), recovery {v.recovery}")
    res.files = {"json": "verify.json", "markdown": "verify.md", "chart": png.name}
    full = res.summary()
    full["runs"] = {"baseline": res.baseline.as_dict(), "candidate": res.candidate.as_dict()}
    _atomic(outdir / "verify.json", json.dumps(full, indent=2) + "\n")
    _atomic(outdir / "verify.md", markdown(res))


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def markdown(res: VerifyResult) -> str:
    v = res.verdict
    b, c = res.baseline, res.candidate
    lines = [f"# verify-fix: {b.variant} -> {c.variant} ({b.app}, seed {b.seed})", "",
             f"**Verdict: {v.verdict}** · recovery **{v.recovery}**", "",
             "| run | variant | cycles | " + " | ".join(OUTCOMES) + " | crash rate |",
             "|---|---|---|" + "---|" * len(OUTCOMES) + "---|"]
    for role, r, rate in (("baseline", b, v.baseline_rate), ("candidate", c, v.candidate_rate)):
        o = r.outcomes
        lines.append(f"| {role} | {r.variant} | {len(r.cycles)} | "
                     + " | ".join(str(o[k]) for k in OUTCOMES) + f" | {rate:.2f} |")
    lines += ["", f"One-sided Fisher exact test (candidate crashes less): p = {v.p_value:.4g} "
              f"(alpha {v.alpha})."]
    if v.candidate_upper_bound is not None:
        lines.append(f"The candidate never crashed: its crash rate is below "
                     f"{v.candidate_upper_bound:.3f} at {100 * (1 - v.alpha):.0f}% confidence.")
    lines += ["", "Crashed = CRASH, LOCKUP or HANG. Recovery FAIL = a candidate cycle ended "
              "NO_RECOVERY (the server never answered again).", "",
              "![outcomes per cycle (top: baseline, bottom: candidate)](outcomes.png)", "",
              "| cycle | cut | hold s | baseline | candidate |", "|---|---|---|---|---|"]
    for i in range(max(len(b.cycles), len(c.cycles))):
        bc = b.cycles[i] if i < len(b.cycles) else None
        cc = c.cycles[i] if i < len(c.cycles) else None
        ref = bc or cc
        lines.append(f"| {i + 1} | {ref.cut} | {ref.hold:.2f} | {bc.outcome if bc else ''} | "
                     f"{cc.outcome if cc else ''} |")
    return "\n".join(lines) + "\n"
