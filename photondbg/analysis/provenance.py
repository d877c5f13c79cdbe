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

import capstone
from capstone import arm as carm

from photondbg.analysis.heaptrack import demangle
from photondbg.analysis.memory import MemoryImage

MAX_LEVELS = 4
MAX_SCAN = 4096  # bytes of a function scanned before the use


@dataclass
class Step:
    register: str
    value: int | None
    loaded_by: dict | None = None  # {pc, instruction}
    address: int | None = None  # where the value was loaded from
    base: str | None = None
    base_value: int | None = None
    offset: int | None = None
    confirmed: bool | None = None  # the dump still holds ``value`` at ``address``
    note: str | None = None
    function: str | None = None  # the function this step is in (callers: arguments)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


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


def _md():
    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    md.detail = True
    return md


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


def _reg_name(md, reg: int) -> str:
    name = md.reg_name(reg)
    return {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12"}.get(name, name)


def _insn_text(i) -> str:
    return f"{i.mnemonic} {i.op_str}".strip()


def _function_insns(elf, md, pc: int):
    """Instructions of the function holding ``pc``, from its start up to and including pc."""
    fn = elf.function_at(pc)
    start = fn[0].address if fn else max(pc - 64, 0)
    start = max(start, pc - MAX_SCAN)
    code = elf.read(start, pc + 4 - start)
    if code is None:
        return [], fn
    insns = [i for i in md.disasm(code, start) if i.address <= pc]
    return insns, fn


def _writes(md, insn, reg: str) -> bool:
    try:
        _, written = insn.regs_access()
    except capstone.CsError:
        return False
    return reg in {_reg_name(md, r) for r in written}


def trace(elf, mem: MemoryImage, fault: dict) -> Provenance:
    """The provenance of the faulting value (see the module doc)."""
    md = _md()
    regs = regs_at_fault(fault)
    fpc = fault.get("faulting_pc")
    if fpc is None:
        return Provenance("unknown", text="no stacked frame: the faulting PC is unknown")
    fpc &= ~1
    if elf.in_code(fpc):
        insns, _ = _function_insns(elf, md, fpc)
        if not insns or insns[-1].address != fpc:
            return Provenance("unknown", text=f"cannot disassemble at 0x{fpc:08x}")
        site = insns[-1]
        mems = [o for o in site.operands if o.type == carm.ARM_OP_MEM]
        if not mems:
            return Provenance(
                "unknown",
                site=_site(elf, site),
                text=f"the faulting instruction `{_insn_text(site)}` does not "
                "access memory through a register",
            )
        base = _reg_name(md, mems[0].mem.base)
        p = Provenance("data-access", site=_site(elf, site), register=base, value=regs.get(base))
        p.chain = _chain(md, mem, insns[:-1], base, regs)
        _into_callers(elf, md, mem, p, insns[:-1], regs, fault.get("backtrace_pcs") or [])
        p.text = (
            f"`{_insn_text(site)}` at 0x{fpc:08x} used {base} = {_hx(regs.get(base))} "
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
            reg = _reg_name(md, call.operands[0].reg)
            insns, _ = _function_insns(elf, md, call.address)
            p = Provenance(
                "bad-branch", site=_site(elf, call), register=reg, value=regs.get(reg, fpc | 1)
            )
            p.chain = _chain(md, mem, insns[:-1], reg, regs)
            _into_callers(elf, md, mem, p, insns[:-1], regs, fault.get("backtrace_pcs") or [])
            p.text = (
                f"`{_insn_text(call)}` at 0x{call.address:08x} branched to "
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


class _Flow:
    """Register values in the straight-line code before the use, from the registers at the
    fault and, where a register was overwritten since, from the loads that set it (the dump
    gives the loaded word)."""

    def __init__(self, md, mem: MemoryImage, before: list, regs: dict[str, int]):
        self.md, self.mem, self.before, self.regs = md, mem, before, regs

    def last_write(self, reg: str, end: int) -> int | None:
        """Index of the last instruction before ``end`` that writes ``reg``."""
        return next(
            (k for k in range(end - 1, -1, -1) if _writes(self.md, self.before[k], reg)), None
        )

    def value_before(self, reg: str, end: int, depth: int = 0) -> tuple[int | None, str]:
        """(value of ``reg`` just before instruction ``end``, where that value comes from)."""
        if reg == "sp" or depth > 6:
            return None, "unknown"
        last = self.last_write(reg, len(self.before))
        if last is None or last < end:
            return self.regs.get(reg), "register at the fault"
        first = next(
            k for k in range(end, len(self.before)) if _writes(self.md, self.before[k], reg)
        )
        delta = self.writeback(first, reg)
        if first == last and delta is not None and self.regs.get(reg) is not None:
            # only written since by a load's base writeback: undo the increment
            return (self.regs[reg] - delta) & 0xFFFFFFFF, "register at the fault"
        j = self.last_write(reg, end)
        if j is None:
            return None, "overwritten later; its value here is lost"
        load = self.load(j, reg)
        if load is not None:
            base, disp, mode = load
            bval, _ = self.value_before(base, j, depth + 1)
            if bval is None:
                return None, "unknown"
            return self.mem.u32(_address(bval, disp, mode)), "the dump (word loaded then)"
        src = self.copy_source(j, reg)
        if src is not None:
            return self.value_before(src, j, depth + 1)
        terms = self.arithmetic(j, reg)
        if terms is not None:
            total = terms[1]
            for sreg, shift, sign in terms[0]:
                v, _ = self.value_before(sreg, j, depth + 1)
                if v is None:
                    return None, "computed from an unknown value"
                total += sign * (v << shift)
            return total & 0xFFFFFFFF, "computed from registers"
        return None, "computed"

    def arithmetic(self, j: int, reg: str):
        """``add``/``sub`` of registers (optionally shifted left) and immediates writing
        ``reg``: ([(source, shift, sign)], immediate); None for anything else."""
        ins = self.before[j]
        mnem = ins.mnemonic.split(".")[0].rstrip("s") if ins.mnemonic != "adds" else "add"
        mnem = {"adds": "add", "subs": "sub"}.get(ins.mnemonic.split(".")[0], mnem)
        if (
            mnem not in ("add", "sub")
            or not ins.operands
            or ins.operands[0].type != carm.ARM_OP_REG
            or _reg_name(self.md, ins.operands[0].reg) != reg
        ):
            return None
        ops = list(ins.operands)
        if len(ops) == 2:  # add rd, #imm / add rd, rm: rd is also a source
            ops = [ops[0], ops[0], ops[1]]
        terms, imm = [], 0
        for k, o in enumerate(ops[1:]):
            sign = -1 if mnem == "sub" and k == 1 else 1
            if o.type == carm.ARM_OP_IMM:
                imm += sign * o.imm
            elif o.type == carm.ARM_OP_REG:
                shift = 0
                if o.shift.type not in (0, carm.ARM_SFT_INVALID):
                    if o.shift.type != carm.ARM_SFT_LSL:
                        return None
                    shift = o.shift.value
                name = _reg_name(self.md, o.reg)
                if name in ("pc", "sp"):
                    return None
                terms.append((name, shift, sign))
            else:
                return None
        return terms, imm

    def load(self, j: int, reg: str):
        """(base, disp, mode) when instruction j is ``ldr reg, [base, #disp]`` (plain, pre- or
        post-indexed); None otherwise."""
        ins = self.before[j]
        mems = [o for o in ins.operands if o.type == carm.ARM_OP_MEM]
        if (
            not ins.mnemonic.startswith("ldr")
            or not mems
            or len(ins.operands) < 2
            or ins.operands[0].type != carm.ARM_OP_REG
            or _reg_name(self.md, ins.operands[0].reg) != reg
        ):
            return None
        m = mems[0].mem
        base = _reg_name(self.md, m.base)
        if base == "pc" or m.index != 0:
            return None
        if ins.writeback and len(ins.operands) == 3:
            post = ins.operands[2].imm if ins.operands[2].type == carm.ARM_OP_IMM else 0
            return base, post, "post"
        return base, m.disp, "pre" if ins.writeback else "offset"

    def writeback(self, k: int, reg: str) -> int | None:
        """The increment when instruction k only updates ``reg`` as a load's base."""
        ins = self.before[k]
        if not ins.writeback or not ins.mnemonic.startswith("ldr"):
            return None
        dest = ins.operands[0]
        if dest.type == carm.ARM_OP_REG and _reg_name(self.md, dest.reg) == reg:
            return None
        for load_reg in [_reg_name(self.md, dest.reg)] if dest.type == carm.ARM_OP_REG else []:
            found = self.load(k, load_reg)
            if found is not None and found[0] == reg:
                return found[1]
        return None

    def copy_source(self, j: int, reg: str) -> str | None:
        ins = self.before[j]
        if (
            ins.mnemonic in ("mov", "movs")
            and len(ins.operands) == 2
            and ins.operands[1].type == carm.ARM_OP_REG
        ):
            return _reg_name(self.md, ins.operands[1].reg)
        return None


def _address(base_before: int, disp: int, mode: str) -> int:
    """The address an ldr read, from its base register's value before the instruction."""
    return (base_before + (disp if mode != "post" else 0)) & 0xFFFFFFFF


def _chain(md, mem: MemoryImage, before: list, reg: str, regs: dict[str, int]) -> list[Step]:
    flow = _Flow(md, mem, before, regs)
    steps: list[Step] = []
    idx, carried = len(before), None
    for _ in range(MAX_LEVELS):
        value, source = flow.value_before(reg, idx)
        if value is None and carried is not None:  # a copy: same value as its destination
            value, source, carried = carried, "the register it was copied to", None
        step = Step(reg, value)
        steps.append(step)
        if source != "register at the fault" and value is not None:
            step.note = f"value from {source}"
        j = flow.last_write(reg, idx)
        if j is None:
            step.note = "not written earlier in this function: an argument or a callee-saved value"
            break
        ins = before[j]
        step.loaded_by = {"pc": ins.address, "instruction": _insn_text(ins)}
        load = flow.load(j, reg)
        if load is None:
            src = flow.copy_source(j, reg)
            if src is not None:
                step.note = f"copied from {src}"
                reg, idx, carried = src, j, value
                continue
            step.note = (
                "computed by this instruction from registers"
                if flow.arithmetic(j, reg) is not None
                else "computed, not loaded (or a PC-relative / indexed load, not traced)"
            )
            break
        base, disp, mode = load
        step.base, step.offset = base, disp
        bval, bsrc = flow.value_before(base, j)
        step.base_value = bval
        if bval is None:
            step.note = f"{base} then: {bsrc}"
            if flow.last_write(base, j) is None and base in ("r0", "r1", "r2", "r3"):
                step.note = (
                    f"{base} then: the function's argument {base} as it was passed "
                    "(its value is not known here)"
                )
            break
        step.address = _address(bval, disp, mode)
        now = mem.u32(step.address)
        step.confirmed = None if now is None or value is None else now == value
        reg, idx = base, j
    return steps


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
    clobbered = {r for ins in before for r in CALLEE_SAVED if _writes(md, ins, r)}
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
        insns, _ = _function_insns(elf, md, call.address)
        if not insns or insns[-1].address != call.address:
            return
        caller_before = insns[:-1]
        # argument registers at the call: the callee's entry values, where the callee kept them
        entry = {
            r: known.get(r)
            for r in ARGUMENT_REGS
            if not any(_writes(md, ins, r) for ins in callee_before)
        }
        entry[last.register] = last.value
        caller_regs = {r: v for r, v in known.items() if r in CALLEE_SAVED and r not in clobbered}
        caller_regs.update({r: v for r, v in entry.items() if v is not None})
        site = _site(elf, call)
        last.note = f"an argument: set up by the caller `{site['function']}` before its call"
        more = _chain(md, mem, caller_before, last.register, caller_regs)
        for step in more:
            step.function = site["function"]
        p.chain += more
        clobbered |= {r for ins in caller_before for r in CALLEE_SAVED if _writes(md, ins, r)}
        known = caller_regs
        callee_before = caller_before


def _site(elf, insn) -> dict:
    loc = elf.locate(insn.address)
    return {
        "pc": insn.address,
        "instruction": _insn_text(insn),
        "function": demangle(elf, loc.function),
        "file": loc.file,
        "line": loc.line,
    }


def _hx(v) -> str:
    return "?" if v is None else f"0x{v:08x}"
