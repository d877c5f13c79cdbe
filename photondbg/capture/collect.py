"""Capture on stop: registers, EXC_RETURN, stacked frame, SCB decode, instruction, backtrace,
memory dumps. Each function reads through a :class:`GdbSession` and returns plain
data for report.json (integers as numbers)."""

from __future__ import annotations

from pathlib import Path

from photondbg.capture.elfinfo import ElfInfo
from photondbg.cortexm import faults
from photondbg.gdb.memory import MemoryRead
from photondbg.gdb.mi import GdbError
from photondbg.gdb.session import GdbSession
from photondbg.targets.base import Region

CORE_REGS = [f"r{i}" for i in range(13)] + ["sp", "lr", "pc", "xpsr"]
SCAN_BYTES = 4096  # bytes above the SP scanned for return addresses (stack_scan)
STACK_DUMP_MAX = 64 * 1024
RAM_DUMP_MAX = 512 * 1024  # bigger RAMs (mps2-an385: 4 MiB) are dumped up to this much
BACKTRACE_MAX = 64
SIGNAL_FRAME = "<signal handler called>"  # GDB's name for an exception frame


def core_registers(regs: dict[str, int]) -> dict[str, int]:
    return {n: regs[n] for n in CORE_REGS if n in regs}


def disassemble(code: bytes | None, address: int) -> str | None:
    """The first Thumb instruction of ``code`` as 'mnemonic operands' (capstone, M-class)."""
    if not code:
        return None
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    for insn in md.disasm(code, address):
        return f"{insn.mnemonic} {insn.op_str}".strip()
    return None


def instruction_at(gdb: GdbSession | None, elf: ElfInfo, pc: int) -> str | None:
    pc &= ~1
    code = elf.read(pc, 4) or elf.read(pc, 2)
    if code is None and gdb is not None:
        blocks = gdb.read_chunk(pc, 4)
        code = blocks[0][1] if blocks and blocks[0][0] == pc else None
    return disassemble(code, pc)


def locate(elf: ElfInfo, addr: int | None, gdb: GdbSession | None = None) -> dict:
    """{symbol, location} for an address: ELF symbols + DWARF; GDB ``info line`` as fallback."""
    if addr is None:
        return {"symbol": None, "location": None}
    loc = elf.locate(addr)
    where = loc.where
    if where is None and loc.function is not None and gdb is not None:
        try:
            text = gdb.cli(f"info line *0x{addr & ~1:x}", timeout=2.0)
            import re

            m = re.search(r'Line (\d+) of "([^"]+)"', text)
            if m:
                where = f"{m.group(2)}:{m.group(1)}"
        except GdbError:
            pass
    sym = None
    if loc.function:
        sym = loc.function if not loc.offset else f"{loc.function}+{loc.offset}"
    return {"symbol": loc.function, "symbol_offset": sym, "location": where}


def read_scb(gdb: GdbSession) -> dict[str, int]:
    """CFSR, HFSR, DFSR, MMFAR, BFAR: five consecutive words from 0xE000ED28."""
    first = faults.SCB_REGISTERS[0][1]
    words = gdb.read_words(first, len(faults.SCB_REGISTERS))
    out = {}
    if words is None:  # read one by one; keep what answers
        for name, addr in faults.SCB_REGISTERS:
            v = gdb.read_u32(addr)
            if v is not None:
                out[name] = v
        return out
    for (name, addr), w in zip(faults.SCB_REGISTERS, words):
        out[name] = w
    return out


def stacked_frame(
    gdb: GdbSession, sp: int | None, ram: Region, size: int = faults.BASIC_FRAME_BYTES
) -> tuple[dict | None, str | None]:
    """The basic part (r0-r3, r12, lr, pc, xpsr) of the exception frame at ``sp``, or (None,
    why it cannot be read). ``size``: the whole frame's bytes (104 for an extended frame, whose
    FP part :mod:`photondbg.capture.fpu` reads), all of which must lie in RAM."""
    if sp is None:
        return None, "the stack pointer of the interrupted code is not known"
    if not ram.contains(sp, size):
        return None, (
            f"stacked frame unreadable: SP 0x{sp:08x} is outside RAM "
            f"(0x{ram.base:08x}-0x{ram.end - 1:08x})"
        )
    words = gdb.read_words(sp, len(faults.BASIC_FRAME))
    if words is None:
        return None, f"stacked frame unreadable: memory at SP 0x{sp:08x} cannot be read"
    return faults.unpack_frame(words), None


def find_stacked_frame(
    gdb: GdbSession, regs: dict[str, int], ram: Region
) -> tuple[int | None, str]:
    """Where the hardware stacked the frame, when the stack pointer is not exposed (PSP on
    QEMU). At a handler's first instruction r0-r3 and r12 still hold the values the core just
    stacked, so the frame is the one place in RAM holding those five words followed by an
    even PC and a thread-mode xPSR. Returns (SP, how) — SP None unless exactly one matches."""
    import struct

    try:
        needle = struct.pack(
            "<5I", *(regs[n] & 0xFFFFFFFF for n in ("r0", "r1", "r2", "r3", "r12"))
        )
    except KeyError:
        return None, "registers r0-r3/r12 not available"
    mem = gdb.read_memory(ram.base, min(ram.size, RAM_DUMP_MAX))
    data = mem.data
    hits: list[int] = []
    i = data.find(needle)
    while i >= 0 and len(hits) < 8:
        if i % 4 == 0 and i + 32 <= len(data):
            pc, xpsr = struct.unpack_from("<2I", data, i + 24)
            if pc & 1 == 0 and xpsr & 0x1FF == 0:
                hits.append(ram.base + i)
        i = data.find(needle, i + 4)
    if len(hits) == 1:
        return hits[0], "found in RAM by the stacked r0-r3/r12"
    return None, f"{len(hits) or 'no'} candidate frames in RAM for the stacked r0-r3/r12"


def backtrace(gdb: GdbSession, elf: ElfInfo, frame: dict | None) -> tuple[list[dict], str]:
    """Frames of the interrupted code, through the exception frame (GDB's unwinder), up to the
    next exception frame (GDB would take a PSP frame below it from the MSP: QEMU's stub has no
    PSP); if GDB's unwind stops early, built from the stacked PC and LR. (frames, how)."""
    frames: list[dict] = []
    how = "gdb"
    try:
        res = gdb.command(f"-stack-list-frames 0 {BACKTRACE_MAX - 1}", timeout=5.0)
        raw = res.payload.get("stack", []) if res.payload else []
    except GdbError:
        raw = []
    after = None
    for i, fr in enumerate(raw):
        if fr.get("func") == SIGNAL_FRAME:
            after = i + 1
            break
    gdb_frames = raw[after:] if after is not None else []
    nxt = next((i for i, f in enumerate(gdb_frames) if f.get("func") == SIGNAL_FRAME), None)
    if nxt is not None:
        gdb_frames = gdb_frames[:nxt]
        how = "gdb, to the next exception frame"
    for fr in gdb_frames:
        pc = int(fr.get("addr", "0"), 16)
        frames.append(
            {
                "pc": pc,
                "function": fr.get("func") if fr.get("func") != "??" else None,
                "file": fr.get("file"),
                "line": int(fr["line"]) if fr.get("line") else None,
            }
        )
    reached_main = any(f["function"] in ("main", "loop", "setup") for f in frames)
    if frame is not None and (not frames or (not reached_main and len(frames) < 2)):
        how = "stacked pc/lr"
        frames = []
        for addr in (frame["pc"], frame["lr"]):
            loc = elf.locate(addr & ~1 if addr == frame["pc"] else (addr & ~1) - 2)
            frames.append(
                {"pc": addr & ~1, "function": loc.function, "file": loc.file, "line": loc.line}
            )
    for f in frames:  # fill file/line from the ELF where GDB had none
        if f["function"] is None or f["file"] is None:
            loc = elf.locate(f["pc"])
            f["function"] = f["function"] or loc.function
            f["file"] = f["file"] or loc.file
            f["line"] = f["line"] or loc.line
    return frames, how


def dump(gdb: GdbSession, path: Path, start: int, length: int, timeout: float = 10.0) -> MemoryRead:
    return gdb.dump_memory(path, start, length, timeout=timeout)


def gaps_json(mem: MemoryRead) -> list[dict]:
    return [{"address": a, "length": n} for a, n in mem.gaps]
