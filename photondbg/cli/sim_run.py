"""``photondbg sim run``: boot the simulated board, load it, cut its WiFi CYCLES times."""

from __future__ import annotations

from pathlib import Path

import click

from photondbg import firmware
from photondbg.cli.campaign_runner import resume_options, run_campaign
from photondbg.cli.common import (
    app_option,
    campaign_out_option,
    cut_option,
    cycles_option,
    hold_option,
    json_option,
    out_dir,
    period_option,
    port_option,
    resume_option,
    seed_option,
    timeout_option,
    variant_option,
)
from photondbg.errors import UsageError


@click.command("run")
@variant_option()
@cycles_option()
@app_option()
@seed_option("Seeds the cut kinds, hold times and WiFi delays.")
@hold_option("1:3 for down, 4:6 for uplink")
@cut_option("down = AP power off; uplink = AP cable pulled; mixed = seeded choice.")
@period_option(1.0, "Seconds between the tester's GET / requests (per client).")
@click.option(
    "--clients",
    type=click.IntRange(1, 8),
    default=1,
    show_default=True,
    help="Parallel HTTP clients.",
)
@timeout_option()
@port_option()
@json_option()
@campaign_out_option("bridge.log")
@resume_option(
    "Continue the interrupted run in DIR (its cycles.jsonl): only "
    "the cycles it has not finished run, with its options."
)
def run(
    variant, cycles, app, seed, hold, cut, period, clients, port, timeout, as_json, out, resume
):
    """Boot the simulated board, run HTTP load, cut and restore its WiFi CYCLES times and
    classify each cycle: OK, CRASH, LOCKUP, HANG or NO_RECOVERY.

    \b
    Example:
      photondbg sim run --variant none --cycles 5 --seed 1
      photondbg sim run --variant all --cycles 3 --cut down --hold 1:2 --json
      photondbg sim run --resume photondbg-runs/20261130-221500-sim-multi-server-none
    Every finished cycle is appended to OUT/cycles.jsonl at once; after Ctrl-C (or any end)
    --resume OUT runs only the missing cycles and reports all of them.
    Exit 0 when the campaign ran (whatever the outcomes), 2 on bad input, 1 on tool failure.
    """
    from photondbg.campaign import journal
    from photondbg.campaign.records import CampaignConfig
    from photondbg.campaign.sim import SimCampaign
    from photondbg.ports import port_is_free
    from photondbg.sim.wifi import CUT_KINDS

    opts = {
        "variant": variant,
        "cycles": cycles,
        "app": app,
        "seed": seed,
        "hold": list(hold) if hold else None,
        "cut": cut,
        "period": period,
        "clients": clients,
        "port": port,
        "timeout": timeout,
    }
    done: dict = {}
    if resume:
        opts, done = resume_options(resume, "sim run", opts)
        variant, cycles, app, seed, cut = (
            opts[k] for k in ("variant", "cycles", "app", "seed", "cut")
        )
        hold = tuple(opts["hold"]) if opts["hold"] else None
        period, clients, port, timeout = (opts[k] for k in ("period", "clients", "port", "timeout"))
        done = done.get("sim", {})
        outdir = Path(resume)
    else:
        outdir = out_dir(out, f"sim-{app}-{variant}")
    if port is not None and not port_is_free(port):
        raise UsageError(f"port {port} on 127.0.0.1 is already in use")
    record = journal.Journal(outdir, "sim run", opts, resume=bool(resume))
    elf = firmware.build(app=app, variant=variant)
    cfg = CampaignConfig(
        elf=Path(elf),
        app=app,
        variant=variant,
        cycles=cycles,
        seed=seed,
        cuts=CUT_KINDS if cut == "mixed" else (cut,),
        hold=hold,
        period=period,
        clients=clients,
        host_port=port,
        timeout=timeout,
        indexes=journal.remaining(done, cycles) if resume else None,
    )
    header = f"sim run: {app} variant={variant} cycles={cycles} seed={seed} elf={elf} logs={outdir}"
    if done:
        header += f" (resumed: {len(done)} of {cycles} cycles already done)"
    run_campaign(
        lambda owner, **hooks: SimCampaign(cfg, owner, logdir=outdir, **hooks),
        header=header,
        cycles=cycles,
        outdir=outdir,
        as_json=as_json,
        journal=record,
        label="sim",
        done=done,
        resume_cmd=f"photondbg sim run --resume {outdir}",
        journal_meta=opts,
    )
