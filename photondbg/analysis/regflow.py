"""Register tracking backwards through straight-line code: what a register held before an
instruction (the registers at the fault, the loads that set it and the words the dump still
holds), and the chain of loads that produced a value (:class:`Step`)."""

from __future__ import annotations

from dataclasses import dataclass

from capstone import arm as carm

from photondbg.analysis.disasm import insn_text, reg_name, writes
from photondbg.analysis.memory import MemoryImage

MAX_LEVELS = 4


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


class RegisterFlow:
    """Register values in the straight-line code before the use, from the registers at the
    fault and, where a register was overwritten since, from the loads that set it (the dump
    gives the loaded word)."""

    def __init__(self, md, mem: MemoryImage, before: list, regs: dict[str, int]):
        self.md, self.mem, self.before, self.regs = md, mem, before, regs

    def last_write(self, reg: str, end: int) -> int | None:
        """Index of the last instruction before ``end`` that writes ``reg``."""
        return next(
            (k for k in range(end - 1, -1, -1) if writes(self.md, self.before[k], reg)), None
        )

    def value_before(self, reg: str, end: int, depth: int = 0) -> tuple[int | None, str]:
        """(value of ``reg`` just before instruction ``end``, where that value comes from)."""
        if reg == "sp" or depth > 6:
            return None, "unknown"
        last = self.last_write(reg, len(self.before))
        if last is None or last < end:
            return self.regs.get(reg), "register at the fault"
        first = next(
            k for k in range(end, len(self.before)) if writes(self.md, self.before[k], reg)
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
            or reg_name(self.md, ins.operands[0].reg) != reg
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
                name = reg_name(self.md, o.reg)
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
            or reg_name(self.md, ins.operands[0].reg) != reg
        ):
            return None
        m = mems[0].mem
        base = reg_name(self.md, m.base)
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
        if dest.type == carm.ARM_OP_REG and reg_name(self.md, dest.reg) == reg:
            return None
        for load_reg in [reg_name(self.md, dest.reg)] if dest.type == carm.ARM_OP_REG else []:
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
            return reg_name(self.md, ins.operands[1].reg)
        return None


def _address(base_before: int, disp: int, mode: str) -> int:
    """The address an ldr read, from its base register's value before the instruction."""
    return (base_before + (disp if mode != "post" else 0)) & 0xFFFFFFFF


def trace_chain(md, mem: MemoryImage, before: list, reg: str, regs: dict[str, int]) -> list[Step]:
    flow = RegisterFlow(md, mem, before, regs)
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
        step.loaded_by = {"pc": ins.address, "instruction": insn_text(ins)}
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
