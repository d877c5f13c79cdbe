"""Where the faulting value came from, read from the code (capstone) and the captured registers.

1. The culprit register: for a data fault, the base register of the faulting load/store; when
   the PC itself is garbage, the register of the ``blx``/``bx`` just before the stacked LR (the
   caller's call site).
2. Backwards through the function's straight-line code: the last instruction that wrote that
   register; if it was a load ``ldr rX, [rB, #off]`` and rB is not written afterwards, the
   value was read from ``rB + off`` - and the dump says whether that word still holds it
   (``confirmed``). Repeated for rB, a few levels deep.
The scan is linear (it assumes no jump lands between the load and the use); every step says
how it was found and whether the dump confirms it, so nothing guessed is stated as fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from capstone import arm as carm

from photondbg.analysis.disasm import (
    call_site,
    function_insns,
    insn_text,
    reg_name,
    thumb_disassembler,
    writes,
)
from photondbg.analysis.memory import MemoryImage
from photondbg.analysis.regflow import Step, trace_chain


@dataclass
class Provenance:
    kind: str  # "data-access" | "bad-branch" | "return" | "unknown"
    site: dict | None = None  # {pc, instruction, function}
    register: str | None = None
    value: int | None = None
    chain: list[Step] = field(default_factory=list)
    text: str = ""

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "site": self.site,
            "register": self.register,
            "value": self.value,
            "chain": [s.as_dict() for s in self.chain],
            "text": self.text,
        }


def regs_at_fault(fault: dict) -> dict[str, int]:
    """r0-r3, r12, lr, pc from the stacked frame; r4-r11 from the handler's registers (the
    handler is stopped at its entry, so they are the faulting code's)."""
    regs = dict(fault.get("registers") or {})
    frame = fault.get("frame") or {}
    out = {k: v for k, v in regs.items() if k in {f"r{i}" for i in range(4, 12)}}
    out.update(frame)
    if fault.get("stack_pointer") is not None:
        out["sp"] = fault["stack_pointer"] + 32
    return out


def trace(elf, mem: MemoryImage, fault: dict) -> Provenance:
    """The provenance of the faulting value (see the module doc)."""
    md = thumb_disassembler()
    regs = regs_at_fault(fault)
    fpc = fault.get("faulting_pc")
    if fpc is None:
        return Provenance("unknown", text="no stacked frame: the faulting PC is unknown")
    fpc &= ~1
    if elf.in_code(fpc):
        insns, _ = function_insns(elf, md, fpc)
        if not insns or insns[-1].address != fpc:
            return Provenance("unknown", text=f"cannot disassemble at 0x{fpc:08x}")
        site = insns[-1]
        mems = [o for o in site.operands if o.type == carm.ARM_OP_MEM]
        if not mems:
            return Provenance(
                "unknown",
                site=call_site(elf, site),
                text=f"the faulting instruction `{insn_text(site)}` does not "
                "access memory through a register",
            )
        base = reg_name(md, mems[0].mem.base)
        p = Provenance(
            "data-access", site=call_site(elf, site), register=base, value=regs.get(base)
        )
        p.chain = trace_chain(md, mem, insns[:-1], base, regs)
        _into_callers(elf, md, mem, p, insns[:-1], regs, fault.get("backtrace_pcs") or [])
        p.text = (
            f"`{insn_text(site)}` at 0x{fpc:08x} used {base} = {_hx(regs.get(base))} "
            f"+ {mems[0].mem.disp} as its address"
        )
        return p
    # the PC is garbage: the caller branched or returned there
    lr = (fault.get("frame") or {}).get("lr")
    if lr is None or not elf.in_code(lr):
        return Provenance(
            "unknown",
            value=fpc,
            text=f"PC 0x{fpc:08x} is outside the code and the stacked LR "
            f"{_hx(lr)} is not a code address either",
        )
    ret = lr & ~1
    for width in (2, 4):
        code = elf.read(ret - width, width)
        call = next(md.disasm(code, ret - width), None) if code else None
        if (
            call is not None
            and call.size == width
            and call.mnemonic in ("blx", "bx")
            and call.operands
            and call.operands[0].type == carm.ARM_OP_REG
        ):
            reg = reg_name(md, call.operands[0].reg)
            insns, _ = function_insns(elf, md, call.address)
            p = Provenance(
                "bad-branch", site=call_site(elf, call), register=reg, value=regs.get(reg, fpc | 1)
            )
            p.chain = trace_chain(md, mem, insns[:-1], reg, regs)
            _into_callers(elf, md, mem, p, insns[:-1], regs, fault.get("backtrace_pcs") or [])
            p.text = (
                f"`{insn_text(call)}` at 0x{call.address:08x} branched to "
                f"{_hx(p.value)} (PC 0x{fpc:08x})"
            )
            return p
    return Provenance(
        "return",
        value=fpc,
        text=f"PC 0x{fpc:08x} is outside the code; the instruction before the "
        f"stacked LR {_hx(lr)} is not a register branch: probably a return "
        "through a corrupted stack (not traced)",
    )


ARGUMENT_REGS = ("r0", "r1", "r2", "r3")
CALLEE_SAVED = tuple(f"r{i}" for i in range(4, 12))
MAX_CALLERS = 6


def _into_callers(
    elf, md, mem: MemoryImage, p: Provenance, before: list, regs: dict, backtrace_pcs: list[int]
) -> None:
    """When the chain ends at an argument register that the function did not write, follow it
    into the caller (the backtrace's next return address): the value was set up there before
    the call. Callee-saved registers keep their fault values only while no deeper function
    wrote them before its own call or fault."""
    if not p.chain:
        return
    fn = elf.function_at(p.site["pc"]) if p.site else None
    for step in p.chain:
        step.function = p.site.get("function") if p.site else None
    clobbered = {r for ins in before for r in CALLEE_SAVED if writes(md, ins, r)}
    known = {r: v for r, v in regs.items() if r in ARGUMENT_REGS or r in CALLEE_SAVED}
    # the frames above the one holding the site
    start = next(
        (
            i
            for i, pc in enumerate(backtrace_pcs)
            if fn and elf.function_at(pc) and elf.function_at(pc)[0] == fn[0]
        ),
        None,
    )
    if start is None:
        return
    callee_before = before
    for ret in backtrace_pcs[start + 1 : start + 1 + MAX_CALLERS]:
        last = p.chain[-1]
        if last.register not in ARGUMENT_REGS or last.loaded_by is not None or last.value is None:
            return
        call = None
        for width in (4, 2):
            code = elf.read((ret & ~1) - width, width)
            ins = next(md.disasm(code, (ret & ~1) - width), None) if code else None
            if ins is not None and ins.size == width and ins.mnemonic in ("bl", "blx"):
                call = ins
                break
        if call is None:
            return
        insns, _ = function_insns(elf, md, call.address)
        if not insns or insns[-1].address != call.address:
            return
        caller_before = insns[:-1]
        # argument registers at the call: the callee's entry values, where the callee kept them
        entry = {
            r: known.get(r)
            for r in ARGUMENT_REGS
            if not any(writes(md, ins, r) for ins in callee_before)
        }
        entry[last.register] = last.value
        caller_regs = {r: v for r, v in known.items() if r in CALLEE_SAVED and r not in clobbered}
        caller_regs.update({r: v for r, v in entry.items() if v is not None})
        site = call_site(elf, call)
        last.note = f"an argument: set up by the caller `{site['function']}` before its call"
        more = trace_chain(md, mem, caller_before, last.register, caller_regs)
        for step in more:
            step.function = site["function"]
        p.chain += more
        clobbered |= {r for ins in caller_before for r in CALLEE_SAVED if writes(md, ins, r)}
        known = caller_regs
        callee_before = caller_before


def _hx(v) -> str:
    return "?" if v is None else f"0x{v:08x}"
