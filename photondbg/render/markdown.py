"""report.md sections for ``reproduce`` and ``timeline`` (plain report dicts in, lines out)."""

from __future__ import annotations


def reproduce_markdown(r: dict) -> list[str]:
    rep = r.get("reproduce")
    if not isinstance(rep, dict) or rep.get("error"):
        return []
    out = ["## Reproduce", "", "Run the same capture again (same firmware copy, scenario, seed):",
           "", "```", rep.get("rerun") or "", "```", ""]
    if rep.get("rebuild"):
        out += ["or rebuild the firmware from the sources:", "", "```", rep["rebuild"], "```", ""]
    out += [f"- command line: `{rep.get('command_line')}` (in `{rep.get('cwd')}`)",
            f"- seed: {rep.get('seed')}",
            (f"- firmware: `{rep.get('elf_copy') or r['target'].get('elf')}` sha256 "
             f"`{rep.get('elf_sha256')}`")]
    for name, version in (rep.get("tools") or {}).items():
        out.append(f"- {name}: {version or 'not found'}")
    pd = rep.get("photondbg") or {}
    out.append(f"- photondbg {pd.get('version')} (commit {(pd.get('commit') or '?')[:12]}), "
               f"Python {pd.get('python')}")
    if rep.get("note"):
        out.append(f"- note: {rep['note']}")
    return out + [""]


def timeline_markdown(r: dict) -> list[str]:
    tl = r.get("timeline")
    if not isinstance(tl, dict) or not (tl.get("events") or tl.get("serial_tail")):
        return []
    out = ["## Timeline", ""]
    if tl.get("events"):
        out += ["Seconds since the device started running.", "", "| t (s) | event | detail |",
                "|---|---|---|"]
        for e in tl["events"]:
            t = "after" if e.get("t") is None else f"{e['t']:.3f}"
            out.append(f"| {t} | {e.get('event')} | {(e.get('detail') or '').replace('|', '/')} |")
        out.append("")
    if tl.get("serial_tail"):
        out += [f"Serial console, last {len(tl['serial_tail'])} lines:", "", "```"]
        out += tl["serial_tail"] + ["```", ""]
    return out
