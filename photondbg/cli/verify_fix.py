"""``photondbg verify-fix``: baseline vs candidate over the same WiFi-loss schedule, with statistics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from photondbg.cli.sim import APPS, CUT_CHOICES, VARIANTS, _firmware, _hold, _out_dir
from photondbg.errors import UsageError


@click.command("verify-fix")
@click.option("--baseline", type=click.Choice(VARIANTS), default="none", show_default=True,
              help="The build that shows the bug.")
@click.option("--candidate", type=click.Choice(VARIANTS), default="all", show_default=True,
              help="The build with the fix to verify.")
@click.option("--cycles", type=click.IntRange(min=1), default=10, show_default=True,
              help="WiFi cuts per build (the same schedule for both).")
@click.option("--target", type=click.Choice(["sim"]), default="sim", show_default=True,
              help="Only the simulated board runs unattended campaigns.")
@click.option("--app", type=click.Choice(APPS), default="multi-server", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--cut", type=click.Choice(CUT_CHOICES), default="mixed", show_default=True)
@click.option("--hold", callback=_hold, metavar="MIN:MAX",
              help="Seconds each cut is held [default: 1:3 for down, 4:6 for uplink].")
@click.option("--alpha", type=click.FloatRange(0.0001, 0.5), default=0.05, show_default=True,
              help="Significance level.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the verdict as one JSON line on stdout (progress goes to stderr).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Directory for verify.json, verify.md, outcomes.png and the logs.")
def verify_fix(baseline, candidate, cycles, target, app, seed, cut, hold, alpha, as_json, out):
    """Run the same WiFi-loss campaign on two builds and decide whether the fix works:
    FIXED / NOT FIXED / INCONCLUSIVE (Fisher exact test, or an exact bound when the candidate
    never crashed), plus RECOVERY PASS/FAIL (did the server always answer again).

    \b
    Example:
      photondbg verify-fix --baseline none --candidate clients --cycles 10
      photondbg verify-fix --baseline none --candidate all --cycles 20 --json
    Exit 0 when both campaigns ran (read the verdict), 2 on bad input, 1 on tool failure.
    """
    from photondbg.sim.campaign import CampaignConfig
    from photondbg.sim.verify import run_verify
    from photondbg.sim.wifi import CUT_KINDS

    if baseline == candidate:
        raise UsageError(f"--baseline and --candidate are both {baseline!r}: nothing to compare")
    outdir = _out_dir(out, f"verify-{app}-{baseline}-vs-{candidate}")
    fw = _firmware()
    elfs = {v: Path(fw.build(app=app, variant=v)) for v in (baseline, candidate)}
    cuts = CUT_KINDS if cut == "mixed" else (cut,)

    def config(variant):
        return CampaignConfig(elf=elfs[variant], app=app, variant=variant, cycles=cycles,
                              seed=seed, cuts=cuts, hold=hold)

    progress = sys.stderr if as_json else sys.stdout

    def on_cycle(role, r):
        extra = f"  cut->crash {r.cut_to_crash:.2f}s" if r.cut_to_crash is not None else ""
        click.echo(f"{role:<9} {r.index}/{cycles}  {r.outcome:<11}  cut={r.cut:<6} "
                   f"hold={r.hold:.2f}s{extra}", file=progress)

    res = run_verify(config(baseline), config(candidate), outdir, alpha=alpha, on_cycle=on_cycle)
    s = res.summary()
    b, c = s["baseline"], s["candidate"]
    click.echo(f"baseline  {b['variant']:<8} {b['outcomes']}  crash rate {b['crash_rate']:.2f}",
               file=progress)
    click.echo(f"candidate {c['variant']:<8} {c['outcomes']}  crash rate {c['crash_rate']:.2f}",
               file=progress)
    bound = (f", candidate crash rate < {s['candidate_upper_bound']:.3f}"
             if s["candidate_upper_bound"] is not None else "")
    click.echo(f"verdict: {s['verdict']} (p={s['p_value']:.4g}, alpha {alpha}{bound}); "
               f"recovery: {s['recovery']}; report: {outdir / 'verify.md'}", file=progress)
    if as_json:
        s["out"] = str(outdir)
        click.echo(json.dumps(s, separators=(",", ":")))
