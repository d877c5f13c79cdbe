"""Who freed it, who reused it: the malloc/free log of a live run (``capture-fault --track-heap``).

The log is written inside GDB by ``gdb_scripts/heaptrack.py`` (breakpoints on the allocator's
entry points and on malloc's return sites; one JSON line per call). QEMU record/replay would
answer the same questions after the fact, but with the USART link recorded the device loses
bytes (DESIGN §3.1), so the live log is how the sim answers them; its cost is measured in
benchmarks/bench_analysis.py.

At the fault, for a stale pointer ``v`` into block ``b``: ``allocated_by`` is the last malloc
that returned ``v``, ``freed_by`` the last free of ``v`` after it, ``reused_by`` the first
malloc after that free whose memory overlaps the old object.
"""

from __future__ import annotations

import json
from pathlib import Path

from photondbg.paths import GDB_SCRIPTS

LOG_NAME = "heap-track.jsonl"
ALLOCATOR_FRAMES = {"malloc", "free", "calloc", "realloc", "_malloc_r", "_free_r", "_calloc_r",
                    "_realloc_r", "pvPortMalloc", "vPortFree", "_Znwj", "_Znaj", "_ZdlPv",
                    "_ZdlPvj", "_ZdaPv", "_ZdaPvj", "operator new", "operator delete"}


def start(gdb, capdir: Path, depth: int = 6) -> dict:
    """Install the tracker in a connected GDB session (target halted)."""
    path = Path(capdir) / LOG_NAME
    gdb.cli(f"source {GDB_SCRIPTS / 'heaptrack.py'}", timeout=10.0)
    text = gdb.cli(f"heaptrack start {path} {depth}", timeout=10.0, check=False)
    ok = "heaptrack: on" in text
    return {"enabled": ok, "log": LOG_NAME if ok else None, "depth": depth,
            "detail": text.strip().splitlines()[-1] if text.strip() else ""}


def stop(gdb) -> None:
    gdb.cli("heaptrack stop", timeout=10.0, check=False)


def load_events(path: Path) -> list[dict]:
    """The events of a log; a torn last line (a run cut short) is skipped."""
    events = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict) and ev.get("op") in ("malloc", "free"):
            events.append(ev)
    return events


def history(events: list[dict], value: int, lo: int, hi: int) -> dict:
    """allocated_by / freed_by / reused_by (raw events) for a stale pointer ``value`` whose
    block now spans [lo, hi)."""
    freed_i = None
    for i in range(len(events) - 1, -1, -1):
        ev = events[i]
        if ev["op"] == "free" and ev.get("ptr") == value:
            freed_i = i
            break
    if freed_i is None:
        for i in range(len(events) - 1, -1, -1):
            ev = events[i]
            if ev["op"] == "free" and ev.get("ptr") is not None and lo <= ev["ptr"] < hi:
                freed_i = i
                break
    out = {"allocated_by": None, "freed_by": None, "reused_by": None, "reuses": 0}
    if freed_i is None:
        return out
    freed = events[freed_i]
    out["freed_by"] = freed
    alloc = next((e for e in reversed(events[:freed_i])
                  if e["op"] == "malloc" and e.get("ptr") == freed["ptr"]), None)
    out["allocated_by"] = alloc
    size = (alloc or {}).get("size") or 1
    old = (freed["ptr"], freed["ptr"] + size)
    for ev in events[freed_i + 1:]:
        p, n = ev.get("ptr"), ev.get("size") or 1
        if ev["op"] == "malloc" and p is not None and p < old[1] and old[0] < p + n:
            out["reuses"] += 1
            if out["reused_by"] is None:
                out["reused_by"] = ev
    return out


def symbolize(elf, ev: dict | None) -> dict | None:
    """{pc, function, file, line, size, ptr, n, backtrace [...]} with the allocator's own
    frames skipped for the headline (the caller that matters)."""
    if ev is None:
        return None
    pcs = [ev.get("pc")] + [p for p in ev.get("backtrace") or [] if p != ev.get("pc")]
    frames = []
    for pc in pcs:
        if pc is None:
            continue
        loc = elf.locate((pc & ~1) - 2)   # the call, just before the return address
        name = elf.pretty(loc.function) if loc.function else None
        frames.append({"pc": pc, "function": name, "raw": loc.function,
                       "file": loc.file, "line": loc.line})
    # the allocator's own frames are noise (and GDB unwinds its tail calls poorly)
    frames = [f for f in frames if not _allocator(f)] or frames
    head = frames[0] if frames else {}
    for f in frames:
        f.pop("raw", None)
    return {"op": ev["op"], "n": ev.get("n"), "ptr": ev.get("ptr"), "size": ev.get("size"),
            "pc": head.get("pc"), "function": head.get("function"), "file": head.get("file"),
            "line": head.get("line"), "backtrace": frames}


def attach(section: dict, elf, capdir: Path) -> None:
    """Fill freed_by / reused_by (the culprit's, or the first dangling pointer's) and each
    dangling entry's history from the capture's heap-track log, if there is one."""
    path = Path(capdir) / LOG_NAME
    if not path.exists():
        return
    events = load_events(path)
    n_malloc = sum(1 for e in events if e["op"] == "malloc")
    section.setdefault("checked", []).append(
        f"heap track: {len(events)} calls logged ({n_malloc} malloc, "
        f"{len(events) - n_malloc} free) up to the fault")
    culprit = (section.get("culprit") or {}).get("path")
    for d in section.get("dangling") or []:
        b = d["block"]
        h = history(events, d["value"], b["chunk"], b["chunk"] + b["chunk_size"])
        d["allocated_by"] = symbolize(elf, h["allocated_by"])
        d["freed_by"] = symbolize(elf, h["freed_by"])
        d["reused_by"] = symbolize(elf, h["reused_by"])
        d["reuses"] = h["reuses"]
        if section.get("freed_by") is None and (culprit is None or d["path"] == culprit):
            section["freed_by"] = d["freed_by"]
            section["reused_by"] = d["reused_by"]
    fb, rb = section.get("freed_by"), section.get("reused_by")
    if fb:
        section["summary"] += f"; freed by `{fb['function']}`" + _at(fb)
        if rb:
            section["summary"] += (f", reused by `{rb['function']}`" + _at(rb)
                                   + f" (malloc of {rb['size']} bytes)")


def _allocator(frame: dict) -> bool:
    return frame["raw"] in ALLOCATOR_FRAMES \
        or (frame["function"] or "").split("(")[0] in ALLOCATOR_FRAMES


def _at(ev: dict) -> str:
    return f" ({ev['file']}:{ev['line']})" if ev.get("file") else ""
