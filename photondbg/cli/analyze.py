"""``photondbg analyze CAPTURE_DIR``: the root-cause analysis of a capture, from its RAM dump
and the firmware ELF (heap walk, dangling pointers by path, provenance of the faulting value).

Works on any capture directory with ``report.json`` + ``ram.bin`` (sim or real board). Prints
the "Root cause" section (or the section as one JSON object with ``--json``); ``--write``
stores it into the capture's report.json/report.md (atomically).
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("analyze")
@click.argument("capdir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--elf",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The firmware ELF (default: the one report.json names).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the root_cause section as JSON.")
@click.option("--write", is_flag=True, help="Store the section in the capture's report.")
@click.option("--heaps", is_flag=True, help="Also list every heap block.")
def analyze(capdir, elf, as_json, write, heaps):
    """Name the use-after-free behind a captured fault, or say what was checked.

    \b
    Examples:
      photondbg analyze captures/20261130T214448Z-sim
      photondbg analyze captures/20261130T214448Z-sim \\
          --elf build/multi-server-none/multi-server.elf --json
    Exit 0 analysed, 2 bad input (not a capture directory, missing or wrong ELF, bad ram.bin).
    """
    from photondbg.analysis.heap import find_heaps
    from photondbg.analysis.memory import load_capture_ram
    from photondbg.analysis.rootcause import analyze_capture, render_markdown
    from photondbg.capture.elfinfo import ElfInfo
    from photondbg.capture.report import ReportWriter
    from photondbg.errors import UsageError

    if not capdir.is_dir():
        raise UsageError(f"{capdir}: no such capture directory")
    try:
        report = json.loads((capdir / "report.json").read_text())
    except FileNotFoundError:
        raise UsageError(f"{capdir}: no report.json (not a capture directory)") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{capdir / 'report.json'}: unreadable report ({e})") from None
    if not isinstance(report, dict):
        raise UsageError(f"{capdir / 'report.json'}: not a capture report")
    if elf is None:
        named = (report.get("target") or {}).get("elf")
        if not named:
            raise UsageError(f"{capdir}: the report names no ELF; give --elf")
        elf = Path(named)
    if not elf.is_file():
        raise UsageError(f"{elf}: no such ELF (give --elf)")
    info = ElfInfo(elf)
    sha = (report.get("target") or {}).get("elf_sha256")
    if sha and sha != info.sha256:
        raise UsageError(f"{elf}: not the ELF this capture was taken with (sha256 differs)")
    try:
        section = analyze_capture(capdir, report, info)
        if heaps:
            mem = load_capture_ram(capdir, report, elf=info)
            section["blocks"] = {
                h.allocator: [b.as_dict() for b in h.blocks] for h in find_heaps(info, mem)
            }
    finally:
        info.close()
    if write:
        report["root_cause"] = section
        ReportWriter(capdir, report).write()
    if as_json:
        click.echo(json.dumps(section))
    else:
        click.echo("\n".join(render_markdown(section)).rstrip())
        for name, blocks in (section.get("blocks") or {}).items():
            click.echo(f"\n{name} blocks:")
            for b in blocks:
                click.echo(f"  0x{b['addr']:08x} {b['size']:6d} {b['state']}")
