"""The Thumb-2 disassembly that provenance walks (capstone): a function's instructions up to
a PC, which registers an instruction writes, and how a call site is named."""

from __future__ import annotations

import capstone

from photondbg.analysis.heaptrack import demangle

MAX_SCAN = 4096  # bytes of a function scanned before the use


def thumb_disassembler():
    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    md.detail = True
    return md


def reg_name(md, reg: int) -> str:
    name = md.reg_name(reg)
    return {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12"}.get(name, name)


def insn_text(i) -> str:
    return f"{i.mnemonic} {i.op_str}".strip()


def function_insns(elf, md, pc: int):
    """Instructions of the function holding ``pc``, from its start up to and including pc."""
    fn = elf.function_at(pc)
    start = fn[0].address if fn else max(pc - 64, 0)
    start = max(start, pc - MAX_SCAN)
    code = elf.read(start, pc + 4 - start)
    if code is None:
        return [], fn
    insns = [i for i in md.disasm(code, start) if i.address <= pc]
    return insns, fn


def writes(md, insn, reg: str) -> bool:
    try:
        _, written = insn.regs_access()
    except capstone.CsError:
        return False
    return reg in {reg_name(md, r) for r in written}


def call_site(elf, insn) -> dict:
    loc = elf.locate(insn.address)
    return {
        "pc": insn.address,
        "instruction": insn_text(insn),
        "function": demangle(elf, loc.function),
        "file": loc.file,
        "line": loc.line,
    }
