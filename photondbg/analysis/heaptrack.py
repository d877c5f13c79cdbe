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
from typing import TypedDict

from photondbg.paths import GDB_SCRIPTS

LOG_NAME = "heap-track.jsonl"
DEPTH = 6  # frames kept per call by the GDB tracker
ALLOCATOR_FRAMES = {
    "__wrap__malloc_r",
    "__wrap__free_r",
    "record",
    "keep_free",
    "malloc",
    "free",
    "calloc",
    "realloc",
    "_malloc_r",
    "_free_r",
    "_calloc_r",
    "_realloc_r",
    "pvPortMalloc",
    "vPortFree",
    "_Znwj",
    "_Znaj",
    "_ZdlPv",
    "_ZdlPvj",
    "_ZdaPv",
    "_ZdaPvj",
    "operator new",
    "operator delete",
}


RING = "heap_trace"  # the sim's instrumented build (firmware/platform/heap_trace.c)
RING_SEQ = "heap_trace_seq"
RING_WORDS = 5  # seq, op_size, ptr, caller, caller2
RING_FREE = 0x80000000


def start(gdb, capdir: Path, elf=None, depth: int = DEPTH) -> dict:
    """Heap tracking for a capture: the firmware's own trace ring when the ELF has one (read
    from the RAM dump at the fault, no cost at run time beyond the firmware's), else GDB
    breakpoints on the allocator (gdb_scripts/heaptrack.py; slows the target a lot)."""
    if elf is not None and elf.symbol(RING) is not None and elf.symbol(RING_SEQ) is not None:
        n = elf.symbol(RING).size // (RING_WORDS * 4)
        return {
            "enabled": True,
            "method": "ring",
            "entries": n,
            "detail": f"sim-only instrumented build (HEAP_TRACE=1): the last {n} "
            "malloc/free calls are kept in RAM (heap_trace)",
        }
    path = Path(capdir) / LOG_NAME
    gdb.cli(f"source {GDB_SCRIPTS / 'heaptrack.py'}", timeout=10.0)
    text = gdb.cli(f"heaptrack start {path} {depth}", timeout=10.0, check=False)
    ok = "heaptrack: on" in text
    return {
        "enabled": ok,
        "method": "gdb",
        "log": LOG_NAME if ok else None,
        "depth": depth,
        "detail": text.strip().splitlines()[-1] if text.strip() else "",
    }


def ring_events(elf, mem) -> tuple[list[dict], str] | None:
    """The calls kept in the firmware's trace ring, oldest first (None without a ring)."""
    ring, seq_sym = elf.symbol(RING), elf.symbol(RING_SEQ)
    if ring is None or seq_sym is None:
        return None
    n = ring.size // (RING_WORDS * 4)
    last = mem.u32(seq_sym.address)
    if last is None or n == 0:
        return [], "the trace ring is not in the captured RAM"
    events = []
    for i in range(n):
        words = [mem.u32(ring.address + (i * RING_WORDS + k) * 4) for k in range(RING_WORDS)]
        if None in words or not words[0] or words[0] > last or words[0] <= last - n:
            continue
        seq, op_size, ptr, caller, above = words
        free = bool(op_size & RING_FREE)
        events.append(
            {
                "n": seq,
                "op": "free" if free else "malloc",
                "ptr": ptr,
                "size": None if free else op_size & ~RING_FREE,
                "pc": caller & ~1,
                "backtrace": [above & ~1] if above & 1 and elf.in_code(above) else [],
            }
        )
    events.sort(key=lambda e: e["n"])
    return events, (
        f"trace ring (sim-only instrumentation): calls {max(1, last - n + 1)}.."
        f"{last} kept of {last}"
    )


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


class History(TypedDict):
    allocated_by: dict | None
    freed_by: dict | None
    reused_by: dict | None
    reuses: int


def history(events: list[dict], value: int, type_size: int | None = None) -> History:
    """allocated_by / freed_by / reused_by (raw events) for a stale pointer ``value`` to an
    object of ``type_size`` bytes. The calls at that address form lifetimes (malloc ... free);
    the stale object is the latest finished lifetime whose malloc asked for ``type_size``
    bytes (the address may have been handed out again since, for other things, even for a
    same-sized one: that later lifetime is the reuse); its reuse is the next malloc that
    overlaps it."""
    out: History = {"allocated_by": None, "freed_by": None, "reused_by": None, "reuses": 0}
    lifetimes: list[tuple[int | None, int]] = []  # [(malloc index | None, free index)]
    open_: int | None = None
    for i, e in enumerate(events):
        if e.get("ptr") != value:
            continue
        if e["op"] == "malloc":
            open_ = i
        else:
            lifetimes.append((open_, i))
            open_ = None
    typed = [
        lt
        for lt in lifetimes
        if lt[0] is not None and (not type_size or events[lt[0]].get("size") == type_size)
    ]
    if typed:
        a, f = typed[-1]
    elif lifetimes and not type_size:
        a, f = lifetimes[-1]
    else:
        return out  # the object's malloc and free are older than the log
    out["allocated_by"] = events[a] if a is not None else None
    out["freed_by"] = events[f]
    size = type_size or (out["allocated_by"] or {}).get("size") or 1
    old = (value, value + size)
    for ev in events[f + 1 :]:
        p, n = ev.get("ptr"), ev.get("size") or 1
        if ev["op"] == "malloc" and p is not None and p < old[1] and old[0] < p + n:
            out["reuses"] += 1
            if out["reused_by"] is None:
                out["reused_by"] = ev
    return out


def _reuse_after(events: list[dict], seq: int, value: int, size: int) -> dict | None:
    for ev in events:
        p, n = ev.get("ptr"), ev.get("size") or 1
        if (
            ev["n"] > seq
            and ev["op"] == "malloc"
            and p is not None
            and p < value + size
            and value < p + n
        ):
            return ev
    return None


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
        loc = elf.locate((pc & ~1) - 2)  # the call, just before the return address
        name = demangle(elf, loc.function)
        frames.append(
            {"pc": pc, "function": name, "raw": loc.function, "file": loc.file, "line": loc.line}
        )
    # the allocator's own frames are noise (and GDB unwinds its tail calls poorly)
    frames = [f for f in frames if not _allocator(f)] or frames
    head = frames[0] if frames else {}
    for f in frames:
        f.pop("raw", None)
    return {
        "op": ev["op"],
        "n": ev.get("n"),
        "ptr": ev.get("ptr"),
        "size": ev.get("size"),
        "pc": head.get("pc"),
        "function": head.get("function"),
        "file": head.get("file"),
        "line": head.get("line"),
        "backtrace": frames,
    }


FREES = "heap_trace_frees"  # every free by address, beside the ring (heap_trace.c)
FREES_WORDS = 5  # seq, ptr, chunk_size, caller, caller2


def kept_frees(elf, mem) -> list[dict]:
    """The frees the instrumented build keeps by address (older than the ring can be)."""
    sym = elf.symbol(FREES)
    if sym is None or mem is None:
        return []
    out = []
    for i in range(sym.size // (FREES_WORDS * 4)):
        words = [mem.u32(sym.address + (i * FREES_WORDS + k) * 4) for k in range(FREES_WORDS)]
        if None in words or not words[0]:
            continue
        seq, ptr, chunk, caller, above = words
        out.append(
            {
                "n": seq,
                "op": "free",
                "ptr": ptr,
                "chunk_size": chunk,
                "pc": caller & ~1,
                "source": "frees table",
                "backtrace": [above & ~1] if above & 1 and elf.in_code(above) else [],
            }
        )
    return out


def _nano_chunk_range(type_size: int) -> tuple[int, int]:
    """newlib-nano chunk sizes a malloc(type_size) can get: the request rounded to 4 plus
    padding and header (8), at least 8; up to 7 more when the rest was too small to split."""
    base = max(((type_size + 3) & ~3) + 8, 8)
    return base, base + 8


def attach(section: dict, elf, capdir: Path, mem=None) -> None:
    """Fill freed_by / reused_by (the culprit's, or the first dangling pointer's) and each
    dangling entry's history from the firmware's trace ring or the capture's GDB log."""
    ring = ring_events(elf, mem) if mem is not None else None
    if ring is not None:
        events, source = ring
    elif (Path(capdir) / LOG_NAME).exists():
        events = load_events(Path(capdir) / LOG_NAME)
        source = "GDB breakpoints on the allocator (heap-track.jsonl)"
    else:
        return
    n_malloc = sum(1 for e in events if e["op"] == "malloc")
    section.setdefault("checked", []).append(
        f"heap track: {len(events)} calls ({n_malloc} malloc, {len(events) - n_malloc} free) "
        f"up to the fault, from the {source}"
    )
    section["heap_track_source"] = source
    culprit = (section.get("culprit") or {}).get("path")
    for d in section.get("dangling") or []:
        h = history(events, d["value"], d.get("type_size"))
        d["allocated_by"] = symbolize(elf, h["allocated_by"])
        d["freed_by"] = symbolize(elf, h["freed_by"])
        d["reused_by"] = symbolize(elf, h["reused_by"])
        d["reuses"] = h["reuses"]
        if h["freed_by"] is None and ring is not None and d.get("type_size"):
            lo, hi = _nano_chunk_range(d["type_size"])
            kept = [
                f
                for f in kept_frees(elf, mem)
                if f["ptr"] == d["value"] and lo <= f["chunk_size"] < hi
            ]
            if kept:
                freed = max(kept, key=lambda f: f["n"])
                d["freed_by"] = symbolize(elf, freed)
                d["freed_by"]["source"] = "frees table (older than the ring)"
                first = events[0]["n"] if events else None
                if first is not None and first <= freed["n"] + 1:
                    h2 = _reuse_after(events, freed["n"], d["value"], d["type_size"])
                    d["reused_by"] = symbolize(elf, h2)
                else:
                    d["reused_by_note"] = (
                        "the reuse is older than the calls the ring keeps; "
                        f"the memory now holds {d['block']['contents_hint']}"
                    )
        if d.get("freed_by") is None:
            d["freed_by_note"] = (
                f"the allocation of this {d.get('type_size') or '?'}-byte "
                "object and its free() are not among the calls logged"
            )
        if section.get("freed_by") is None and (culprit is None or d["path"] == culprit):
            section["freed_by"] = d["freed_by"]
            section["reused_by"] = d["reused_by"]
            for note in ("freed_by_note", "reused_by_note"):
                if d.get(note):
                    section[note] = d[note]
    fb, rb = section.get("freed_by"), section.get("reused_by")
    if fb:
        section["summary"] += f"; freed by `{fb['function']}`" + _at(fb)
        if rb:
            section["summary"] += (
                f", reused by `{rb['function']}`" + _at(rb) + f" (malloc of {rb['size']} bytes)"
            )


def _allocator(frame: dict) -> bool:
    raw = frame["raw"] or ""
    return (
        raw in ALLOCATOR_FRAMES
        or raw.startswith(("_Znwj", "_Znaj", "_ZdlPv", "_ZdaPv"))
        or (frame["function"] or "").split("(")[0] in ALLOCATOR_FRAMES
    )


_DEMANGLED: dict[str, str] = {}


def demangle(elf, name: str | None) -> str | None:
    """A readable C++ name: GDB's demangler when the capture set one, else c++filt."""
    if not name or not name.startswith("_Z"):
        return name
    if getattr(elf, "demangler", None) is not None:
        return elf.pretty(name)
    if name not in _DEMANGLED:
        import shutil
        import subprocess

        from photondbg.capture.elfinfo import strip_params

        tool = shutil.which("arm-none-eabi-c++filt") or shutil.which("c++filt")
        text = name
        if tool:
            try:
                out = subprocess.run(
                    [tool, name], capture_output=True, text=True, timeout=10, check=False
                )
                text = strip_params(out.stdout.strip()) or name
            except (OSError, subprocess.TimeoutExpired):
                pass
        _DEMANGLED[name] = text
    return _DEMANGLED[name]


def _at(ev: dict) -> str:
    return f" ({ev['file']}:{ev['line']})" if ev.get("file") else ""
