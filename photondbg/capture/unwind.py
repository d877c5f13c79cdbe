"""A backtrace from any register set, by the ELF's DWARF call-frame information (pyelftools).

GDB unwinds the stack the core is halted on; a thread that is not running (its context saved
by the scheduler), or thread code under a PSP exception frame that QEMU's stub cannot show
GDB, needs an unwind from registers that are not the core's. Handing them to GDB means
writing the core's registers (and GDB then hits the halted breakpoint again on resume), so
this unwinder works offline instead: the CFA and saved-register rules of ``.debug_frame``
(``.eh_frame`` when there is none), memory from a RAM snapshot. Nothing on the target changes.

Frame 0 without CFI (a garbage PC, a naked function) is taken as a leaf: its caller is LR.
The walk stops at a caller that saves no return address (a thread's entry function that never
returns), a return address outside the code, an EXC_RETURN value, a stack pointer that goes
down or leaves the given stack bounds, or after ``max_frames``. At an EXC_RETURN value the
walked code was an exception handler: :attr:`Unwound.exc_return` and :attr:`Unwound.caller`
(the registers with SP at the handler's entry) let :mod:`photondbg.capture.backtrace` go on
through the exception frame into the code it interrupted.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from elftools.common.exceptions import DWARFError, ELFError
from elftools.dwarf.callframe import FDE

from photondbg.capture.elfinfo import ElfInfo
from photondbg.cortexm import faults

REG_NAMES = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc"]  # DWARF numbers 0..15
MAX_FRAMES = 32
CFI_ERRORS = (DWARFError, ELFError, KeyError, ValueError, IndexError, AttributeError)

ReadWord = Callable[[int], "int | None"]


@dataclass(frozen=True)
class Unwound:
    frames: list[dict]  # [{pc, function, file, line, sp}]
    stop: str  # why the walk ended
    exc_return: int | None = None  # the walk ended at this (valid) EXC_RETURN value
    caller: dict[str, int] | None = None  # then: registers, SP = the handler's entry SP


class CfiUnwinder:
    """Call-frame rules of one ELF, indexed by address (decoded lazily per function)."""

    def __init__(self, elf: ElfInfo):
        self.elf = elf
        self._starts: list[int] = []
        self._fdes: list[tuple[int, int, FDE]] = []
        self._decoded: dict[int, list] = {}
        if not elf.elf.has_dwarf_info():
            return
        dwarf = elf.elf.get_dwarf_info()
        try:
            entries = (
                dwarf.CFI_entries()
                if dwarf.has_CFI()
                else (dwarf.EH_CFI_entries() if dwarf.has_EH_CFI() else [])
            )
        except CFI_ERRORS:
            entries = []
        for e in entries:
            hdr = getattr(e, "header", {})
            start = hdr.get("initial_location") if hasattr(hdr, "get") else None
            if start is None or not isinstance(e, FDE):
                continue
            self._fdes.append((start & ~1, hdr["address_range"], e))
        self._fdes.sort(key=lambda t: t[0])
        self._starts = [t[0] for t in self._fdes]

    @property
    def available(self) -> bool:
        return bool(self._fdes)

    def row(self, pc: int) -> dict | None:
        """The CFI row in force at ``pc`` ({"cfa": CFARule, regnum: RegisterRule}), or None."""
        i = bisect.bisect_right(self._starts, pc) - 1
        if i < 0:
            return None
        start, length, fde = self._fdes[i]
        if not start <= pc < start + length:
            return None
        if start not in self._decoded:
            try:
                self._decoded[start] = fde.get_decoded().table
            except CFI_ERRORS:
                self._decoded[start] = []
        best = None
        for r in self._decoded[start]:
            if r["pc"] & ~1 <= pc:
                best = r
        return best

    def unwind(
        self,
        regs: dict[str, int],
        read_word: ReadWord,
        *,
        stack: tuple[int, int] | None = None,
        max_frames: int = MAX_FRAMES,
    ) -> Unwound:
        """Frames from ``regs`` (r0..r12, sp, lr, pc) to the outermost the rules allow.
        ``stack`` = (low, high) bounds of the stack being walked, when known."""
        regs = {n: regs[n] & 0xFFFFFFFF for n in REG_NAMES if n in regs}
        frames: list[dict] = []
        seen: set[tuple[int, int]] = set()
        for depth in range(max_frames):
            pc, sp = regs.get("pc", 0) & ~1, regs.get("sp", 0)
            if (pc, sp) in seen:
                return Unwound(frames, "loop: same PC and SP twice")
            seen.add((pc, sp))
            frames.append(self._frame(pc, sp, caller=depth > 0))
            row = self.row(pc if depth == 0 else pc - 2)
            if row is None:
                if depth > 0:
                    return Unwound(frames, f"no call-frame information at 0x{pc:08x}")
                cfa, ra = sp, regs.get("lr")  # a leaf (or a jump into garbage)
                new = dict(regs)
            else:
                rule = row["cfa"]
                if rule.expr is not None or rule.reg is None or rule.reg >= len(REG_NAMES):
                    return Unwound(frames, "CFA given by a DWARF expression")
                cfa = (regs.get(REG_NAMES[rule.reg], 0) + rule.offset) & 0xFFFFFFFF
                new = dict(regs)
                for regnum, rr in row.items():
                    if not isinstance(regnum, int) or regnum >= len(REG_NAMES):
                        continue
                    value = _apply(rr, cfa, regs, read_word)
                    if value is False:
                        return Unwound(frames, f"saved r{regnum} unreadable at CFA 0x{cfa:08x}")
                    if value is not None:
                        new[REG_NAMES[regnum]] = value
                if depth > 0 and 14 not in row:
                    # it called on (its LR was overwritten) and saved no LR: it never returns
                    return Unwound(frames, "outermost: the function saves no return address")
                ra = new.get("lr")
            if ra is None:
                return Unwound(frames, "no return address")
            if ra >= 0xFFFFFFE0:
                if not faults.decode_exc_return(ra)["valid"]:
                    return Unwound(
                        frames, f"return address 0x{ra:08x} is neither code nor EXC_RETURN"
                    )
                new["sp"] = cfa
                return Unwound(frames, f"exception return 0x{ra:08x}", ra, new)
            if not ra & 1 or not self.elf.in_code(ra & ~1):
                return Unwound(frames, f"return address 0x{ra:08x} is not code")
            entry = self.elf.function_at(ra & ~1)
            if entry is not None and entry[1] == 0 and not self._after_call(ra & ~1):
                # a function's first instruction, and no call just before it (a noreturn call
                # at the end of the previous function would be): a scheduler set this LR
                return Unwound(
                    frames,
                    f"returns into {self.elf.pretty(entry[0].name)} "
                    f"(the thread's exit, set up by the scheduler)",
                )
            if cfa < sp:
                return Unwound(frames, "stack pointer goes down")
            if stack and not stack[0] <= cfa <= stack[1]:
                return Unwound(frames, f"stack pointer 0x{cfa:08x} leaves the stack")
            new["sp"], new["pc"] = cfa, ra & ~1
            regs = new
        return Unwound(frames, f"stopped after {max_frames} frames")

    def _after_call(self, ra: int) -> bool:
        """Is the instruction just before ``ra`` a call (BL, or BLX to a register)?"""
        import capstone

        md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        for size in (4, 2):
            code = self.elf.read(ra - size, size)
            insn = next(md.disasm(code, ra - size), None) if code else None
            if insn is not None and insn.size == size and insn.mnemonic in ("bl", "blx"):
                return True
        return False

    def _frame(self, pc: int, sp: int, caller: bool) -> dict:
        loc = self.elf.locate(pc - 2 if caller else pc)
        return {"pc": pc, "function": loc.function, "file": loc.file, "line": loc.line, "sp": sp}


def _apply(rule, cfa: int, regs: dict[str, int], read_word: ReadWord):
    """A register's value in the caller: int, None (unchanged), False (unreadable)."""
    kind = rule.type
    if kind == "OFFSET":
        v = read_word((cfa + rule.arg) & 0xFFFFFFFF)
        return False if v is None else v
    if kind == "VAL_OFFSET":
        return (cfa + rule.arg) & 0xFFFFFFFF
    if kind == "REGISTER" and isinstance(rule.arg, int) and rule.arg < len(REG_NAMES):
        return regs.get(REG_NAMES[rule.arg])
    return None  # SAME_VALUE, UNDEFINED, expressions: left as they are


class WordSource(Protocol):
    """What the thread code reads memory through: a :class:`Snapshot`, or replay's view of a
    capture's memory map."""

    def read(self, addr: int, length: int) -> bytes | None: ...

    def word(self, addr: int) -> int | None: ...


def read_words(mem: WordSource, addr: int, n: int) -> list[int] | None:
    """``n`` words at ``addr``: from the dump in one piece when it holds them, else word by word
    (through the fallback); None when any word is unreadable."""
    raw = mem.read(addr, 4 * n)
    if raw is not None:
        return [int.from_bytes(raw[i : i + 4], "little") for i in range(0, 4 * n, 4)]
    words = []
    for i in range(n):
        w = mem.word(addr + 4 * i)
        if w is None:
            return None
        words.append(w)
    return words


def read_bytes(mem: WordSource, addr: int, length: int) -> bytes | None:
    """``length`` bytes at ``addr``, as :func:`read_words` reads them; None when unreadable."""
    raw = mem.read(addr, length)
    if raw is not None:
        return raw
    words = read_words(mem, addr, (length + 3) // 4)
    return None if words is None else b"".join(w.to_bytes(4, "little") for w in words)[:length]


class Snapshot:
    """Word reads from a RAM dump (bytes at ``base``), else through ``fallback`` (GDB)."""

    def __init__(
        self,
        base: int,
        data: bytes,
        gaps: list[tuple[int, int]] | None = None,
        fallback: ReadWord | None = None,
    ):
        self.base, self.data, self.gaps = base, data, gaps or []
        self.fallback = fallback

    def read(self, addr: int, length: int) -> bytes | None:
        off = addr - self.base
        if (
            0 <= off
            and off + length <= len(self.data)
            and not any(a < addr + length and addr < a + n for a, n in self.gaps)
        ):
            return self.data[off : off + length]
        return None

    def word(self, addr: int) -> int | None:
        b = self.read(addr, 4)
        if b is not None:
            return int.from_bytes(b, "little")
        return self.fallback(addr) if self.fallback else None
