"""The floating-point part of a fault on a Cortex-M4F: the frame kind, lazy stacking, the stacked
S0-S15/FPSCR and where their values came from, and the FP register file.

An extended frame (EXC_RETURN bit 4 clear) holds 18 more words after the basic frame: S0-S15,
FPSCR and a reserved word. With lazy stacking (FPCCR.LSPEN, the reset default) the core only
reserves those slots at exception entry and sets FPCCR.LSPACT, with FPCAR pointing at the S0
slot; it writes them when the handler first touches the FPU. A capture halts at the handler's
first instruction, before that, so the slots hold whatever was on the stack: the interrupted
code's values are still in S0-S15/FPSCR, and are reported from there (``source: registers``).
Facts (FPCCR bits, frame layout) are data in :mod:`photondbg.cortexm.faults`.
"""

from __future__ import annotations

from photondbg.cortexm import faults
from photondbg.gdb.mi import GdbError
from photondbg.gdb.session import GdbSession
from photondbg.targets.base import Region

FP_REGISTERS = [f"s{i}" for i in range(32)] + ["fpscr"]
STACKED = [n for n in faults.EXTENDED_FP_FRAME if n != "reserved"]  # S0-S15, FPSCR


def register_file(gdb: GdbSession) -> dict[str, int]:
    """S0-S31 and FPSCR as raw 32-bit patterns. QEMU's gdbstub (and OpenOCD) give D0-D15 and
    FPSCR; S(2n) is D(n)'s low word, S(2n+1) its high word (ARMv7-M A2.5.1)."""
    names = [n.lower() for n in gdb.register_names()]
    wanted = [f"d{i}" for i in range(16)] + [f"s{i}" for i in range(32)] + ["fpscr"]
    which = " ".join(str(names.index(n)) for n in wanted if n in names)
    if not which:
        return {}
    try:  # raw format: the bits, never a converted float
        res = gdb.command(f"-data-list-register-values --skip-unavailable r {which}", timeout=5.0)
    except GdbError:
        return {}
    raw: dict[str, int] = {}
    for item in res.payload.get("register-values", []) if res.payload else []:
        try:
            raw[names[int(item["number"])]] = int(item["value"], 16)
        except (ValueError, TypeError, IndexError, KeyError):
            continue
    out: dict[str, int] = {}
    for i in range(16):
        d = raw.get(f"d{i}")
        if d is not None:
            out[f"s{2 * i}"], out[f"s{2 * i + 1}"] = d & faults.MASK32, d >> 32 & faults.MASK32
    for name in FP_REGISTERS:
        if name not in out and name in raw:
            out[name] = raw[name] & faults.MASK32
    return {n: out[n] for n in FP_REGISTERS if n in out}


def read_fpu(gdb: GdbSession, exc: dict, sp: int | None, ram: Region) -> tuple[dict, str | None]:
    """The ``fault.fpu`` part and an error line (None when all was read)."""
    fpccr = gdb.read_u32(faults.FPCCR)
    fpcar = gdb.read_u32(faults.FPCAR)
    regs = register_file(gdb)
    lazy = bool(fpccr is not None and fpccr & faults.FPCCR_LSPACT)
    part: dict = {
        "frame": exc.get("frame"),
        "lazy": lazy,
        "fpccr": fpccr,
        "fpccr_bits": [
            n for n, bit, _ in faults.FPCCR_BITS if fpccr is not None and fpccr >> bit & 1
        ],
        "fpcar": fpcar,
        "stacked": None,
        "stacked_source": None,
        "note": None,
        "registers": regs or None,
    }
    if exc.get("frame") != "extended":
        part["note"] = "basic frame (EXC_RETURN bit 4 set): no FP state was stacked"
        return part, None if regs else "FP registers not readable through the debugger"
    if sp is None:
        part["note"] = "no readable exception frame (see frame_error): stacked FP state not read"
        return part, part["note"]
    slot = (sp + faults.EXTENDED_FP_OFFSET) & faults.MASK32
    n = len(faults.EXTENDED_FP_FRAME)
    if lazy and fpcar == slot:
        if not regs:
            part["note"] = "lazy frame and no FP registers from the debugger: values unknown"
            return part, part["note"]
        part["stacked"] = {k: regs[k] for k in STACKED if k in regs}
        part["stacked_source"] = "registers"
        part["note"] = (
            f"lazy stacking: FPCCR.LSPACT set and FPCAR = 0x{slot:08x} (this frame's S0 slot); "
            f"the core reserved the slots but has not written them, so S0-S15/FPSCR are "
            f"the FPU registers' values"
        )
        return part, None
    if not ram.contains(slot, 4 * n):
        part["note"] = f"FP slots at 0x{slot:08x} are outside RAM"
        return part, part["note"]
    words = gdb.read_words(slot, n)
    if words is None:
        part["note"] = f"FP slots at 0x{slot:08x} cannot be read"
        return part, part["note"]
    part["stacked"] = {k: v for k, v in faults.unpack_fp_frame(words).items() if k in STACKED}
    part["stacked_source"] = "frame"
    if lazy:
        part["note"] = (
            f"FPCCR.LSPACT is set for another frame (FPCAR 0x{fpcar or 0:08x}): this frame's "
            f"slots were written by the core"
        )
    return part, None
