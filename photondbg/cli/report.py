"""``photondbg report``: re-render a capture (Markdown, JSON or one self-contained HTML page) and
check that the ELF at hand is the captured firmware. Reads only the capture directory."""

from __future__ import annotations

from pathlib import Path

import click

from photondbg.errors import EXIT_NOTHING, EXIT_OK

FORMATS = ("md", "json", "html")


@click.command("report")
@click.argument("capture_dir", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="md",
    show_default=True,
    help="md and json go to stdout; html is written to CAPTURE_DIR/report.html.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write here instead (atomically; '-' for stdout).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Only check that the ELF (--elf, else the capture's copy, else the recorded "
    "path) has the captured sha256: exit 0 it matches, 3 it does not.",
)
@click.option(
    "--elf",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The ELF to check (with --check).",
)
def report(capture_dir, fmt, out, check, elf):
    """Re-render a capture directory, or check the ELF against it.

    \b
    Examples:
      photondbg report captures/20261130T215227Z-sim                 # report.md to stdout
      photondbg report captures/20261130T215227Z-sim --format html   # -> .../report.html
      photondbg report captures/20261130T215227Z-sim --check --elf build/app.elf
    Exit 0 rendered (or --check: the ELF matches), 3 --check: it does not match,
    2 not a capture / no ELF at hand.
    """
    from photondbg.capture.report import atomic_write, render_markdown
    from photondbg.replay.image import check_elf, load_report, sha256_of, typed

    if elf is not None and not check:
        from photondbg.errors import UsageError

        raise UsageError("--elf goes with --check (the page renders from the capture alone)")
    capdir, rep = load_report(capture_dir)
    model = typed(rep)
    if check:
        path, ok = check_elf(capdir, rep, elf)
        want = rep["target"].get("elf_sha256") or "(none recorded)"
        if ok:
            click.echo(f"match: {path} is the captured firmware (sha256 {want})")
            raise SystemExit(EXIT_OK)
        click.echo(f"MISMATCH: {path} sha256 {sha256_of(path)}, the capture has {want}")
        raise SystemExit(EXIT_NOTHING)
    if fmt == "json":
        text = model.to_json()
    elif fmt == "md":
        text = render_markdown(model)
    else:
        from photondbg.render.html import render_html

        text = render_html(capdir, model)
        if out is None:
            out = capdir / "report.html"
    if out is None or str(out) == "-":
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        atomic_write(Path(out), text)
    except OSError as e:
        from photondbg.errors import UsageError

        raise UsageError(f"cannot write {out}: {e.strerror}") from None
    click.echo(str(out))
