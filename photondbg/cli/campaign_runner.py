"""A campaign on the command line (``sim run``, ``campaign``, ``verify-fix``): progress lines,
a live status, campaign.json, the outcome table, the ``--json`` last line, and ``--resume``."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from photondbg.errors import UsageError


def resume_options(resume: str, verb: str, given: dict) -> tuple[dict, dict]:
    """The interrupted run's options and finished cycles; options repeated on the command line
    are refused (the run continues as it began)."""
    from photondbg.campaign import journal

    ctx = click.get_current_context()
    repeated = [
        k for k in given if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE
    ]
    if repeated:
        raise UsageError(
            f"--resume continues {resume} with the options it began with: drop --{repeated[0]}"
        )
    header, runs = journal.read(Path(resume))
    if header.get("verb") != verb:
        raise UsageError(f"{resume} holds a {header.get('verb')!r} run, not {verb!r}")
    return header["options"], runs


def run_campaign(
    make,
    *,
    header: str,
    cycles: int,
    outdir: Path,
    as_json: bool,
    journal=None,
    label: str = "sim",
    done: dict | None = None,
    resume_cmd: str | None = None,
    journal_meta: dict | None = None,
) -> None:
    """Run a campaign (sim or real board) with progress, campaign.json, the outcome table and
    the ``--json`` last line. ``make(owner, on_cycle=, on_note=, on_phase=)`` builds the runner.
    With a ``journal`` every finished cycle is recorded at once (cycles.jsonl); ``done`` are the
    cycles a resumed run already has (merged into the result by index)."""
    from photondbg.log import run_log
    from photondbg.procs import ProcessOwner, interruption

    progress = sys.stderr if as_json else sys.stdout
    tty = progress.isatty()

    def echo(text: str) -> None:
        click.echo(text, file=progress)

    echo(header)
    done = done or {}
    try:
        if done and len(done) >= cycles:
            result = _from_journal(done, cycles, journal_meta or {})
        else:
            with (
                ProcessOwner(logdir=outdir) as owner,
                run_log(outdir),
                _status(tty, progress) as status,
            ):

                def on_phase(index, phase):
                    status(f"cycle {index}/{cycles}: {phase.value}" if index else phase.value)

                def on_cycle(r):
                    echo(cycle_line(r, cycles))

                runner = make(
                    owner,
                    on_note=echo,
                    on_phase=on_phase,
                    on_cycle=journal.hook(label, on_cycle) if journal else on_cycle,
                )
                result = runner.run()
    except KeyboardInterrupt as e:  # the journal has every finished cycle: say how to go on
        intr = interruption(e)
        if journal is not None:
            intr.partial = f"{journal.path}" + (f" (continue: {resume_cmd})" if resume_cmd else "")
        if intr is not e:
            raise intr from None
        raise
    if done:
        _merge(result, done)
    (outdir / "campaign.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    if tty:
        _table(result, progress)
    else:
        echo("outcomes: " + " ".join(f"{k}={v}" for k, v in result.outcomes.items()))
        echo("http: " + " ".join(f"{k}={v}" for k, v in result.http.items()))
    if getattr(result, "stopped_early", None):
        echo(f"stopped early: {result.stopped_early}")
    if as_json:
        click.echo(json.dumps(result.summary(), separators=(",", ":")))


def _merge(result, done: dict) -> None:
    """A resumed run's result holds every cycle, by index; its counters add the earlier ones."""
    new = {r.index: r for r in result.cycles}
    result.cycles = [new.get(i) or done[i] for i in sorted(set(done) | set(new))]
    http: dict = {}
    for r in result.cycles:
        for k, v in (r.http or {}).items():
            if isinstance(v, (int, float)):
                http[k] = http.get(k, 0) + v
    result.http = http


def _from_journal(done: dict, cycles: int, meta: dict):
    """Nothing left to run: the result from the recorded cycles alone."""
    from photondbg.campaign.records import CampaignResult

    return CampaignResult(
        variant=meta.get("variant", "?"),
        app=meta.get("app", "?"),
        seed=meta.get("seed", 0),
        requested=cycles,
    )


def cycle_line(r, cycles: int) -> str:
    """One progress line per finished cycle (sim run and the real-board campaign)."""
    extra = f"  cut->crash {r.cut_to_crash:.2f}s" if r.cut_to_crash is not None else ""
    rec = f"  recovered in {r.recovery_time:.2f}s" if r.recovery_time is not None else ""
    http = " ".join(f"{k}={v}" for k, v in r.http.items() if v and k != "requests")
    return (
        f"cycle {r.index}/{cycles}  {r.outcome:<11}  cut={r.cut:<6} hold={r.hold:.2f}s"
        f"{extra}{rec}  http[{http}]" + (f"  {r.detail}" if r.detail else "")
    )


@contextlib.contextmanager
def _status(tty: bool, stream):
    """A live one-line status (rich spinner) on a terminal; nothing otherwise."""
    if not tty:
        yield lambda text: None
        return
    from rich.console import Console

    with Console(file=stream).status("starting") as st:
        yield lambda text: st.update(text)


def _table(result, stream) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result.app} variant={result.variant} seed={result.seed}")
    for col in ("#", "cut", "hold", "outcome", "crash after", "recovered", "ok/timeout/err"):
        table.add_column(col, no_wrap=True)
    table.add_column("detail", overflow="fold")
    style = {"OK": "green", "NO_RECOVERY": "yellow"}
    for r in result.cycles:
        table.add_row(
            str(r.index),
            r.cut,
            f"{r.hold:.2f}s",
            f"[{style.get(r.outcome, 'red')}]{r.outcome}[/]",
            "" if r.cut_to_crash is None else f"{r.cut_to_crash:.2f}s",
            "" if r.recovery_time is None else f"{r.recovery_time:.2f}s",
            f"{r.http.get('ok', 0)}/{r.http.get('timeout', 0)}/{r.http.get('conn_error', 0)}",
            r.detail,
        )
    con = Console(file=stream)
    con.print(table)
    con.print("outcomes: " + "  ".join(f"{k} {v}" for k, v in result.outcomes.items()))
