"""The capture report: ``report.json`` (schema ``photondbg.capture/1``) and ``report.md``.

Both are written atomically (temp file + ``os.replace``) every time a stage completes, so a
capture that is interrupted half-way still leaves a readable report marked ``"partial"``.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from photondbg.analysis.rootcause import render_markdown as rootcause_markdown
from photondbg.capture.model import OUTCOMES, SCHEMA, CaptureReport, TargetInfo
from photondbg.capture.threads import threads_markdown
from photondbg.render.markdown import (
    fpu_markdown,
    reproduce_markdown,
    stack_check_markdown,
    timeline_markdown,
)

__all__ = [
    "OUTCOMES",
    "SCHEMA",
    "ReportWriter",
    "atomic_write",
    "new_report",
    "render_markdown",
    "summary",
    "utc_stamp",
]


def utc_stamp(now: float | None = None) -> str:
    """Directory-safe UTC time stamp: 20261124T231500Z."""
    when = datetime.fromtimestamp(now or time.time(), timezone.utc)
    return when.strftime("%Y%m%dT%H%M%S%fZ")[:-7] + "Z"


def new_report(
    target_kind: str, elf: str | None, elf_sha256: str | None, variant: str | None
) -> dict:
    """A fresh report (status partial, outcome none) in its JSON form."""
    created = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return CaptureReport(
        created=created, stage="start", target=TargetInfo(target_kind, elf, elf_sha256, variant)
    ).to_dict()


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class ReportWriter:
    """Owns ``report.json``/``report.md`` in one capture directory."""

    def __init__(self, capdir: Path, report: dict):
        self.capdir = Path(capdir)
        self.report = report
        self.json_path = self.capdir / "report.json"
        self.md_path = self.capdir / "report.md"
        self.writes = 0

    def artifact(self, name: str, path: Path) -> None:
        self.report["artifacts"][name] = os.path.relpath(path, self.capdir)

    def write(self) -> Path:
        for name in (
            "report.json",
            "report.md",
            "gdb-mi.log",
            "serial.log",
            "qemu-stderr.log",
            "gdb-stderr.log",
            "bridge.log",
            "openocd.log",
            "photondbg.log",
        ):
            path = self.capdir / name
            if name.startswith("report.") or (path.exists() and path.stat().st_size > 0):
                self.report["artifacts"].setdefault(name, name)
        model = CaptureReport.from_dict(self.report)
        atomic_write(self.json_path, model.to_json())
        atomic_write(self.md_path, render_markdown(model))
        self.writes += 1
        return self.json_path


def hx(v) -> str:
    return "-" if v is None else f"0x{int(v):08x}"


def _hx(v) -> str:
    return "?" if v is None else f"0x{v:08x}"


def render_markdown(report: CaptureReport | dict) -> str:
    """report.md."""
    r = report if isinstance(report, CaptureReport) else CaptureReport.from_dict(report)
    out = [f"# photondbg capture: {r.outcome}", ""]
    t = r.target
    out += [
        f"- status: **{r.status}** (stage `{r.stage}`)",
        f"- created: {r.created}",
        f"- target: {t.kind}" + (f" ({t.machine})" if t.machine else ""),
        f"- firmware: `{t.elf}` variant `{t.variant}` sha256 `{(t.elf_sha256 or '')[:16]}`",
    ]
    if r.error:
        out.append(f"- error: {r.error}")
    out += [f"- {a.text}" for a in r.sim_artefacts or []]
    out.append("")
    f = r.fault
    if f:
        out += [f"## Fault: {f.kind or f.vector}", ""]
        loc = f.faulting_location
        if f.faulting_pc is None and (f.frame_error or "").startswith("no frame"):
            out.append("Faulting PC unknown: no exception frame (see the stack check)")
        else:
            out.append(
                f"Faulting PC {hx(f.faulting_pc)} in `{f.faulting_symbol or '??'}`"
                + (f" at {loc}" if loc else "")
            )
        if f.caller and f.caller.symbol:
            c = f.caller
            out.append(f"\nCalled from {hx(c.lr)} `{c.symbol}` {c.location or ''}")
        if f.pc_in_code is False:
            out.append(
                "\nThe PC is outside the firmware's code: a call or return through a bad pointer."
            )
        if f.instruction:
            out.append(f"\nInstruction: `{f.instruction}`")
        out += ["", "Reasons:", ""]
        out += [f"- {why}" for why in f.reasons or []] or ["- (no fault status bits set)"]
        if f.fault_address is not None:
            out += ["", f"Fault address: {hx(f.fault_address)}"]
        out += [
            "",
            f"EXC_RETURN {hx(f.exc_return)}: stack {f.stack}, "
            f"{(f.exc_return_decoded or {}).get('frame')} frame",
            "",
        ]
        sps = f.stack_pointers
        if sps:
            check = "" if sps.get("restored") is not False else ", RESTORE CHECK FAILED"
            out += [f"MSP {hx(sps.msp)}, PSP {hx(sps.psp)} (read by {sps.method}{check})", ""]
        out += ["| SCB | value |", "|---|---|"]
        out += [f"| {k.upper()} | {hx(v)} |" for k, v in (f.scb or {}).items()]
        out.append("")
        if f.frame:
            out += ["Stacked frame:", "", "| reg | value |", "|---|---|"]
            out += [f"| {k} | {hx(v)} |" for k, v in f.frame.items()]
        elif (f.frame_error or "").startswith("no frame"):
            out.append(f"Stacked frame: none ({f.frame_error})")
        else:
            out.append(f"Stacked frame: unreadable ({f.frame_error})")
        out.append("")
        if f.caller_sp is not None:
            pad = " (frame padded: stacked xPSR bit 9)" if f.frame_padded else ""
            out += [f"SP before the exception: {hx(f.caller_sp)}{pad}", ""]
        out += fpu_markdown(r)
        regs = f.registers or {}
        out += ["Registers at the handler:", "", "```"]
        names = list(regs)
        for i in range(0, len(names), 4):
            out.append("  ".join(f"{n:>4}={hx(regs[n])}" for n in names[i : i + 4]))
        out += ["```", ""]
    p = r.panic
    if p:
        out += [
            f"## Panic: code {p.code} ({p.name})",
            "",
            f"Called from {hx(p.caller)} `{p.caller_symbol}` {p.caller_location or ''}",
            "",
        ]
    lk = r.lockup
    if lk:
        out += [
            "## Lock-up",
            "",
            f"Source: {lk.source}: {lk.message or ''}",
            f"PC {hx(lk.pc)} `{lk.symbol or '??'}` {lk.location or ''}",
            "",
        ]
    after = r.after_fault
    if after:
        out += [f"After the fault: **{after.kind}** {after.detail or ''}", ""]
        events = r.get("after_fault_events") or []
        if len(events) > 1:
            out += [
                " -> ".join(
                    f"{e.get('kind')} ({e.get('symbol') or hx(e.get('pc'))})" for e in events
                ),
                "",
            ]
    out += rootcause_markdown(r.root_cause)
    out += stack_check_markdown(r.stack_check.to_dict() if r.stack_check else None)
    if r.backtrace:
        out += ["## Backtrace", ""]
        if r.backtrace_method:
            how = f"Method: **{r.backtrace_method}**"
            how += f" ({r.backtrace_source})" if r.backtrace_source else ""
            how += f"; ended: {r.backtrace_stop}" if r.backtrace_stop else ""
            out += [how, ""]
        for i, fr in enumerate(r.backtrace):
            if fr.marker:
                out.append(f"{i}. --- {fr.marker} ---")
                continue
            where = f" at {fr.where}" if fr.file else ""
            out.append(f"{i}. {hx(fr.pc)} `{fr.function or '??'}`{where}")
        out.append("")
    elif f and r.get("backtrace_source"):
        out += ["## Backtrace", "", str(r.get("backtrace_source")), ""]
    plain = r.to_dict()
    out += threads_markdown(plain)
    scan = r.get("stack_scan") or []
    if scan:
        out += [
            "## Stack words that look like return addresses",
            "",
            "| address | value | symbol |",
            "|---|---|---|",
        ]
        out += [
            f"| {hx(s['address'])} | {hx(s['value'])} | {s.get('symbol') or ''} |" for s in scan
        ]
        out.append("")
    out += timeline_markdown(r) + reproduce_markdown(r)
    if r.artifacts:
        out += ["## Files", ""] + [f"- {k}: `{v}`" for k, v in r.artifacts.items()] + [""]
    return "\n".join(out)


def sim_fault_notes(r: CaptureReport) -> list[str]:
    """The sim artefacts that shaped this very fault (its class is the simulator's, not the
    board's): an MPU-made MemManage where silicon has a BusFault.  A fetch from the execute-never
    region (0xA0000000 and up) is MemManage IACCVIOL on silicon too, so it is not flagged."""
    f = r.fault
    if not f or not r.sim_artefacts:
        return []
    kinds = {w.split(":")[0] for w in f.reasons or []}
    made_by_mpu = "DACCVIOL" in kinds or ("IACCVIOL" in kinds and (f.faulting_pc or 0) < 0xA0000000)
    return [
        a.text
        for a in r.sim_artefacts
        if a.id == "unmapped-access-mpu" and made_by_mpu and a.text is not None
    ]


def _thread_brief(t) -> str:
    top = t.backtrace[0].function if t.backtrace else None
    return f"{t.name} ({t.state}{', in ' + top if top else ''})"


def summary(report: CaptureReport | dict, path: Path) -> str:
    """The CLI summary: a few lines for people (kind, reasons, where, top of the backtrace)."""
    r = report if isinstance(report, CaptureReport) else CaptureReport.from_dict(report)
    lines = []
    f, lk, p = r.fault, r.lockup, r.panic
    if f:
        lines.append(f"FAULT  {f.kind or f.vector}")
        loc = f" ({f.faulting_location})" if f.faulting_location else ""
        if f.faulting_pc is None and (f.frame_error or "").startswith("no frame"):
            lines.append("  at   unknown: no exception frame")
        else:
            lines.append(f"  at   {_hx(f.faulting_pc)} in {f.faulting_symbol or '??'}{loc}")
        if f.instruction:
            lines.append(f"  insn {f.instruction}")
        for why in f.reasons or []:
            lines.append(f"  why  {why}")
        lines += [f"  sim  {text}" for text in sim_fault_notes(r)]
        sps = f.stack_pointers
        if f.stack and sps and sps.get(f.stack) is not None:
            running = next((t.name for t in r.threads or [] if t.current), None)
            lines.append(
                f"  on   {f.stack.upper()} {_hx(sps.get(f.stack))}"
                + (f", thread {running}" if running and f.stack == "psp" else "")
                + f" (read by {sps.method})"
            )
        if f.fpu and f.fpu.frame == "extended":
            lazy = "lazy: S0-S15/FPSCR from the registers" if f.fpu.lazy else "stacked"
            lines.append(f"  fpu  extended frame ({lazy}); report.md lists S0-S31")
        if f.caller and f.caller.symbol:
            c = f.caller
            lines.append(f"  from {c.symbol}" + (f" ({c.location})" if c.location else ""))
            if f.pc_in_code is False:
                lines.append(
                    f"  note the PC is outside the firmware's code: {c.symbol} "
                    f"called or returned through a bad pointer"
                )
    if p:
        lines.append(f"PANIC  code {p.code} ({p.name}) via {p.entry}")
        lines.append(f"  from {p.caller_symbol or '??'} ({p.caller_location or '?'})")
    if lk:
        lines.append(f"LOCKUP {lk.message or ''}")
        loc = f" ({lk.location})" if lk.location else ""
        lines.append(f"  pc   {_hx(lk.pc)} in {lk.symbol or '??'}{loc}")
    if r.outcome == "none":
        lines.append("NOTHING happened within the time-out")
        if r.stopped_at:
            s = r.stopped_at
            lines.append(f"  target was at {_hx(s.pc)} in {s.symbol or '??'}")
    sc = r.stack_check
    if f and sc:
        lines += [f"  stk  {line}" for line in sc.findings or []]
    after = r.after_fault
    if after and after.kind != "lockup":
        lines.append(f"  then {after.detail or after.kind}")
    if r.threads:
        lines.append("  threads: " + ", ".join(_thread_brief(t) for t in r.threads))
    bt = r.backtrace
    if bt:
        lines.append(
            f"  backtrace ({r.backtrace_method}):" if r.backtrace_method else "  backtrace:"
        )
        for i, fr in enumerate(bt[:8]):
            if fr.marker:
                lines.append(f"    --- {fr.marker} ---")
                continue
            loc = f" at {fr.where}" if fr.file else ""
            lines.append(f"    #{i} {_hx(fr.pc)} {fr.function or '??'}{loc}")
        if len(bt) > 8:
            lines.append(f"    ... {len(bt) - 8} more")
    lines.append(f"report: {path}")
    return "\n".join(lines)
