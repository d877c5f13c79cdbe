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
from photondbg.campaign.parallel import MakeCampaign, ParallelRun, chunk_size
from photondbg.campaign.records import OUTCOMES, CampaignConfig, CampaignResult, CycleResult
from photondbg.campaign.sequential import Decision, Design, SequentialTest, crashed
from photondbg.campaign.sim import SimCampaign
from photondbg.errors import ToolFailure, UsageError
from photondbg.procs import ProcessOwner


@dataclass
class VerifyResult:
    baseline: CampaignResult
    candidate: CampaignResult
    verdict: stats.Verdict
    files: dict[str, str] = field(default_factory=dict)
    sequential: Decision | None = None  # --max-cycles: where and why it stopped
    jobs: int = 1

    def summary(self) -> dict:
        v = self.verdict
        out = {
            "verdict": v.verdict,
            "recovery": v.recovery,
            "p_value": v.p_value,
            "alpha": v.alpha,
            "candidate_upper_bound": v.candidate_upper_bound,
            "baseline": {
                "variant": self.baseline.variant,
                "cycles": len(self.baseline.cycles),
                "outcomes": self.baseline.outcomes,
                "crash_rate": v.baseline_rate,
            },
            "candidate": {
                "variant": self.candidate.variant,
                "cycles": len(self.candidate.cycles),
                "outcomes": self.candidate.outcomes,
                "crash_rate": v.candidate_rate,
            },
            "files": self.files,
            "mode": "sequential" if self.sequential else "fixed",
            "jobs": self.jobs,
        }
        if self.sequential is not None:
            d = self.sequential
            out.update(stopped_at=d.cycle, stop_reason=d.reason, sequential=d.as_dict())
        return out


def run_verify(
    baseline: CampaignConfig,
    candidate: CampaignConfig,
    outdir: Path,
    *,
    alpha: float = 0.05,
    on_cycle: Callable[[str, CycleResult], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    make_campaign: MakeCampaign = SimCampaign,
    before: Callable[[str, CampaignConfig], None] | None = None,
    jobs: int = 1,
    design: Design | None = None,
    done: dict[str, dict[int, CycleResult]] | None = None,
) -> VerifyResult:
    """Both campaigns, then the verdict. ``make_campaign(cfg, owner, logdir=, on_note=,
    on_cycle=)`` builds a campaign (the sim's by default; a real board's for ``--target
    photon``); ``before(role, cfg)`` runs first for each (flashing a real board: one board,
    one build after the other). Without ``before`` the runs go through
    :class:`~photondbg.campaign.parallel.ParallelRun` on ``jobs`` boards at once. With a
    ``design`` (``--max-cycles``) the verdict is sequential: the runs stop once it is decided
    and only the paired cycles up to that point count."""
    if before is not None:
        if jobs > 1 or design is not None:
            raise UsageError(
                "one real board runs one build at a time: no --jobs or "
                "--max-cycles with --target photon"
            )
        base, cand = _one_after_the_other(
            baseline, candidate, outdir, on_cycle, on_note, make_campaign, before
        )
        res = VerifyResult(base, cand, _fixed(base, cand, alpha))
        write_outputs(res, Path(outdir))
        return res
    test = SequentialTest(design) if design is not None else None
    done = done or {}  # ``--resume``: the cycles the interrupted run finished, by role
    got: dict[str, dict[int, CycleResult]] = {
        "baseline": dict(done.get("baseline", {})),
        "candidate": dict(done.get("candidate", {})),
    }

    def feed() -> bool:
        if test is None:
            return False
        while not test.done and (i := test.cycles + 1) in got["baseline"] and i in got["candidate"]:
            test.add(crashed(got["baseline"][i].outcome), crashed(got["candidate"][i].outcome))
        return test.done

    def on_result(role: str, r: CycleResult) -> bool:
        got[role][r.index] = r
        if on_cycle:
            on_cycle(role, r)
        return feed()

    already = feed()

    size = chunk_size(baseline.cycles, jobs, sequential=test is not None)
    runs = ParallelRun(
        {"baseline": baseline, "candidate": candidate},
        outdir,
        jobs=jobs,
        size=size,
        make_campaign=make_campaign,
        on_result=on_result,
        on_note=on_note,
        done=done,
    )
    if already:  # the verdict was decided by the cycles of the interrupted run
        runs.queue = []
    results = runs.run()
    base, cand = results["baseline"], results["candidate"]
    if not base.cycles or not cand.cycles:
        raise ToolFailure("a run ended before its first cycle (time-out too short?)")
    if test is None:
        res = VerifyResult(base, cand, _fixed(base, cand, alpha), jobs=jobs)
    else:
        decision = test.decision or test.finish(
            f"the runs ended after {test.cycles} paired cycles (time-out?), before a boundary "
            f"or --max-cycles {test.design.max_cycles}"
        )
        res = VerifyResult(
            base,
            cand,
            _sequential(base, cand, decision, test.design),
            jobs=jobs,
            sequential=decision,
        )
    write_outputs(res, Path(outdir))
    return res


def _one_after_the_other(baseline, candidate, outdir, on_cycle, on_note, make_campaign, before):
    results = []
    for role, cfg in (("baseline", baseline), ("candidate", candidate)):
        logdir = Path(outdir) / f"{role}-{cfg.variant}"
        before(role, cfg)
        with ProcessOwner(logdir=logdir) as owner:
            camp = make_campaign(
                cfg,
                owner,
                logdir=logdir,
                on_note=on_note,
                on_cycle=(lambda r, role=role: on_cycle(role, r)) if on_cycle else None,
            )
            results.append(camp.run())
    base, cand = results
    if not base.cycles or not cand.cycles:
        raise ToolFailure("a run ended before its first cycle (time-out too short?)")
    return base, cand


def _fixed(base: CampaignResult, cand: CampaignResult, alpha: float) -> stats.Verdict:
    return stats.decide(base.outcomes, cand.outcomes, alpha=alpha)


def _sequential(
    base: CampaignResult, cand: CampaignResult, d: Decision, design: Design
) -> stats.Verdict:
    """The verdict of the paired cycles 1..d.cycle (later ones ran, but do not count)."""
    b = [c for c in base.cycles if c.index <= d.cycle]
    c = [c for c in cand.cycles if c.index <= d.cycle]
    nb, nc = len(b), len(c)
    cb, cc = sum(crashed(x.outcome) for x in b), sum(crashed(x.outcome) for x in c)
    return stats.Verdict(
        verdict=d.verdict,
        recovery="FAIL" if any(x.outcome == "NO_RECOVERY" for x in cand.cycles) else "PASS",
        p_value=d.p_value,
        baseline_rate=cb / nb if nb else 0.0,
        candidate_rate=cc / nc if nc else 0.0,
        candidate_upper_bound=stats.zero_event_upper_bound(nc, design.alpha) if cc == 0 else None,
        alpha=design.alpha,
        table={
            "baseline": {"crashed": cb, "survived": nb - cb},
            "candidate": {"crashed": cc, "survived": nc - cc},
        },
    )


def write_outputs(res: VerifyResult, outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    png = outdir / "outcomes.png"
    v = res.verdict
    outcome_chart(
        png,
        [[c.outcome for c in res.baseline.cycles], [c.outcome for c in res.candidate.cycles]],
        labels=[f"baseline: {res.baseline.variant}", f"candidate: {res.candidate.variant}"],
        title=f"{v.verdict} (p={v.p_value:.3g}), recovery {v.recovery}",
    )
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
    lines = [
        f"# verify-fix: {b.variant} -> {c.variant} ({b.app}, seed {b.seed})",
        "",
        f"**Verdict: {v.verdict}** · recovery **{v.recovery}**",
        "",
        "| run | variant | cycles | " + " | ".join(OUTCOMES) + " | crash rate |",
        "|---|---|---|" + "---|" * len(OUTCOMES) + "---|",
    ]
    for role, r, rate in (("baseline", b, v.baseline_rate), ("candidate", c, v.candidate_rate)):
        o = r.outcomes
        lines.append(
            f"| {role} | {r.variant} | {len(r.cycles)} | "
            + " | ".join(str(o[k]) for k in OUTCOMES)
            + f" | {rate:.2f} |"
        )
    if res.sequential is not None:
        d = res.sequential
        lines += [
            "",
            (
                f"Sequential test (Wald's SPRT on the paired cycles, alpha {v.alpha}, "
                f"odds ratio of a working fix {d.design['odds_ratio']}, at most "
                f"{d.design['max_cycles']} cycles): {d.reason}. Anytime-valid p = "
                f"{d.p_value:.4g}. Only cycles 1-{d.cycle} count; cycles already under "
                f"way when it stopped are listed below but not used."
            ),
        ]
    else:
        lines += [
            "",
            (
                f"One-sided Fisher exact test (candidate crashes less): "
                f"p = {v.p_value:.4g} (alpha {v.alpha})."
            ),
        ]
    if v.candidate_upper_bound is not None:
        lines.append(
            f"The candidate never crashed: its crash rate is below "
            f"{v.candidate_upper_bound:.3f} at {100 * (1 - v.alpha):.0f}% confidence."
        )
    lines += [
        "",
        "Crashed = CRASH, LOCKUP or HANG. Recovery FAIL = a candidate cycle ended "
        "NO_RECOVERY (the server never answered again).",
        "",
        "![outcomes per cycle (top: baseline, bottom: candidate)](outcomes.png)",
        "",
        "| cycle | cut | hold s | baseline | candidate |",
        "|---|---|---|---|---|",
    ]
    bs, cs = {x.index: x for x in b.cycles}, {x.index: x for x in c.cycles}
    for i in sorted(set(bs) | set(cs)):
        bc, cc = bs.get(i), cs.get(i)
        ref = bc or cc
        lines.append(
            f"| {i} | {ref.cut} | {ref.hold:.2f} | {bc.outcome if bc else ''} | "
            f"{cc.outcome if cc else ''} |"
        )
    return "\n".join(lines) + "\n"
