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

from photondbg.analysis.memory import MemoryImage

MAX_LEVELS = 4
MAX_SCAN = 4096   # bytes of a function scanned before the use


@dataclass
class Step:
    register: str
    value: int | None
    loaded_by: dict | None = None    # {pc, instruction}
    address: int | None = None       # where the value was loaded from
    base: str | None = None
    base_value: int | None = None
    offset: int | None = None
    confirmed: bool | None = None    # the dump still holds ``value`` at ``address``
    note: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class Provenance:
    kind: str                      # "data-access" | "bad-branch" | "return" | "unknown"
    site: dict | None = None       # {pc, instruction, function}
    register: str | None = None
    value: int | None = None
    chain: list[Step] = field(default_factory=list)
    text: str = ""

    def as_dict(self) -> dict:
        return {"kind": self.kind, "site": self.site, "register": self.register,
                "value": self.value, "chain": [s.as_dict() for s in self.chain],
                "text": self.text}


def _md():
    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    md.detail = True
    return md


def _regs_at_fault(fault: dict) -> dict[str, int]:
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
    regs = _regs_at_fault(fault)
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
            return Provenance("unknown", site=_site(elf, site),
                              text=f"the faulting instruction `{_insn_text(site)}` does not "
                                   "access memory through a register")
        base = _reg_name(md, mems[0].mem.base)
        p = Provenance("data-access", site=_site(elf, site), register=base, value=regs.get(base))
        p.chain = _chain(md, mem, insns[:-1], base, regs)
        p.text = (f"`{_insn_text(site)}` at 0x{fpc:08x} used {base} = {_hx(regs.get(base))} "
                  f"+ {mems[0].mem.disp} as its address")
        return p
    # the PC is garbage: the caller branched or returned there
    lr = (fault.get("frame") or {}).get("lr")
    if lr is None or not elf.in_code(lr):
        return Provenance("unknown", value=fpc,
                          text=f"PC 0x{fpc:08x} is outside the code and the stacked LR "
                               f"{_hx(lr)} is not a code address either")
    ret = lr & ~1
    for width in (2, 4):
        code = elf.read(ret - width, width)
        call = next(md.disasm(code, ret - width), None) if code else None
        if call is not None and call.size == width and call.mnemonic in ("blx", "bx") \
                and call.operands and call.operands[0].type == carm.ARM_OP_REG:
            reg = _reg_name(md, call.operands[0].reg)
            insns, _ = _function_insns(elf, md, call.address)
            p = Provenance("bad-branch", site=_site(elf, call), register=reg,
                           value=regs.get(reg, fpc | 1))
            p.chain = _chain(md, mem, insns[:-1], reg, regs)
            p.text = (f"`{_insn_text(call)}` at 0x{call.address:08x} branched to "
                      f"{_hx(p.value)} (PC 0x{fpc:08x})")
            return p
    return Provenance("return", value=fpc,
                      text=f"PC 0x{fpc:08x} is outside the code; the instruction before the "
                           f"stacked LR {_hx(lr)} is not a register branch: probably a return "
                           "through a corrupted stack (not traced)")


def _chain(md, mem: MemoryImage, before: list, reg: str, regs: dict[str, int]) -> list[Step]:
    steps: list[Step] = []
    known = dict(regs)
    idx = len(before)
    for _ in range(MAX_LEVELS):
        step = Step(reg, known.get(reg))
        steps.append(step)
        j = next((k for k in range(idx - 1, -1, -1) if _writes(md, before[k], reg)), None)
        if j is None:
            step.note = "not written earlier in this function: an argument or a callee-saved value"
            break
        ins = before[j]
        step.loaded_by = {"pc": ins.address, "instruction": _insn_text(ins)}
        mems = [o for o in ins.operands if o.type == carm.ARM_OP_MEM]
        if not ins.mnemonic.startswith("ldr") or not mems or len(ins.operands) < 2 \
                or ins.operands[0].type != carm.ARM_OP_REG \
                or _reg_name(md, ins.operands[0].reg) != reg:
            step.note = "computed, not loaded"
            if ins.mnemonic in ("mov", "movs") and ins.operands[1].type == carm.ARM_OP_REG:
                src = _reg_name(md, ins.operands[1].reg)
                if not any(_writes(md, x, src) for x in before[j + 1:idx]):
                    known[src] = step.value if step.value is not None else known.get(src)
                    step.note = f"copied from {src}"
                    reg, idx = src, j
                    continue
            break
        m = mems[0].mem
        base = _reg_name(md, m.base)
        step.base, step.offset = base, m.disp
        if base == "pc" or m.index != 0:
            step.note = "PC-relative or indexed load (a literal or an array index): not traced"
            break
        if base == reg:
            step.note = f"{reg} was loaded through itself: its earlier value is lost"
            break
        if any(_writes(md, x, base) for x in before[j + 1:idx]):
            step.note = f"{base} changed after the load: its value then is unknown"
            break
        bval = known.get(base)
        step.base_value = bval
        if bval is not None:
            if ins.writeback and len(ins.operands) == 3:        # post-indexed: [rB], #imm
                post = ins.operands[2].imm if ins.operands[2].type == carm.ARM_OP_IMM else 0
                step.address = (bval - post) & 0xFFFFFFFF
            elif ins.writeback:                                  # pre-indexed: [rB, #d]!
                step.address = bval
            else:
                step.address = (bval + m.disp) & 0xFFFFFFFF
            now = mem.u32(step.address)
            step.confirmed = None if now is None or step.value is None else now == step.value
        reg, idx = base, j
    return steps


def _site(elf, insn) -> dict:
    loc = elf.locate(insn.address)
    return {"pc": insn.address, "instruction": _insn_text(insn),
            "function": elf.pretty(loc.function) if loc.function else None,
            "file": loc.file, "line": loc.line}


def _hx(v) -> str:
    return "?" if v is None else f"0x{v:08x}"
