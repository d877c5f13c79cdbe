"""A capture directory as a replayable machine state: the registers at the stop and a memory map
built only from what was captured (ram.bin and stack.bin minus their recorded gaps, the SCB fault
registers read at the fault) plus the firmware's read-only load segments from its ELF (flash).

Nothing is invented: an address no source covers is not readable. Writable ELF segments are
served only at their load address in flash (the initial copy of ``.data``), never at their RAM
address, where only the RAM dump tells the truth.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from photondbg.capture.model import CaptureReport, Section
from photondbg.cortexm import faults
from photondbg.errors import UsageError
from photondbg.replay.reproduce import ELF_COPY

SCHEMA = "photondbg.capture/1"
PF_W = 0x2


@dataclass(frozen=True)
class Segment:
    address: int
    data: bytes = field(repr=False)
    source: str

    @property
    def end(self) -> int:
        return self.address + len(self.data)


class MemoryMap:
    """Non-overlapping captured segments, sorted; the first source added wins an overlap."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self._starts: list[int] = []

    def add(self, address: int, data: bytes, source: str) -> None:
        """Add the parts of [address, address+len) that no earlier segment covers."""
        pieces = [(address, address + len(data))]
        for seg in self.segments:
            nxt = []
            for lo, hi in pieces:
                if hi <= seg.address or lo >= seg.end:
                    nxt.append((lo, hi))
                    continue
                if lo < seg.address:
                    nxt.append((lo, seg.address))
                if hi > seg.end:
                    nxt.append((seg.end, hi))
            pieces = nxt
        for lo, hi in pieces:
            if hi > lo:
                self.segments.append(Segment(lo, data[lo - address : hi - address], source))
        self.segments.sort(key=lambda s: s.address)
        self._starts = [s.address for s in self.segments]

    def read(self, address: int, length: int) -> bytes:
        """The captured bytes from ``address`` on, at most ``length``; shorter (possibly empty)
        where the capture stops covering the range."""
        out = bytearray()
        addr = address
        while len(out) < length:
            i = bisect.bisect_right(self._starts, addr) - 1
            if i < 0 or addr >= self.segments[i].end:
                break
            seg = self.segments[i]
            take = min(length - len(out), seg.end - addr)
            out += seg.data[addr - seg.address : addr - seg.address + take]
            addr += take
        return bytes(out)

    def regions(self) -> list[tuple[int, int, str]]:
        """(address, length, source) of every segment, adjacent same-source ones merged."""
        out: list[list] = []
        for s in self.segments:
            if out and out[-1][2] == s.source and out[-1][0] + out[-1][1] == s.address:
                out[-1][1] += len(s.data)
            else:
                out.append([s.address, len(s.data), s.source])
        return [tuple(r) for r in out]


@dataclass
class Thread:
    id: int  # RSP thread id (1: the stopped context)
    name: str
    registers: dict[str, int | None]


@dataclass
class CaptureImage:
    capdir: Path
    report: dict
    registers: dict[str, int | None]
    state: str  # "fault" | "panic" | "lockup": whose registers these are
    memory: MemoryMap
    elf: Path
    signal: int  # for the stop reply: SIGSEGV for a fault, SIGABRT for panic/lock-up
    threads: list[Thread] = field(default_factory=list)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_report(capdir: Path | str) -> tuple[Path, dict]:
    """(capture dir, report.json) with the checks every reader of a capture needs."""
    capdir = Path(capdir)
    if not capdir.exists():
        raise UsageError(f"capture directory not found: {capdir}")
    if not capdir.is_dir():
        raise UsageError(f"not a capture directory: {capdir}")
    path = capdir / "report.json"
    if not path.is_file():
        raise UsageError(f"{capdir} has no report.json: not a photondbg capture")
    try:
        report = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"{path} is not readable JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        got = report.get("schema") if isinstance(report, dict) else type(report).__name__
        raise UsageError(f"{path} is not a {SCHEMA} report (schema {got!r})")
    if not isinstance(report.get("target"), dict):
        raise UsageError(f"{path} has no target section")
    return capdir, report


def typed(report: dict) -> CaptureReport:
    """The typed report (Contract B); a section of the wrong shape is bad input."""
    try:
        model = CaptureReport.from_dict(report)
    except (TypeError, ValueError) as e:
        raise UsageError(f"report.json does not fit {SCHEMA}: {e}") from None
    for name in CaptureReport.NESTED:  # the model keeps a section of the wrong shape as is
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        if value is not None and not all(isinstance(v, Section) for v in items):
            raise UsageError(
                f"report.json does not fit {SCHEMA}: {name!r} is not an object "
                f"(or a list of objects)"
            )
    return model


def find_elf(capdir: Path, report: dict, override: Path | str | None = None) -> Path | None:
    """The ELF to use: ``override``, else the copy inside the capture, else the recorded path."""
    if override is not None:
        return Path(override)
    copy = (report.get("reproduce") or {}).get("elf_copy") or ELF_COPY
    if (capdir / copy).is_file():
        return capdir / copy
    recorded = report["target"].get("elf")
    return Path(recorded) if recorded else None


def check_elf(capdir: Path, report: dict, override: Path | str | None = None) -> tuple[Path, bool]:
    """(ELF path, matches the capture's sha256). UsageError when there is no ELF at hand."""
    elf = find_elf(capdir, report, override)
    if elf is None:
        raise UsageError(f"{capdir}: the capture names no ELF; give one with --elf")
    if not elf.is_file():
        raise UsageError(f"ELF not found: {elf} (give the firmware with --elf)")
    want = report["target"].get("elf_sha256")
    return elf, bool(want) and sha256_of(elf) == want


def _state(model: CaptureReport) -> tuple[str, dict, int]:
    for key, sig in (("fault", 11), ("panic", 6), ("lockup", 6)):
        sec = getattr(model, key)
        if sec is not None and isinstance(sec.registers, dict) and "pc" in sec.registers:
            return key, sec.registers, sig
    raise UsageError(f"nothing to replay: the capture has no registers (outcome {model.outcome!r})")


def _dump(capdir: Path, report: dict, name: str, file: str) -> tuple[int, bytes, list] | None:
    info = (report.get("dumps") or {}).get(name)
    if not info:
        return None
    rel = (report.get("artifacts") or {}).get(file, file)
    path = capdir / rel
    if not path.is_file():
        raise UsageError(f"{capdir}: {rel} is missing (report.json lists a {name} dump)")
    data = path.read_bytes()
    try:
        address, length = int(info["address"]), int(info["length"])
        gaps = [(int(g["address"]), int(g["length"])) for g in info.get("gaps") or []]
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"{capdir}: report.json dumps.{name} is malformed") from None
    if len(data) != length:
        raise UsageError(f"{capdir}: {rel} holds {len(data)} bytes, report.json says {length}")
    return address, data, gaps


def _add_without_gaps(mem: MemoryMap, address: int, data: bytes, gaps: list, source: str) -> None:
    pos = address
    for g_addr, g_len in sorted(gaps):
        if g_addr > pos:
            mem.add(pos, data[pos - address : g_addr - address], source)
        pos = max(pos, g_addr + g_len)
    if pos < address + len(data):
        mem.add(pos, data[pos - address :], source)


def _elf_segments(mem: MemoryMap, elf: Path, ram: tuple[int, int] | None) -> None:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with open(elf, "rb") as f:
            ef = ELFFile(f)
            for seg in ef.iter_segments():
                if seg["p_type"] != "PT_LOAD" or seg["p_filesz"] == 0:
                    continue
                data = seg.data()[: seg["p_filesz"]]
                if seg["p_flags"] & PF_W:
                    if seg["p_paddr"] == seg["p_vaddr"]:
                        continue  # initial values of RAM: not the state at the fault
                    address = seg["p_paddr"]  # the flash copy the startup code reads
                else:
                    address = seg["p_vaddr"]
                if ram and ram[0] <= address < ram[0] + ram[1]:
                    continue  # RAM is what the dump says, not what the ELF loaded
                mem.add(address, data, "elf")
    except (ELFError, OSError) as e:
        raise UsageError(f"{elf} is not a readable ELF ({e})") from None


def _scb(report: dict, section: object) -> bytes | None:
    scb = section.get("scb") if isinstance(section, dict) else None
    if not isinstance(scb, dict):
        return None
    words = []
    for name, _ in faults.SCB_REGISTERS:
        if name not in scb:
            return None
        words.append(int(scb[name]) & 0xFFFFFFFF)
    return b"".join(w.to_bytes(4, "little") for w in words)


def captured_memory(capdir: Path, report: dict) -> tuple[MemoryMap, tuple[int, int] | None]:
    """RAM and stack dumps without their gaps; and the (address, length) the RAM dump spans."""
    mem = MemoryMap()
    ram = None
    for name, file in (("ram", "ram.bin"), ("stack", "stack.bin")):
        d = _dump(Path(capdir), report, name, file)
        if d is None:
            continue
        if name == "ram":
            ram = (d[0], len(d[1]))
        _add_without_gaps(mem, d[0], d[1], d[2], name)
    return mem, ram


def load(capdir: Path | str, elf: Path | str | None = None) -> CaptureImage:
    capdir, report = load_report(capdir)
    model = typed(report)
    state, regs, sig = _state(model)
    elf_path, matches = check_elf(capdir, report, elf)
    if not matches:
        raise UsageError(
            f"{elf_path} does not match the capture (sha256 differs); "
            f"give the captured firmware with --elf"
        )
    mem, ram = captured_memory(capdir, report)
    scb = _scb(report, report.get("fault"))
    if scb is not None:
        mem.add(faults.SCB_REGISTERS[0][1], scb, "scb")
    _elf_segments(mem, elf_path, ram)
    values: dict[str, int | None] = {
        k: (int(v) if v is not None else None) for k, v in regs.items()
    }
    values.update(_stack_pointers(model, state, values))
    return CaptureImage(
        capdir, report, values, state, mem, elf_path, sig, _threads(model, values, mem)
    )


class _Words:
    """The word-reader view of a :class:`MemoryMap` that the capture's thread code reads."""

    def __init__(self, mem: MemoryMap):
        self.mem = mem

    def read(self, addr: int, length: int) -> bytes | None:
        data = self.mem.read(addr, length)
        return data if len(data) == length else None

    def word(self, addr: int) -> int | None:
        b = self.read(addr, 4)
        return None if b is None else int.from_bytes(b, "little")


def _threads(model: CaptureReport, regs: dict, mem: MemoryMap) -> list[Thread]:
    """Thread 1 is the stopped context (the fault handler, which unwinds into the running
    thread); every other thread the capture listed gets the registers its context switch saved
    on its stack (``saved_sp``), read from the captured RAM, never guessed."""
    from photondbg.rtos.context import saved_context

    port = (model.rtos.port if model.rtos else None) or "ARM_CM3"

    listed = [t.to_dict() for t in model.threads or [] if hasattr(t, "to_dict")]
    current = next((t for t in listed if t.get("current")), None)
    name = (
        f"{current.get('name')} (at the {model.outcome})" if current else f"at the {model.outcome}"
    )
    out = [Thread(1, name, regs)]
    for t in listed:
        if t is current or t.get("saved_sp") is None:
            continue
        ctx = saved_context(_Words(mem), int(t["saved_sp"]), port)
        if ctx is None:
            continue
        values: dict[str, int | None] = {
            k: ctx.get(k) for k in [f"r{i}" for i in range(13)] + ["sp", "lr", "pc", "xpsr"]
        }
        values["msp"], values["psp"] = regs.get("msp"), ctx["sp"]  # thread mode runs on PSP
        out.append(Thread(len(out) + 1, f"{t.get('name')} ({t.get('state')})", values))
    return out


def _stack_pointers(model: CaptureReport, state: str, regs: dict) -> dict[str, int | None]:
    """MSP and PSP: what the capture measured (``fault.stack_pointers``), else what the
    architecture implies — in handler mode SP is MSP; the frame of a PSP fault is at PSP."""
    sec = getattr(model, state)
    sp = getattr(sec, "stack_pointers", None)
    out: dict[str, int | None] = {"msp": None, "psp": None}
    if sp is not None:
        out["msp"], out["psp"] = sp.msp, sp.psp
    ipsr = faults.exception_number(regs.get("xpsr") or 0)
    if out["msp"] is None and ipsr and regs.get("sp") is not None:
        out["msp"] = regs["sp"]
    if (
        out["psp"] is None
        and state == "fault"
        and sec.stack == "psp"
        and sec.stack_pointer is not None
    ):
        out["psp"] = int(sec.stack_pointer)
    return out
