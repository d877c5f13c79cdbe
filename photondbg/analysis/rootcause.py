"""The ``root_cause`` section of a capture report (DESIGN §5.1): heaps walked, dangling pointers
named by path, the provenance of the faulting value, and the verdict built only from those.

kind:
- ``use-after-free``: a dangling pointer, and the faulting value was read through it (the
  provenance chain passes through its slot or its block).
- ``dangling-pointer``: dangling pointers exist, but the fault's provenance does not lead to one.
- ``heap-corrupt``: a heap's own invariants are broken (and no dangling pointer explains more).
- ``none-found``: nothing in the heap explains the fault; ``checked`` says what was looked at.
- ``not-analysed``: the capture has no RAM dump or the ELF no debug information to walk.
"""

from __future__ import annotations

import time
from typing import Protocol

from photondbg.analysis.dwarf_types import DwarfTypes
from photondbg.analysis.heap import find_heaps
from photondbg.analysis.memory import MemoryImage
from photondbg.analysis.pointers import Dangling, Walker
from photondbg.analysis.provenance import Provenance, trace

ALLOCATOR_VARIABLES = {
    "__malloc_free_list",
    "__malloc_sbrk_start",
    "xStart",
    "pxEnd",
    "heap_brk",
    "__malloc_current_mallinfo",
}
MAX_DANGLING = 32


def analyze(elf, mem: MemoryImage, report: dict) -> dict:
    """The ``root_cause`` section (a plain JSON-able dict) for a capture's report."""
    t0 = time.monotonic()
    checked: list[str] = []
    heaps = find_heaps(elf, mem)
    if not heaps:
        checked.append(
            "heap: no allocator found by its symbols (newlib-nano "
            "__malloc_free_list/__malloc_sbrk_start, FreeRTOS heap_4 "
            "ucHeap/xStart/pxEnd)"
        )
    for h in heaps:
        s = h.summary()
        state = "CORRUPT" if h.corrupt else "consistent"
        checked.append(
            f"heap {h.allocator}: {s['blocks']} blocks ({s['used']} used, {s['free']} "
            f"free, {s['free_bytes']} bytes free), free list {s['free_list']} "
            f"entries: {state}"
        )
    types = DwarfTypes(elf.elf)
    if not types.variables:
        checked.append("pointers: the ELF has no DWARF variables to walk")
    walker = Walker(mem, heaps, elf, ALLOCATOR_VARIABLES | {n for h in heaps for n in h.variables})
    fault = report.get("fault") or None
    roots = _this_roots(types, walker, report, elf) if fault else []
    walk = walker.run(types.variables, roots)
    checked.append(
        f"pointers: {walk.globals_walked} globals holding pointers"
        + (f", {walk.roots_walked} `this` objects held in registers" if roots else "")
        + ", "
        f"{walk.heap_objects} heap objects reached, {walk.pointers_checked} non-NULL "
        f"pointers checked" + (" (walk truncated)" if walk.truncated else "")
    )
    pcs = [f["pc"] for f in report.get("backtrace") or [] if isinstance(f.get("pc"), int)]
    prov = trace(elf, mem, {**fault, "backtrace_pcs": pcs}) if fault else None
    if prov is not None:
        checked.append(f"provenance: {prov.text}")
    else:
        checked.append("provenance: no fault frame in this capture")
    dangling = sorted(walk.dangling, key=lambda d: (not d.certain, d.path))
    tie = _tie(prov, dangling, mem) if prov else None
    corrupt = [h for h in heaps if h.corrupt]
    if tie:
        kind = "use-after-free"
    elif any(d.certain for d in dangling):
        kind = "dangling-pointer"
    elif corrupt:
        kind = "heap-corrupt"
    elif not heaps and not types.variables:
        kind = "not-analysed"
    else:
        kind = "none-found"
    section = {
        "kind": kind,
        "summary": _summary(kind, tie, dangling, corrupt),
        "dangling": [d.as_dict() for d in dangling[:MAX_DANGLING]],
        "provenance": prov.as_dict() if prov else None,
        "culprit": tie,
        "heaps": [h.summary() for h in heaps],
        "freed_by": None,
        "reused_by": None,
        "checked": checked,
        "seconds": round(time.monotonic() - t0, 4),
    }
    return section


def _this_roots(types: DwarfTypes, walker: Walker, report: dict, elf) -> list:
    """``this`` of the C++ methods on the backtrace, when a register at the fault holds the
    address of a heap block whose size and contents fit that class: objects the globals may
    no longer reach (a server being destroyed is already off every list)."""
    from photondbg.analysis.provenance import regs_at_fault

    fault = report["fault"]
    pcs = [fault.get("faulting_pc"), (fault.get("frame") or {}).get("lr")]
    pcs += [f.get("pc") for f in report.get("backtrace") or []]
    methods = []
    for pc in pcs:
        if pc is not None and elf.in_code(pc):
            mc = types.method_class(pc if pc & 1 == 0 else (pc & ~1) - 2)
            if mc and mc not in methods:
                methods.append(mc)
    roots = []
    regs = regs_at_fault(fault)
    for name, cls in methods:
        for reg in sorted(regs, key=lambda r: int(r[1:]) if r[1:].isdigit() else 99):
            v = regs[reg]
            _, block = walker._block(v)
            if (
                block is None
                or block.state != "used"
                or v != block.user
                or cls.size > block.user_size
                or walker._misfit(v, cls) is not None
            ):
                continue
            roots.append((f"{name}: this", v, cls))
            break
    return roots


def _tie(prov: Provenance, dangling: list[Dangling], mem: MemoryImage) -> dict | None:
    """Does the provenance chain go through a dangling pointer? Best evidence first: a load
    from the pointer's own slot; else a register holding its value, or a load from inside the
    block it points to - then every dangling pointer with that value is a candidate, and all
    are listed (the chain alone cannot tell them apart)."""
    for i, step in enumerate(prov.chain):
        for d in dangling:
            if step.address is not None and step.address == d.slot:
                return {
                    "path": d.path,
                    "step": i,
                    "candidates": [d.path],
                    "how": f"{step.register} was loaded from the pointer `{d.path}` itself",
                    "confirmed": bool(step.confirmed),
                }
    for i, step in enumerate(prov.chain):
        for d in dangling:
            b = d.block
            how = None
            if step.value is not None and step.value == d.value and i > 0:
                how = f"{step.register} held the stale pointer value 0x{d.value:08x}"
            elif step.address is not None and b.addr <= step.address < b.end:
                how = (
                    f"{step.register} was loaded from offset {step.address - d.value:+d} of "
                    f"the block 0x{d.value:08x} points to"
                )
            if how:
                same = [x.path for x in dangling if x.value == d.value]
                if len(same) > 1:
                    how += (
                        f"; {len(same)} stale pointers hold that address and the code does "
                        "not say which one was used"
                    )
                return {
                    "path": d.path,
                    "step": i,
                    "candidates": same,
                    "how": how,
                    "confirmed": bool(step.confirmed) or step.address is None,
                }
    # weakest: a value loaded through an object whose address the code does not show, equal
    # to the word a stale pointer's memory holds at that offset
    for i, step in enumerate(prov.chain):
        if (
            step.loaded_by is None
            or step.offset is None
            or step.address is not None
            or step.value is None
            or step.value < 0x10000
        ):
            continue
        matches = [x for x in dangling if mem.u32(x.value + step.offset) == step.value]
        if matches:
            first = matches[0]
            how = (
                f"{step.register} = 0x{step.value:08x} was loaded from offset "
                f"{step.offset:+d} of an object whose address the code does not show here; "
                f"the memory `{first.path}` points to holds exactly that word there "
                "(matched by content)"
            )
            return {
                "path": first.path,
                "step": i,
                "candidates": [x.path for x in matches],
                "how": how,
                "confirmed": False,
                "by": "content",
            }
    return None


def _owner_text(d: Dangling) -> str:
    o = d.owner
    if not o or not o.get("fields"):
        return ""
    return " (" + ", ".join(f"{k} {v}" for k, v in o["fields"].items()) + f" in `{o['type']}`)"


def _summary(kind, tie, dangling, corrupt) -> str:
    if kind == "use-after-free":
        d = next(x for x in dangling if x.path == tie["path"])
        state = (
            "a free block"
            if d.block.state == "free"
            else f"a block now in use, holding {d.contents_hint}"
        )
        who = (
            f"`{d.path}`"
            if len(tie["candidates"]) == 1
            else "one of " + ", ".join(f"`{p}`" for p in tie["candidates"])
        )
        return (
            f"{who}{_owner_text(d)} = 0x{d.value:08x} points to "
            f"{state} ({d.block.user_size} bytes at 0x{d.block.user:08x}); the faulting "
            f"value came through it: {tie['how']}"
        )
    if kind == "dangling-pointer":
        names = ", ".join(f"`{d.path}`" for d in dangling[:4] if d.certain)
        return (
            f"dangling pointers found ({names}), but the fault's provenance does not lead "
            "through one: not stated as the cause"
        )
    if kind == "heap-corrupt":
        return "; ".join(p for h in corrupt for p in h.problems[:2])
    if kind == "not-analysed":
        return "not analysed: no heap allocator and no DWARF variables in this ELF"
    return "no heap explanation found (see what was checked)"


class _Section(Protocol):
    def to_dict(self) -> dict: ...


def render_markdown(section: dict | _Section | None) -> list[str]:
    """The "Root cause" section of report.md (from the section's dict or its model)."""
    if not section:
        return []
    rc = section if isinstance(section, dict) else section.to_dict()
    out = ["## Root cause", "", f"**{rc.get('kind')}**: {rc.get('summary')}", ""]
    for d in rc.get("dangling") or []:
        b = d["block"]
        out.append(
            f"- `{d['path']}` = 0x{d['value']:08x} (`{d['type']}`): {d['reason']}; block "
            f"0x{b['addr']:08x}, {b['size']} bytes, {b['state']}, now {b['contents_hint']}"
        )
    if rc.get("dangling"):
        out.append("")
    prov = rc.get("provenance")
    if prov:
        out += [f"Provenance: {prov.get('text')}", ""]
        for s in prov.get("chain") or []:
            line = f"- {s['register']} = {_hx(s['value'])}"
            if s.get("function"):
                line += f" in `{s['function']}`"
            if s.get("loaded_by"):
                by = s["loaded_by"]
                line += f", written by `{by['instruction']}` at {_hx(by['pc'])}"
            if s.get("address") is not None:
                ok = {
                    True: "the dump still holds it",
                    False: "the dump now holds another value",
                    None: "not in the dump",
                }[s.get("confirmed")]
                line += f", loaded from {_hx(s['address'])} ({ok})"
            if s.get("note"):
                line += f"; {s['note']}"
            out.append(line)
        out.append("")
    for key, title in (("freed_by", "Freed by"), ("reused_by", "Reused by")):
        ev = rc.get(key)
        if rc.get(f"{key}_note"):
            out += [f"{title}: not known: {rc[f'{key}_note']}", ""]
        if ev:
            out.append(
                f"{title}: `{ev.get('function')}` at {_hx(ev.get('pc'))}"
                + (f" ({ev['file']}:{ev['line']})" if ev.get("file") else "")
            )
            for fr in ev.get("backtrace") or []:
                out.append(
                    f"    {_hx(fr.get('pc'))} {fr.get('function') or '??'}"
                    + (f" at {fr['file']}:{fr['line']}" if fr.get("file") else "")
                )
            out.append("")
    out += ["Checked:", ""] + [f"- {c}" for c in rc.get("checked") or []] + [""]
    for h in rc.get("heaps") or []:
        for p in h.get("problems") or []:
            out.append(f"- heap problem ({h['allocator']}): {p}")
    return out


def _hx(v) -> str:
    return "?" if v is None else f"0x{int(v):08x}"


def analyze_capture(capdir, report: dict, elf) -> dict:
    """The section for a capture directory (its RAM dump, and its heap-track log if any).
    Bad input raises UsageError."""
    from photondbg.analysis import heaptrack
    from photondbg.analysis.memory import load_capture_ram

    mem = load_capture_ram(capdir, report, elf=elf)
    section = analyze(elf, mem, report)
    heaptrack.attach(section, elf, capdir, mem)
    return section


def for_capture(capdir, report: dict, elf) -> dict:
    """The section for a capture just taken; never raises (an analysis failure is recorded
    as ``kind: "error"`` so the capture itself stands)."""
    from photondbg.errors import PhotondbgError

    try:
        return analyze_capture(capdir, report, elf)
    except PhotondbgError as e:
        return {"kind": "not-analysed", "summary": str(e), "dangling": [], "checked": []}
    except Exception as e:  # noqa: BLE001 - the analysis must never lose a capture
        return {
            "kind": "error",
            "summary": f"analysis failed: {type(e).__name__}: {e}",
            "dangling": [],
            "checked": [],
        }
