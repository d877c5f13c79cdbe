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


def f32(bits: int | None) -> str:
    """An IEEE-754 single's bit pattern as a number ('1', '-15', 'nan')."""
    if bits is None:
        return "-"
    import struct

    return f"{struct.unpack('<f', struct.pack('<I', bits & 0xFFFFFFFF))[0]:.7g}"


def fpu_view(report: CaptureReport | dict) -> dict | None:
    """The fault's FP part as rows for report.md and the HTML page: the head line, and per
    register (S0-S31, FPSCR) the stacked value (S0-S15, FPSCR of an extended frame) and the
    value in the register file, each as bits and as a float."""
    f = _model(report).fault
    fpu = f.fpu if f else None
    if fpu is None:
        return None
    lazy = "lazy (FPCCR.LSPACT set)" if fpu.lazy else "not lazy"
    bits = ", ".join(fpu.fpccr_bits or []) or "-"
    head = f"{fpu.frame} frame, {lazy}; FPCCR {_hex(fpu.fpccr)} ({bits}), FPCAR {_hex(fpu.fpcar)}"
    if fpu.stacked_source:
        head += f"; stacked S0-S15/FPSCR from the {fpu.stacked_source}"
    stacked, regs = fpu.stacked or {}, fpu.registers or {}
    rows = []
    for name in [f"s{i}" for i in range(32)] + ["fpscr"]:
        if name not in stacked and name not in regs:
            continue
        rows.append(
            {
                "name": name,
                "stacked": _hex(stacked.get(name)) if name in stacked else "",
                "register": _hex(regs.get(name)) if name in regs else "",
                "value": "" if name == "fpscr" else f32(regs.get(name, stacked.get(name))),
            }
        )
    return {"head": head, "note": fpu.note, "rows": rows}


def _hex(v: int | None) -> str:
    return "-" if v is None else f"0x{v:08x}"


def fpu_markdown(report: CaptureReport | dict) -> list[str]:
    view = fpu_view(report)
    if view is None:
        return []
    out = ["### FPU", "", view["head"], ""]
    if view["note"]:
        out += [view["note"], ""]
    if view["rows"]:
        out += ["| reg | stacked | register | value |", "|---|---|---|---|"]
        out += [
            f"| {r['name']} | {r['stacked']} | {r['register']} | {r['value']} |"
            for r in view["rows"]
        ]
        out.append("")
    return out


def _hx(v) -> str:
    return "-" if v is None else f"0x{int(v):08x}"


def stack_check_markdown(section: dict | None) -> list[str]:
    """report.md's "Stack check" section."""
    if not section:
        return []
    out = ["## Stack check", ""]
    out += [f"- {line}" for line in section.get("findings") or []]
    b = section.get("bounds") or {}
    out += [
        "",
        f"{(section.get('stack') or '?').upper()} {_hx(section.get('sp'))}, frame "
        f"{section.get('frame')}, position {section.get('position')}",
        f"Stack bounds: {_hx(b.get('lo'))}-{_hx(b.get('hi'))} ({b.get('source') or 'unknown'})",
        "",
    ]
    m = section.get("mpu") or {}
    if m.get("present"):
        state = "enabled" if m.get("enable") else "disabled"
        how = ", read by the core (region stub)" if m.get("read_by") == "core" else ""
        out += [f"MPU {state}, {m.get('region_count')} regions{how}", ""]
        if m.get("note"):
            out += [m["note"], ""]
        if m.get("regions"):
            out += ["| region | base | end | access | XN | SRD |", "|---|---|---|---|---|---|"]
            out += [
                f"| {r['number']} | {_hx(r['base'])} | {_hx(r['end'] - 1)} | {r['access']} "
                f"| {'yes' if r['xn'] else 'no'} | 0x{r['srd']:02x} |"
                for r in m["regions"]
            ]
            out.append("")
    ra = section.get("return_addresses") or {}
    if ra.get("functions"):
        out += [
            f"Return addresses from {_hx(ra.get('scanned_from'))} to {_hx(ra.get('scanned_to'))}"
            f" ({ra.get('calls')} in {ra.get('words')} words):",
            "",
            "| function | count |",
            "|---|---|",
        ]
        out += [f"| {f['function']} | {f['count']} |" for f in ra["functions"]]
        out.append("")
    return out
