"""The capture report: ``report.json`` (schema ``photondbg.capture/1``) and ``report.md``.

Both are written atomically (temp file + ``os.replace``) every time a stage completes, so a
capture that is interrupted half-way still leaves a readable report marked ``"partial"``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from photondbg.analysis.rootcause import render_markdown as rootcause_markdown
from photondbg.capture.threads import threads_markdown
from photondbg.render.markdown import reproduce_markdown, timeline_markdown

SCHEMA = "photondbg.capture/1"
OUTCOMES = ("fault", "lockup", "panic", "none")


def utc_stamp(now: float | None = None) -> str:
    """Directory-safe UTC time stamp: 20261124T231500Z."""
    return datetime.fromtimestamp(now or time.time(), timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")[:-7] + "Z"


def new_report(target_kind: str, elf: str | None, elf_sha256: str | None,
               variant: str | None) -> dict:
    return {
        "schema": SCHEMA,
        "status": "partial",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "target": {"kind": target_kind, "elf": elf, "elf_sha256": elf_sha256, "variant": variant},
        "outcome": "none",
        "fault": None,
        "lockup": None,
        "backtrace": [],
        "artifacts": {},
        # additions (allowed by §5.1): how far the capture got and what it armed
        "stage": "start",
        "stages": [],
        "error": None,
    }


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
        for name in ("report.json", "report.md", "gdb-mi.log", "serial.log", "qemu-stderr.log",
                     "gdb-stderr.log", "bridge.log", "openocd.log"):
            path = self.capdir / name
            if name.startswith("report.") or (path.exists() and path.stat().st_size > 0):
                self.report["artifacts"].setdefault(name, name)
        atomic_write(self.json_path, json.dumps(self.report, indent=2) + "\n")
        atomic_write(self.md_path, render_markdown(self.report))
        self.writes += 1
        return self.json_path


def hx(v) -> str:
    return "-" if v is None else f"0x{int(v):08x}"


def render_markdown(r: dict) -> str:
    out = [f"# photondbg capture: {r['outcome']}", ""]
    t = r["target"]
    out += [f"- status: **{r['status']}** (stage `{r.get('stage')}`)",
            f"- created: {r['created']}",
            f"- target: {t['kind']}" + (f" ({t.get('machine')})" if t.get("machine") else ""),
            f"- firmware: `{t['elf']}` variant `{t.get('variant')}` sha256 `{(t.get('elf_sha256') or '')[:16]}`"]
    if r.get("error"):
        out.append(f"- error: {r['error']}")
    out.append("")
    f = r.get("fault")
    if f:
        out += [f"## Fault: {f.get('kind') or f['vector']}", ""]
        loc = f.get("faulting_location")
        out.append(f"Faulting PC {hx(f.get('faulting_pc'))} in `{f.get('faulting_symbol') or '??'}`"
                   + (f" at {loc}" if loc else ""))
        if f.get("caller") and f["caller"].get("symbol"):
            c = f["caller"]
            out.append(f"\nCalled from {hx(c.get('lr'))} `{c['symbol']}` {c.get('location') or ''}")
        if f.get("pc_in_code") is False:
            out.append("\nThe PC is outside the firmware's code: a call or return through a bad "
                       "pointer.")
        if f.get("instruction"):
            out.append(f"\nInstruction: `{f['instruction']}`")
        out += ["", "Reasons:", ""]
        out += [f"- {why}" for why in f.get("reasons", [])] or ["- (no fault status bits set)"]
        if f.get("fault_address") is not None:
            out += ["", f"Fault address: {hx(f['fault_address'])}"]
        out += ["", f"EXC_RETURN {hx(f.get('exc_return'))}: stack {f.get('stack')}, "
                    f"{(f.get('exc_return_decoded') or {}).get('frame')} frame", ""]
        sps = f.get("stack_pointers") or {}
        if sps:
            out += [f"MSP {hx(sps.get('msp'))}, PSP {hx(sps.get('psp'))} (read by "
                    f"{sps.get('method')}{'' if sps.get('restored') is not False else ', RESTORE CHECK FAILED'})", ""]
        scb = f.get("scb") or {}
        out += ["| SCB | value |", "|---|---|"] + [f"| {k.upper()} | {hx(v)} |" for k, v in scb.items()]
        out.append("")
        if f.get("frame"):
            out += ["Stacked frame:", "", "| reg | value |", "|---|---|"]
            out += [f"| {k} | {hx(v)} |" for k, v in f["frame"].items()]
        else:
            out.append(f"Stacked frame: unreadable ({f.get('frame_error')})")
        out.append("")
        regs = f.get("registers") or {}
        out += ["Registers at the handler:", "", "```"]
        names = list(regs)
        for i in range(0, len(names), 4):
            out.append("  ".join(f"{n:>4}={hx(regs[n])}" for n in names[i:i + 4]))
        out += ["```", ""]
    p = r.get("panic")
    if p:
        out += [f"## Panic: code {p.get('code')} ({p.get('name')})", "",
                f"Called from {hx(p.get('caller'))} `{p.get('caller_symbol')}` {p.get('caller_location') or ''}", ""]
    lk = r.get("lockup")
    if lk:
        out += ["## Lock-up", "", f"Source: {lk.get('source')}: {lk.get('message', '')}",
                f"PC {hx(lk.get('pc'))} `{lk.get('symbol') or '??'}` {lk.get('location') or ''}", ""]
    after = r.get("after_fault")
    if after:
        out += [f"After the fault: **{after.get('kind')}** {after.get('detail', '')}", ""]
        events = r.get("after_fault_events") or []
        if len(events) > 1:
            out += [" -> ".join(f"{e.get('kind')} ({e.get('symbol') or hx(e.get('pc'))})"
                                for e in events), ""]
    out += rootcause_markdown(r.get("root_cause"))
    if r.get("backtrace"):
        out += ["## Backtrace", ""]
        for i, fr in enumerate(r["backtrace"]):
            where = f" at {fr['file']}:{fr['line']}" if fr.get("file") else ""
            out.append(f"{i}. {hx(fr.get('pc'))} `{fr.get('function') or '??'}`{where}")
        out.append("")
    out += threads_markdown(r)
    scan = r.get("stack_scan") or []
    if scan:
        out += ["## Stack words that look like return addresses", "", "| address | value | symbol |",
                "|---|---|---|"]
        out += [f"| {hx(s['address'])} | {hx(s['value'])} | {s.get('symbol') or ''} |" for s in scan]
        out.append("")
    out += timeline_markdown(r) + reproduce_markdown(r)
    if r.get("artifacts"):
        out += ["## Files", ""] + [f"- {k}: `{v}`" for k, v in r["artifacts"].items()] + [""]
    return "\n".join(out)
