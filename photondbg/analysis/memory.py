"""The memory a capture holds: the RAM dump (with its unreadable gaps) plus the ELF's
read-only sections. Reads never invent bytes: what was not captured reads as ``None``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from photondbg.errors import UsageError


class _Readable(Protocol):
    def read(self, address: int, length: int) -> bytes | None: ...


@dataclass
class MemoryImage:
    base: int
    data: bytes
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (address, length) unreadable
    elf: _Readable | None = None  # an ElfInfo: flash contents for addresses outside the dump

    @property
    def end(self) -> int:
        return self.base + len(self.data)

    def in_ram(self, addr: int, length: int = 1) -> bool:
        """Inside the dump and readable."""
        if not (self.base <= addr and addr + length <= self.end):
            return False
        return not any(a < addr + length and addr < a + n for a, n in self.gaps)

    def read(self, addr: int, length: int) -> bytes | None:
        if length < 0:
            return None
        if self.in_ram(addr, length):
            return self.data[addr - self.base : addr - self.base + length]
        if self.elf is not None:
            return self.elf.read(addr, length)
        return None

    def u32(self, addr: int) -> int | None:
        b = self.read(addr, 4)
        return None if b is None else int.from_bytes(b, "little")

    def uint(self, addr: int, size: int, signed: bool = False) -> int | None:
        b = self.read(addr, size)
        return None if b is None else int.from_bytes(b, "little", signed=signed)


def load_capture_ram(capdir: Path, report: dict | None = None, elf=None) -> MemoryImage:
    """The RAM image of a capture directory (``ram.bin`` + the gaps report.json lists).
    Bad input raises UsageError with one line."""
    capdir = Path(capdir)
    if report is None:
        path = capdir / "report.json"
        try:
            report = json.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"{capdir}: no report.json (not a capture directory)") from None
        except (OSError, ValueError) as e:
            raise UsageError(f"{path}: unreadable report ({e})") from None
    info = ((report.get("dumps") or {}).get("ram")) if isinstance(report, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get("address"), int):
        raise UsageError(f"{capdir}: the report lists no RAM dump (dumps.ram)")
    name = (report.get("artifacts") or {}).get("ram.bin", "ram.bin")
    try:
        data = (capdir / name).read_bytes()
    except OSError as e:
        raise UsageError(f"{capdir / name}: cannot read the RAM dump ({e.strerror})") from None
    length = info.get("length")
    if not isinstance(length, int) or len(data) != length:
        raise UsageError(
            f"{capdir / name}: {len(data)} bytes, the report says {length} "
            "(truncated or not this capture's dump)"
        )
    gaps = []
    for g in info.get("gaps") or []:
        try:
            gaps.append((int(g["address"]), int(g["length"])))
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"{capdir}: malformed gap entry in dumps.ram: {g!r}") from None
    return MemoryImage(info["address"], data, gaps, elf)
