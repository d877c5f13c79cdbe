"""report.md sections for ``reproduce`` and ``timeline``, from the typed report
(:class:`~photondbg.capture.model.CaptureReport`; a plain report dict is accepted too)."""

from __future__ import annotations

from photondbg.capture.model import CaptureReport


def _model(r: CaptureReport | dict) -> CaptureReport:
    return r if isinstance(r, CaptureReport) else CaptureReport.from_dict(r)


def reproduce_markdown(report: CaptureReport | dict) -> list[str]:
    r = _model(report)
    rep = r.reproduce
    if rep is None or rep.error or not rep.rerun:
        return []
    out = [
        "## Reproduce",
        "",
        "Run the same capture again (same firmware copy, scenario, seed):",
        "",
        "```",
        rep.rerun,
        "```",
        "",
    ]
    if rep.rebuild:
        out += ["or rebuild the firmware from the sources:", "", "```", rep.rebuild, "```", ""]
    out += [
        f"- command line: `{rep.command_line}` (in `{rep.cwd}`)",
        f"- seed: {rep.seed}",
        (f"- firmware: `{rep.elf_copy or r.target.elf}` sha256 `{rep.elf_sha256}`"),
    ]
    for name, version in (rep.tools or {}).items():
        out.append(f"- {name}: {version or 'not found'}")
    pd = rep.photondbg or {}
    out.append(
        f"- photondbg {pd.get('version')} (commit {(pd.get('commit') or '?')[:12]}), "
        f"Python {pd.get('python')}"
    )
    if rep.note:
        out.append(f"- note: {rep.note}")
    return [*out, ""]


def timeline_markdown(report: CaptureReport | dict) -> list[str]:
    tl = _model(report).timeline
    if tl is None or not (tl.events or tl.serial_tail):
        return []
    out = ["## Timeline", ""]
    if tl.events:
        out += [
            f"{(tl.clock or 'seconds').capitalize()}.",
            "",
            "| t (s) | event | detail |",
            "|---|---|---|",
        ]
        for e in tl.events:
            t = "after" if e.t is None else f"{e.t:.3f}"
            out.append(f"| {t} | {e.event} | {(e.detail or '').replace('|', '/')} |")
        out.append("")
    if tl.serial_tail:
        out += [f"Serial console, last {len(tl.serial_tail)} lines:", "", "```"]
        out += [*tl.serial_tail, "```", ""]
    return out
