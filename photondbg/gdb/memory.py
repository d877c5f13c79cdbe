"""Memory access over GDB/MI: chunked reads that keep what is readable and record the gaps.

:class:`MemoryAccess` is mixed into :class:`~photondbg.gdb.session.GdbSession`; it only needs
the session's ``command()`` and ``cli()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from photondbg.deadline import Deadline
from photondbg.gdb.mi import MEMORY_ERROR, GdbError, MiResult


@dataclass
class MemoryRead:
    """Bytes read from ``start``; unreadable spans are zero-filled and listed in ``gaps``."""

    start: int
    data: bytes
    gaps: list[tuple[int, int]]  # (address, length)

    @property
    def readable(self) -> int:
        return len(self.data) - sum(n for _, n in self.gaps)


class MemoryAccess:
    """The memory half of a GDB session (reads, dumps)."""

    if TYPE_CHECKING:

        def command(
            self, command: str, timeout: float | Deadline = 5.0, *, check: bool = True
        ) -> MiResult: ...

        def cli(self, text: str, timeout: float | Deadline = 5.0, *, check: bool = True) -> str: ...

    def read_chunk(
        self, address: int, length: int, timeout: float = 5.0
    ) -> list[tuple[int, bytes]]:
        """One ``-data-read-memory-bytes``: the readable blocks [(address, bytes)]."""
        try:
            res = self.command(f"-data-read-memory-bytes 0x{address:x} {length}", timeout)
        except GdbError as e:
            if MEMORY_ERROR.search(e.msg):
                return []
            raise
        blocks = []
        for blk in res.payload.get("memory", []):
            begin = int(blk["begin"], 16) + int(blk.get("offset", "0x0"), 16)
            blocks.append((begin, bytes.fromhex(blk["contents"])))
        return blocks

    def read_memory(
        self,
        address: int,
        length: int,
        *,
        chunk: int = 0x20000,
        timeout: float = 10.0,
        granule: int = 256,
    ) -> MemoryRead:
        """Read [address, address+length) in chunks, keeping what is readable.

        A chunk that does not come back whole is split in halves down to ``granule`` bytes
        (GDB's own partial answers are not trusted: on QEMU they can run one byte past the
        readable end); what still fails is recorded as a gap and zero-filled."""
        deadline = Deadline(timeout)
        buf = bytearray(length)
        have = bytearray(length)  # 1 where read

        def span(off: int, n: int) -> None:
            blocks = self.read_chunk(address + off, n, timeout=max(0.5, deadline.cap(5.0)))
            whole = len(blocks) == 1 and blocks[0][0] == address + off and len(blocks[0][1]) == n
            if whole:
                buf[off : off + n] = blocks[0][1]
                have[off : off + n] = b"\x01" * n
                return
            if not blocks and n <= granule:
                return
            if n <= granule or deadline.expired:
                for baddr, data in blocks:  # keep GDB's answer, clipped to what we asked
                    s = max(baddr - address, off)
                    e = min(baddr - address + len(data), off + n)
                    if e > s:
                        buf[s:e] = data[s - (baddr - address) : e - (baddr - address)]
                        have[s:e] = b"\x01" * (e - s)
                return
            half = max(granule, (n // 2) // granule * granule)
            span(off, half)
            span(off + half, n - half)

        off = 0
        while off < length and not deadline.expired:
            n = min(chunk, length - off)
            span(off, n)
            off += n
        return MemoryRead(address, bytes(buf), _gaps(have, address))

    def read_u32(self, address: int) -> int | None:
        blocks = self.read_chunk(address, 4)
        if blocks and len(blocks[0][1]) == 4 and blocks[0][0] == address:
            return int.from_bytes(blocks[0][1], "little")
        return None

    def read_words(self, address: int, count: int) -> list[int] | None:
        blocks = self.read_chunk(address, 4 * count)
        if len(blocks) == 1 and blocks[0][0] == address and len(blocks[0][1]) == 4 * count:
            data = blocks[0][1]
            return [int.from_bytes(data[i : i + 4], "little") for i in range(0, len(data), 4)]
        return None

    def dump_memory(
        self, path: Path, address: int, length: int, *, chunk: int = 0x20000, timeout: float = 20.0
    ) -> MemoryRead:
        """Dump [address, address+length) to ``path``: GDB's own ``dump binary memory`` per
        chunk (its full speed); a chunk GDB cannot dump whole ("Cannot access memory") is read
        with :meth:`read_memory`, which keeps the readable parts and records the gaps."""
        deadline = Deadline(timeout)
        path = Path(path)
        part = path.with_name(f".{path.name}.part")
        data = bytearray()
        gaps: list[tuple[int, int]] = []
        off = 0
        while off < length:
            n = min(chunk, length - off)
            try:
                self.dump_binary(part, address + off, n, timeout=max(1.0, deadline.cap(10.0)))
                piece = part.read_bytes()
                if len(piece) != n:
                    raise GdbError("dump", f"short dump ({len(piece)} of {n} bytes)")
            except GdbError:
                mem = self.read_memory(address + off, n, timeout=max(1.0, deadline.remaining))
                piece = mem.data
                gaps += mem.gaps
            data += piece
            off += n
        try:
            part.unlink()
        except OSError:
            pass
        path.write_bytes(bytes(data))
        return MemoryRead(address, bytes(data), _merge(gaps))

    def dump_binary(self, path: Path, address: int, length: int, timeout: float = 10.0) -> None:
        """GDB's own ``dump binary memory`` (used by the benchmark as the reference)."""
        self.cli(f"dump binary memory {path} 0x{address:x} 0x{address + length:x}", timeout)


def _merge(gaps: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, n in sorted(gaps):
        if out and out[-1][0] + out[-1][1] == a:
            out[-1] = (out[-1][0], out[-1][1] + n)
        else:
            out.append((a, n))
    return out


def _gaps(have: bytearray, address: int) -> list[tuple[int, int]]:
    gaps = []
    i, n = 0, len(have)
    while i < n:
        if have[i]:
            j = have.find(b"\x00", i)
            i = n if j < 0 else j
            continue
        j = have.find(b"\x01", i)
        j = n if j < 0 else j
        gaps.append((address + i, j - i))
        i = j
    return gaps
