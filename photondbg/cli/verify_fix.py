"""``photondbg verify-fix``: baseline vs candidate over the same WiFi-loss schedule, with
statistics."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from photondbg import firmware
from photondbg.cli.campaign import BoardOptions, board_config, board_options, open_board
from photondbg.cli.common import (
    app_option,
    count_option,
    cut_option,
    cycles_option,
    hold_option,
    json_option,
    out_dir,
    out_option,
    resume_option,
    seed_option,
    variant_option,
)
from photondbg.errors import UsageError
from photondbg.log import run_log
from photondbg.photon.flash import METHODS


def _elf_option(name: str, help: str):
    """``--baseline-elf`` / ``--candidate-elf``: a build for the real board."""
    return click.option(name, type=click.Path(path_type=Path), default=None, help=help)


@click.command("verify-fix")
@variant_option("none", "--baseline", help="The build that shows the bug.")
@variant_option("all", "--candidate", help="The build with the fix to verify.")
@cycles_option(
    None,
    "Fixed-N: exactly this many WiFi cuts per build (the same schedule for "
    "both), then Fisher's exact test [default: 10].",
)
@count_option(
    "--max-cycles",
    help="Sequential: stop as soon as FIXED / NOT FIXED is decided at --alpha "
    "(Wald's SPRT on the paired cycles), after at most this many cycles.",
)
@count_option(
    "--jobs",
    help="sim: simulated boards at once, baseline and candidate interleaved, each "
    "with its own QEMU and bridge [default: the number of cores].",
)
@click.option(
    "--target",
    type=click.Choice(["sim", "photon"]),
    default="sim",
    show_default=True,
    help="sim: the simulated board; photon: a real one (flash, campaign, twice).",
)
@_elf_option(
    "--baseline-elf",
    "photon: the build that shows the bug (ELF, .bin beside it for dfu/particle).",
)
@_elf_option("--candidate-elf", "photon: the build with the fix.")
@click.option(
    "--flash-method",
    type=click.Choice(METHODS),
    default=None,
    help="photon: how each build is written to the board.",
)
@board_options
@app_option()
@seed_option()
@cut_option()
@hold_option("1:3 for down, 4:6 for uplink")
@click.option(
    "--alpha",
    type=click.FloatRange(0.0001, 0.5),
    default=0.05,
    show_default=True,
    help="Significance level.",
)
@json_option("Print the verdict as one JSON line on stdout (progress goes to stderr).")
@out_option("Directory for verify.json, verify.md, outcomes.png, cycles.jsonl and the logs.")
@resume_option(
    "sim: continue the interrupted verify-fix in DIR (its "
    "cycles.jsonl) with its options; only missing cycles run."
)
def verify_fix(
    baseline,
    candidate,
    cycles,
    max_cycles,
    jobs,
    target,
    baseline_elf,
    candidate_elf,
    flash_method,
    bench: BoardOptions,
    app,
    seed,
    cut,
    hold,
    alpha,
    as_json,
    out,
    resume,
):
    """Run the same WiFi-loss campaign on two builds and decide whether the fix works:
    FIXED / NOT FIXED / INCONCLUSIVE (Fisher exact test, or an exact bound when the candidate
    never crashed), plus RECOVERY PASS/FAIL (did the server always answer again).

    \b
    Example:
      photondbg verify-fix --baseline none --candidate clients --cycles 10
      photondbg verify-fix --baseline none --candidate all --cycles 20 --json
      photondbg verify-fix --baseline none --candidate all --max-cycles 60 --alpha 0.001
      photondbg verify-fix --target photon --baseline-elf before.elf --candidate-elf after.elf \
          --flash-method openocd --probe cmsis-dap --host 192.168.1.50 --port 7123 \
          --netcut-cmd "ssh pi@relay ./relay.sh off" --netrestore-cmd "ssh pi@relay ./relay.sh on" \
          --serial /dev/ttyACM0 --cycles 20
    Exit 0 when both campaigns ran (read the verdict), 2 on bad input, 1 on tool failure.
    """
    from photondbg.campaign.records import CampaignConfig
    from photondbg.campaign.verify import run_verify
    from photondbg.sim.wifi import CUT_KINDS

    photon_only = {
        "--baseline-elf": baseline_elf,
        "--candidate-elf": candidate_elf,
        "--flash-method": flash_method,
    }
    progress = sys.stderr if as_json else sys.stdout
    done: dict = {}
    if resume:
        from photondbg.cli.campaign_runner import resume_options

        if target != "sim":
            raise UsageError("--resume continues a verify-fix on the sim (--target sim)")
        opts, done = resume_options(
            resume,
            "verify-fix",
            {
                "baseline": baseline,
                "candidate": candidate,
                "cycles": cycles,
                "max_cycles": max_cycles,
                "app": app,
                "seed": seed,
                "cut": cut,
                "hold": hold,
                "alpha": alpha,
            },
        )
        baseline, candidate, max_cycles, app, seed, cut, alpha = (
            opts[k] for k in ("baseline", "candidate", "max_cycles", "app", "seed", "cut", "alpha")
        )
        cycles = None if max_cycles is not None else opts["cycles"]
        hold = tuple(opts["hold"]) if opts["hold"] else None
    if cycles is not None and max_cycles is not None:
        raise UsageError("--cycles (fixed) and --max-cycles (sequential) exclude each other")
    design = None
    if max_cycles is not None:
        from photondbg.campaign.sequential import Design

        design = Design(max_cycles=max_cycles, alpha=alpha)
        cycles = max_cycles
    elif cycles is None:
        cycles = 10
    if target == "photon":
        if design is not None or (jobs or 1) > 1:
            raise UsageError(
                "--max-cycles and --jobs need --target sim (one real board "
                "runs one build at a time)"
            )
        res, outdir = _verify_photon(
            baseline_elf,
            candidate_elf,
            flash_method,
            bench,
            cycles,
            seed,
            hold,
            alpha,
            out,
            progress,
        )
        _report(res, outdir, cycles, alpha, as_json, progress)
        return
    extra = [name for name, value in photon_only.items() if value is not None] + bench.given()
    if extra:
        raise UsageError(f"{extra[0]} needs --target photon")
    if baseline == candidate:
        raise UsageError(f"--baseline and --candidate are both {baseline!r}: nothing to compare")
    outdir = Path(resume) if resume else out_dir(out, f"verify-{app}-{baseline}-vs-{candidate}")
    fw = firmware
    elfs = {v: Path(fw.build(app=app, variant=v)) for v in (baseline, candidate)}
    cuts = CUT_KINDS if cut == "mixed" else (cut,)

    def config(variant):
        return CampaignConfig(
            elf=elfs[variant],
            app=app,
            variant=variant,
            cycles=cycles,
            seed=seed,
            cuts=cuts,
            hold=hold,
        )

    jobs = jobs or os.cpu_count() or 1
    from photondbg.campaign.journal import Journal

    record = Journal(
        outdir,
        "verify-fix",
        {
            "baseline": baseline,
            "candidate": candidate,
            "cycles": cycles,
            "max_cycles": max_cycles,
            "app": app,
            "seed": seed,
            "cut": cut,
            "hold": list(hold) if hold else None,
            "alpha": alpha,
            "jobs": jobs,
        },
        resume=bool(resume),
    )
    if done:
        click.echo(
            f"verify-fix: resumed {outdir}: "
            + ", ".join(f"{role} {len(c)} of {cycles}" for role, c in sorted(done.items()))
            + " cycles already done",
            file=progress,
        )
    show = _on_cycle(cycles, progress)

    def on_cycle(role, r):  # on disk (cycles.jsonl) the moment the cycle ends
        record.append(role, r)
        show(role, r)

    try:
        with run_log(outdir):
            res = run_verify(
                config(baseline),
                config(candidate),
                outdir,
                alpha=alpha,
                on_cycle=on_cycle,
                jobs=jobs,
                design=design,
                done=done,
            )
    except KeyboardInterrupt as e:  # every finished cycle is in cycles.jsonl: say how to go on
        from photondbg.procs import interruption

        intr = interruption(e)
        intr.partial = f"{record.path} (continue: photondbg verify-fix --resume {outdir})"
        if intr is not e:
            raise intr from None
        raise
    _report(res, outdir, cycles, alpha, as_json, progress)


def _on_cycle(cycles, progress):
    def on_cycle(role, r):
        extra = f"  cut->crash {r.cut_to_crash:.2f}s" if r.cut_to_crash is not None else ""
        click.echo(
            f"{role:<9} {r.index}/{cycles}  {r.outcome:<11}  cut={r.cut:<6} "
            f"hold={r.hold:.2f}s{extra}",
            file=progress,
        )

    return on_cycle


def _verify_photon(
    baseline_elf,
    candidate_elf,
    flash_method,
    options: BoardOptions,
    cycles,
    seed,
    hold,
    alpha,
    out,
    progress,
):
    """Flash, campaign, flash, campaign on the real board; the same verdict and outputs."""
    from photondbg.campaign.board import verify_on_board
    from photondbg.photon.flash import flash

    for name, path in (("--baseline-elf", baseline_elf), ("--candidate-elf", candidate_elf)):
        if path is None:
            raise UsageError(f"{name} is required with --target photon")
        if not path.is_file():
            raise UsageError(f"{name}: file not found: {path}")
    from photondbg.farm import place_from

    on_farm = place_from(options.labgrid_place, options.labgrid_env)[0] is not None
    if flash_method is None and not on_farm:
        raise UsageError(
            "--flash-method is required with --target photon (openocd, dfu or particle)"
        )
    if baseline_elf.resolve() == candidate_elf.resolve():
        raise UsageError("--baseline-elf and --candidate-elf are the same file: nothing to compare")
    with open_board(options) as board:
        labels = [baseline_elf.stem, candidate_elf.stem]
        if labels[0] == labels[1]:  # two Device OS refs often build the same file name
            labels = [f"baseline-{labels[0]}", f"candidate-{labels[1]}"]
        configs = [
            board_config(
                variant=label,
                cycles=cycles,
                seed=seed,
                hold=hold,
                period=0.5,
                recovery=options.recovery,
                boot_timeout=options.boot_timeout,
                elf=elf,
                netcut=board.netcut,
            )
            for label, elf in zip(labels, (baseline_elf, candidate_elf))
        ]
        outdir = out_dir(out, f"verify-photon-{labels[0]}-vs-{labels[1]}")

        def do_flash(elf):
            if flash_method is None:  # the labgrid place's own BootstrapProtocol driver
                return board.place.flash(elf)
            res = flash(elf, flash_method, interface=options.probe or "cmsis-dap")
            if not res.verified:
                from photondbg.errors import ToolFailure

                raise ToolFailure(
                    f"flashing {elf} by {flash_method} was not verified: {res.detail}"
                )
            return res

        with run_log(outdir):
            res = verify_on_board(
                board,
                configs[0],
                configs[1],
                outdir,
                flash=do_flash,
                alpha=alpha,
                on_cycle=_on_cycle(cycles, progress),
                on_note=lambda text: click.echo(text, file=progress),
            )
    return res, outdir


def _report(res, outdir, cycles, alpha, as_json, progress):
    s = res.summary()
    b, c = s["baseline"], s["candidate"]
    click.echo(
        f"baseline  {b['variant']:<8} {b['outcomes']}  crash rate {b['crash_rate']:.2f}",
        file=progress,
    )
    click.echo(
        f"candidate {c['variant']:<8} {c['outcomes']}  crash rate {c['crash_rate']:.2f}",
        file=progress,
    )
    bound = (
        f", candidate crash rate < {s['candidate_upper_bound']:.3f}"
        if s["candidate_upper_bound"] is not None
        else ""
    )
    if s.get("stop_reason"):
        click.echo(s["stop_reason"], file=progress)
    p_kind = "anytime-valid p" if s["mode"] == "sequential" else "p"
    click.echo(
        f"verdict: {s['verdict']} ({p_kind}={s['p_value']:.4g}, alpha {alpha}{bound}); "
        f"recovery: {s['recovery']}; report: {outdir / 'verify.md'}",
        file=progress,
    )
    if as_json:
        s["out"] = str(outdir)
        click.echo(json.dumps(s, separators=(",", ":")))
