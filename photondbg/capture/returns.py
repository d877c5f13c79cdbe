"""Return addresses on a stack: the words of a memory read that a call left there (odd, inside
the firmware's code, and just after a BL or BLX Rm in it, read from the ELF's bytes).

One scanner for the two sections that need it: ``stack_scan`` (the words near the faulting SP,
each with its function and line) and ``stack_check``'s recursion count (every return address
from the SP to the stack's top, counted by function; :mod:`photondbg.capture.stackcheck`).
A word that merely points into code (a function pointer, a constant) is not a return address:
the instruction before it must be a call (``cortexm.faults.is_call_return``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from photondbg.capture.elfinfo import ElfInfo, Location
from photondbg.cortexm import faults


class Memory(Protocol):
    """What is read of RAM: a :class:`~photondbg.gdb.memory.MemoryRead` (start, data, gaps)."""

    start: int
    data: bytes
    gaps: list[tuple[int, int]]


@dataclass(frozen=True)
class ReturnAddress:
    address: int  # where on the stack
    value: int  # the word (Thumb bit set)
    location: Location  # of the call instruction just before it

    @property
    def function(self) -> str:
        """The function it returns into (its address when no symbol covers it)."""
        return self.location.function or f"0x{self.value & ~1:08x}"

    def as_dict(self) -> dict:
        """A ``stack_scan`` entry."""
        loc = self.location
        return {
            "address": self.address,
            "value": self.value,
            "symbol": loc.function,
            "file": loc.file,
            "line": loc.line,
        }


@dataclass(frozen=True)
class Scan:
    start: int  # first word scanned
    end: int  # end of the scanned range (exclusive)
    words: int  # words read (gaps skipped)
    found: list[ReturnAddress]


def scan(elf: ElfInfo, mem: Memory, lo: int, hi: int) -> Scan:
    """The return addresses among the words in [lo, hi) of ``mem``; unreadable bytes (the
    read's gaps) are skipped."""
    start = max((lo + 3) & ~3, mem.start)
    end = min(hi, mem.start + len(mem.data))
    gaps = [(a, a + n) for a, n in mem.gaps]
    cache: dict[int, Location | None] = {}
    found: list[ReturnAddress] = []
    words = 0
    for addr in range(start, end - 3, 4):
        if any(a <= addr < b for a, b in gaps):
            continue
        words += 1
        off = addr - mem.start
        w = int.from_bytes(mem.data[off : off + 4], "little")
        if w not in cache:
            cache[w] = call_before(elf, w)
        loc = cache[w]
        if loc is not None:
            found.append(ReturnAddress(addr, w, loc))
    return Scan(start, end, words, found)


def call_before(elf: ElfInfo, word: int) -> Location | None:
    """Where the call that ``word`` returns from is, or None if ``word`` is no return address."""
    if not word & 1 or not elf.in_code(word):
        return None
    ret = word & ~1
    before = elf.read(ret - 4, 4)
    if before is None or not faults.is_call_return(before):
        return None
    return elf.locate(ret - 2)
