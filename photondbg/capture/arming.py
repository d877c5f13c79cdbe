"""Arming: breakpoints on the fault handlers (read from the vector table), the panic entry,
and vector catch where the probe has it — all before the device runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from photondbg.capture.elfinfo import ElfInfo
from photondbg.cortexm import faults
from photondbg.gdb.mi import GdbError
from photondbg.gdb.session import GdbSession


@dataclass
class Armed:
    """What was armed: handler address -> vector names, breakpoint numbers, panic entry."""

    handlers: dict[int, list[str]] = field(default_factory=dict)
    breakpoints: dict[int, int] = field(default_factory=dict)  # address -> bkpt number
    panic: int | None = None
    panic_symbol: str | None = None
    vtor: int | None = None
    vector_catch: bool = False
    sources: dict[int, list[str]] = field(default_factory=dict)  # address -> ["elf", "target"]

    def kind_at(self, pc: int) -> str | None:
        pc &= ~1
        if self.panic is not None and pc == self.panic:
            return "panic"
        if pc in self.handlers:
            return "fault"
        return None

    def as_dict(self) -> dict:
        return {
            "handlers": [
                {"address": a, "vectors": v, "from": self.sources.get(a, [])}
                for a, v in sorted(self.handlers.items())
            ],
            "panic": self.panic,
            "panic_symbol": self.panic_symbol,
            "vtor": self.vtor,
            "vector_catch": self.vector_catch,
        }


def handlers_from_table(words: list[int]) -> dict[int, list[str]]:
    """Fault handler address (Thumb bit cleared) -> vector names, from vector-table words."""
    out: dict[int, list[str]] = {}
    for slot, name in faults.FAULT_VECTORS:
        if slot < len(words):
            w = words[slot]
            if w in (0, 0xFFFFFFFF) or not w & 1:
                continue  # empty slot, or not a Thumb address (would fault anyway)
            out.setdefault(w & ~1, []).append(name)
    return out


def _add(armed: Armed, table: dict[int, list[str]], source: str) -> list[int]:
    new = []
    for addr, names in table.items():
        if addr not in armed.handlers:
            armed.handlers[addr] = []
            new.append(addr)
        for n in names:
            if n not in armed.handlers[addr]:
                armed.handlers[addr].append(n)
        src = armed.sources.setdefault(addr, [])
        if source not in src:
            src.append(source)
    return new


def target_table(gdb: GdbSession) -> tuple[int | None, dict[int, list[str]]]:
    """VTOR and the handlers of the vector table the core will really use."""
    vtor = gdb.read_u32(faults.VTOR)
    if vtor is None:
        return None, {}
    words = gdb.read_words(vtor & ~0x7F, 7)
    if not words:
        return vtor, {}
    return vtor, handlers_from_table(words)


def arm(
    gdb: GdbSession, elf: ElfInfo, *, vector_catch: bool = False, armed: Armed | None = None
) -> Armed:
    """Break on every fault handler (ELF table + the target's VTOR table) and the panic entry."""
    armed = armed or Armed()
    vt = elf.vector_table()
    new = _add(armed, handlers_from_table(vt[1]) if vt else {}, "elf")
    try:
        armed.vtor, table = target_table(gdb)
    except GdbError:
        table = {}
    new += [a for a in _add(armed, table, "target") if a not in new]
    panic = elf.panic_entry()
    if panic is not None and armed.panic is None:
        armed.panic, armed.panic_symbol = panic.address, panic.name
        if panic.address not in armed.handlers:
            new.append(panic.address)
    for addr in new:
        if addr not in armed.breakpoints:
            armed.breakpoints[addr] = gdb.break_at(addr)
    armed.vector_catch = armed.vector_catch or vector_catch
    return armed


def rearm_from_target(gdb: GdbSession, armed: Armed) -> list[int]:
    """After start-up code ran (at ``main``): arm handlers of a relocated vector table."""
    vtor, table = target_table(gdb)
    new = _add(armed, table, "target")
    if vtor is not None:
        armed.vtor = vtor
    for addr in new:
        armed.breakpoints[addr] = gdb.break_at(addr)
    return new
