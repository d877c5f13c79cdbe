"""``stack_check``: where the faulting stack pointer stands against its stack's bounds, the MPU
regions and any guard region it hit, whether the exception wrote a frame at all, and the return
addresses that fill the stack (an unbounded recursion shows as one function hundreds of times).

Bounds of the main stack (MSP) come from the ELF: a stack-limit linker symbol, else the top minus
a stack-size symbol, else the end of .bss (the lowest the stack can go); the top from a
stack-top symbol, else the vector table's initial SP (symbol names: ``cortexm.faults``). A thread
stack (PSP) comes from the ``threads`` section (the current thread's stack_lo/stack_hi), else the
ELF data object that holds the PSP. The MPU regions are read off the core (:mod:`.mpuread`, by
the debugger or, where it cannot select a region, by the core; decoded by ``cortexm.mpu``). The
return addresses are the stack words from the SP to the stack top that point just after a
BL/BLX in the firmware's code, read from the capture's RAM dump by the scanner of
:mod:`.returns` (the one ``stack_scan`` uses too).
"""

from __future__ import annotations

from collections import Counter

from photondbg.capture import mpuread, returns
from photondbg.capture.elfinfo import ElfInfo
from photondbg.cortexm import faults, mpu
from photondbg.gdb.session import GdbSession
from photondbg.targets.base import Region

Memory = returns.Memory

RECURSION_MIN = 32  # one function's return addresses this often: a recursion worth naming
SCAN_MAX = 512 * 1024  # bytes of stack scanned at most
TOP_FUNCTIONS = 8


# -- bounds --------------------------------------------------------------------------------
def _first_symbol(elf: ElfInfo, names: list[str]) -> tuple[str, int] | None:
    for name in names:
        s = elf.symbol(name)
        if s is not None:
            return name, s.address
    return None


def main_stack_bounds(elf: ElfInfo) -> dict | None:
    """{lo, hi, kind, source} of the main stack from the ELF, or None."""
    top = _first_symbol(elf, faults.STACK_TOP_SYMBOLS)
    vt = elf.vector_table()
    if top is not None:
        hi, hi_src = top[1], top[0]
    elif vt and vt[1] and vt[1][0]:
        hi, hi_src = vt[1][0], "the vector table's initial SP"
    else:
        return None
    limit = _first_symbol(elf, faults.STACK_LIMIT_SYMBOLS)
    size = _first_symbol(elf, faults.STACK_SIZE_SYMBOLS)
    bss = _first_symbol(elf, faults.BSS_END_SYMBOLS)
    if limit is not None and limit[1] < hi:
        lo, lo_src = limit[1], limit[0]
    elif size is not None and 0 < size[1] < hi:
        lo, lo_src = hi - size[1], f"{hi_src} - {size[0]} (the minimum the linker reserved)"
    elif bss is not None and bss[1] < hi:
        lo, lo_src = bss[1], f"{bss[0]} (end of .bss: no stack-limit symbol)"
    else:
        return {"lo": None, "hi": hi, "kind": "main", "source": f"top {hi_src}, no bottom"}
    return {"lo": lo, "hi": hi, "kind": "main", "source": f"{lo_src} .. {hi_src}"}


def thread_stack_bounds(elf: ElfInfo, threads: list[dict] | None, sp: int | None) -> dict | None:
    """The running thread's stack (``threads`` section), else the ELF object holding ``sp``."""
    for t in threads or []:
        if t.get("current") and t.get("stack_lo") is not None and t.get("stack_hi") is not None:
            return {
                "lo": t["stack_lo"],
                "hi": t["stack_hi"],
                "kind": "thread",
                "thread": t.get("name"),
                "source": f"thread {t.get('name')!r} (threads section)",
            }
    if sp is None:
        return None
    funcs = {id(s) for s in elf.functions}
    for s in elf.by_name.values():
        if id(s) not in funcs and s.size >= 64 and s.address <= sp < s.address + s.size:
            return {
                "lo": s.address,
                "hi": s.address + s.size,
                "kind": "thread",
                "thread": None,
                "source": f"object {s.name} (ELF symbol holding the PSP)",
            }
    return None


def guard_of(region: mpu.Region, lo: int | None, hi: int | None) -> bool:
    """A no-access region at the bottom of the stack [lo, hi): it straddles lo, ends at it,
    or starts within one region size above it (the first aligned place), and ends below the
    top (a deny-everything background region is no guard)."""
    if not region.no_access or lo is None or hi is None:
        return False
    return region.end >= lo and region.base <= lo + region.size and region.end < hi


def _guard(regions: list[mpu.Region], lo: int | None, hi: int | None) -> mpu.Region | None:
    """The guard of [lo, hi) that is in force (no higher-numbered region overrides it)."""
    for r in regions:
        if guard_of(r, lo, hi) and r in (
            mpu.region_at(regions, r.base),
            mpu.region_at(regions, r.end - 1),
        ):
            return r
    return None


# -- return addresses ----------------------------------------------------------------------
def scan_returns(elf: ElfInfo, mem: Memory, lo: int, hi: int) -> dict:
    """The return addresses in [lo, hi) of ``mem`` (:func:`photondbg.capture.returns.scan`:
    odd, in code, just after a BL/BLX), counted by function. Unreadable bytes are skipped."""
    found = returns.scan(elf, mem, lo, min(hi, lo + SCAN_MAX))
    counts = Counter(r.function for r in found.found)
    return {
        "scanned_from": found.start,
        "scanned_to": found.end,
        "words": found.words,
        "calls": len(found.found),
        "functions": [{"function": f, "count": c} for f, c in counts.most_common(TOP_FUNCTIONS)],
    }


# -- the check -----------------------------------------------------------------------------
def check(
    fault: dict,
    bounds: dict | None,
    ram: Region,
    mpu_state: dict,
    returns: dict | None,
) -> dict:
    """The ``stack_check`` section from what was read (pure: no target access)."""
    stack = fault.get("stack")
    sp = fault.get("stack_pointer")
    scb = fault.get("scb") or {}
    err = faults.stack_error(scb)
    out: dict = {
        "stack": stack,
        "sp": sp,
        "sp_source": fault.get("stack_pointer_source"),
        "frame": "written",
        "stack_error": None,
        "bounds": bounds,
        "position": "unknown",
        "overflow": None,
        "used": None,
        "ram": {"base": ram.base, "end": ram.end},
        "mpu": {k: v for k, v in mpu_state.items() if not k.startswith("_")},
        "region": None,
        "guard": None,
        "return_addresses": returns,
        "recursion": None,
        "findings": [],
    }
    findings: list[str] = out["findings"]
    name = (stack or "sp").upper()
    if err is not None:
        field, failed, what = err
        out["frame"] = "not written" if failed == "stacking" else "not read back"
        out["stack_error"] = {"field": field, "failed": failed, "what": what}
        findings.append(
            f"no frame: {field}: {what}; the memory at {name} is not the interrupted "
            f"code's registers"
        )
    if sp is None:
        findings.append(f"{name} unknown: nothing to check against the stack bounds")
        return out
    regions: list[mpu.Region] = mpu_state.get("_regions") or []
    lo, hi = (bounds or {}).get("lo"), (bounds or {}).get("hi")
    what_stack = f"{'main' if stack == 'msp' else 'thread'} stack"
    guard = _guard(regions, lo, hi)
    if guard is not None:
        out["guard"] = {**guard.as_dict(), "of": what_stack}
    hit = mpu.region_at(regions, sp) if mpu_state.get("enable") else None
    if hit is not None:
        out["region"] = {**hit.as_dict(), "at": sp, "guard": hit.no_access}
    if not ram.contains(sp):
        out["position"] = "outside-ram"
        findings.append(
            f"{name} 0x{sp:08x} is outside RAM (0x{ram.base:08x}-0x{ram.end - 1:08x}): "
            "a corrupt stack pointer"
        )
    elif guard is not None and hit is not None and hit.number == guard.number:
        out["position"] = "in-guard"
        out["overflow"] = guard.end - sp
        where = (
            f"{name} 0x{sp:08x} is inside MPU region {guard.number} "
            f"(0x{guard.base:08x}-0x{guard.end - 1:08x}, no access), the guard at the bottom "
            f"of the {what_stack}, {guard.end - sp} bytes into it"
        )
        if err is not None and err[1] == "unstacking":  # a return popping from the guard
            findings.append(f"the exception return read its frame from the guard: {where}")
        else:
            findings.append(f"stack overflow: {where}")
    elif hit is not None and hit.no_access:
        out["position"] = "in-no-access-region"
        findings.append(
            f"{name} 0x{sp:08x} is inside MPU region {hit.number} "
            f"(0x{hit.base:08x}-0x{hit.end - 1:08x}, no access)"
        )
    elif lo is not None and sp < lo:
        out["position"] = "below"
        out["overflow"] = lo - sp
        findings.append(
            f"stack overflow: {name} 0x{sp:08x} is {lo - sp} bytes below the bottom of the "
            f"{what_stack} (0x{lo:08x})"
        )
    elif hi is not None and sp > hi:
        out["position"] = "above"
        findings.append(f"{name} 0x{sp:08x} is above the top of the {what_stack} (0x{hi:08x})")
    elif hi is not None:
        out["position"] = "inside"
        if lo is not None:
            findings.append(
                f"{name} 0x{sp:08x} is inside the {what_stack} (0x{lo:08x}-0x{hi:08x}): "
                f"{hi - sp} of {hi - lo} bytes in use"
            )
    if (
        mpu_state.get("enable")
        and not mpu_state.get("privdefena")
        and not mpu_state.get("only_selected")
        and hit is None
        and out["position"] != "outside-ram"
    ):
        findings.append(
            f"{name} 0x{sp:08x} is in no MPU region and the default map is off (PRIVDEFENA=0): "
            "every access there faults"
        )
    if hi is not None and out["position"] != "outside-ram":
        out["used"] = hi - sp
    if bounds is None:
        findings.append(f"the bounds of the {what_stack} are not known")
    if returns and returns["functions"]:
        top = returns["functions"][0]
        if top["count"] >= RECURSION_MIN:
            overflowed = out["position"] in ("in-guard", "below") or err is not None
            kind = "unbounded recursion" if overflowed else "deep recursion"
            out["recursion"] = {
                "function": top["function"],
                "count": top["count"],
                "unbounded": overflowed,
            }
            findings.append(f"{top['function']}() appears {top['count']} times: {kind}")
    return out


def for_capture(
    gdb: GdbSession | mpuread.MpuReader, elf: ElfInfo, report: dict, mem: Memory, ram: Region
) -> dict | None:
    """``stack_check`` for a captured fault (None without one)."""
    fault = report.get("fault")
    if not fault or not fault.get("stack"):
        return None
    sp = fault.get("stack_pointer")
    if fault["stack"] == "psp":
        bounds = thread_stack_bounds(elf, report.get("threads"), sp)
    else:
        bounds = main_stack_bounds(elf)
    if isinstance(gdb, GdbSession):
        session = gdb
        mpu_state = mpuread.read_mpu(
            mpuread.GdbWords(session),
            lambda count: mpuread.read_regions(session, session.registers(), count),
        )
    else:
        mpu_state = mpuread.read_mpu(gdb)
    ret_addrs = None
    if sp is not None and ram.contains(sp):
        top = (bounds or {}).get("hi") or ram.end
        ret_addrs = scan_returns(elf, mem, sp, top if sp < top <= ram.end else ram.end)
    return check(fault, bounds, ram, mpu_state, ret_addrs)
