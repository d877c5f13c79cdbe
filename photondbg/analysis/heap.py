"""Heap walkers over a RAM image: newlib-nano malloc and FreeRTOS heap_4, found by their symbols.

Layouts, as read in the allocators' sources (our own code, facts only):

newlib-nano (``newlib/libc/stdlib/nano-mallocr.c``, what ``--specs=nano.specs`` and Device OS
0.6.x link): a chunk is ``{long size; chunk *next;}``; ``size`` counts the whole chunk, header
included; the user area starts at ``chunk + 4`` rounded up to 8 (when rounded, the word before
the user area holds the negative offset). Free chunks are on one list, ``__malloc_free_list``,
sorted by address and coalesced; ``free()`` writes the link into the first word after ``size``,
i.e. into the freed object. Chunks tile the arena from ``__malloc_sbrk_start`` up to the
program break; ``malloc`` splits a free chunk and hands out its high end.

FreeRTOS heap_4 (``portable/MemMang/heap_4.c``): the arena is ``ucHeap`` (start rounded up to
``portBYTE_ALIGNMENT``, 8); a block is ``BlockLink_t {next; size}`` (8 bytes) before the user
area; the top bit of ``size`` (``xBlockAllocatedBit``) marks it allocated and allocated blocks
have ``next == NULL``; free blocks are on a list from ``xStart`` sorted by address and ending at
``pxEnd``, an end marker at the top of the arena; ``xFreeBytesRemaining`` is the sum of the free
blocks.

A walker never follows a link it has not checked: a bad size or link ends that walk and is
reported as a problem (``corrupt``).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from photondbg.analysis.memory import MemoryImage

MAX_BLOCKS = 20000


@dataclass
class Block:
    addr: int  # chunk / block header address
    size: int  # whole block, header included
    user: int  # first byte handed to the program
    state: str  # "used" | "free"

    @property
    def end(self) -> int:
        return self.addr + self.size

    @property
    def user_size(self) -> int:
        return self.end - self.user

    def as_dict(self) -> dict:
        return {
            "addr": self.user,
            "size": self.user_size,
            "state": self.state,
            "chunk": self.addr,
            "chunk_size": self.size,
        }


@dataclass
class HeapWalk:
    allocator: str  # "newlib-nano" | "heap_4"
    arena: tuple[int, int] | None  # [lo, hi) as far as known
    end_source: str = ""  # how the arena's end was found
    blocks: list[Block] = field(default_factory=list)
    free_list: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    variables: tuple[str, ...] = ()  # the allocator's own globals (not program pointers)

    @property
    def corrupt(self) -> bool:
        return bool(self.problems)

    def block_at(self, addr: int) -> Block | None:
        """The block whose chunk contains ``addr`` (header or user area)."""
        if not hasattr(self, "_starts") or len(self._starts) != len(self.blocks):
            self._starts: list[int] = [b.addr for b in self.blocks]
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.blocks[i].end:
            return self.blocks[i]
        return None

    def in_arena(self, addr: int) -> bool:
        return self.arena is not None and self.arena[0] <= addr < self.arena[1]

    def summary(self) -> dict:
        used = [b for b in self.blocks if b.state == "used"]
        free = [b for b in self.blocks if b.state == "free"]
        return {
            "allocator": self.allocator,
            "arena": list(self.arena) if self.arena else None,
            "end_source": self.end_source,
            "blocks": len(self.blocks),
            "used": len(used),
            "free": len(free),
            "used_bytes": sum(b.size for b in used),
            "free_bytes": sum(b.size for b in free),
            "free_list": len(self.free_list),
            "corrupt": self.corrupt,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def _sym(elf, *names):
    for n in names:
        s = elf.symbol(n)
        if s is not None:
            return s
    return None


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


# -- newlib-nano ----------------------------------------------------------------------------
NANO_HEADER = 4  # offsetof(chunk, next)
NANO_MIN = 8  # sizeof(chunk)
NANO_ALIGN = 8  # MALLOC_ALIGN
BREAK_NAMES = (
    "heap_brk",
    "brk_",
    "__heap_brk",
    "heap_end",
    "__brkval",
    "sbrk_heap_end",
    "_ZZ5_sbrkE8heap_end",
    "_ZZ5_sbrkiE8heap_end",
)
HEAP_LIMIT_NAMES = ("__heap_end__", "_heap_end", "__HeapLimit", "link_heap_location_end", "_estack")


def _break_symbol(elf):
    s = _sym(elf, *BREAK_NAMES)
    if s is not None:
        return s
    for name, sym in getattr(elf, "by_name", {}).items():  # function-local statics
        if re.fullmatch(r"heap_end(\.\d+)?", name) and sym.size == 4:
            return sym
    return None


def walk_newlib_nano(elf, mem: MemoryImage) -> HeapWalk | None:
    head_sym = _sym(elf, "__malloc_free_list")
    start_sym = _sym(elf, "__malloc_sbrk_start")
    if head_sym is None or start_sym is None:
        return None
    w = HeapWalk("newlib-nano", None, variables=("__malloc_free_list", "__malloc_sbrk_start"))
    start = mem.u32(start_sym.address)
    head = mem.u32(head_sym.address)
    if start is None or head is None:
        w.problems.append("the allocator's variables are not in the captured RAM")
        return w
    if start == 0:
        w.notes.append("malloc was never called (__malloc_sbrk_start is NULL)")
        return w
    if not mem.in_ram(start, 4):
        w.problems.append(f"__malloc_sbrk_start 0x{start:08x} is outside the captured RAM")
        return w
    brk, limit_src = None, ""
    bsym = _break_symbol(elf)
    if bsym is not None:
        v = mem.u32(bsym.address)
        if v is not None and start <= v <= mem.end:
            brk, limit_src = v, f"program break from `{bsym.name}`"
        elif v is not None:
            w.problems.append(f"program break `{bsym.name}` = 0x{v:08x} is outside the heap")
    hard = _sym(elf, *HEAP_LIMIT_NAMES)
    limit = brk if brk is not None else min(mem.end, hard.address if hard else mem.end)
    if brk is None:
        limit_src = "no program-break symbol: the walk ends at the first empty chunk"
    w.end_source = limit_src
    free_set = _nano_free_list(w, mem, head, start, limit)
    addr, n = start, 0
    while addr < limit and n < MAX_BLOCKS:
        size = mem.u32(addr)
        if size is None:
            w.problems.append(f"chunk at 0x{addr:08x}: not captured (RAM gap)")
            break
        size = _s32(size)
        if brk is None and size == 0:
            break
        if size < NANO_MIN or size % 4 or addr + size > limit:
            w.problems.append(
                f"chunk at 0x{addr:08x}: size {size} (0x{size & 0xFFFFFFFF:x}) "
                f"is impossible (min {NANO_MIN}, multiple of 4, heap ends "
                f"0x{limit:08x}); the chunks after it are not walked"
            )
            break
        state = "free" if addr in free_set else "used"
        # the address malloc handed out (free chunks keep their link at chunk + 4)
        w.blocks.append(Block(addr, size, _align(addr + NANO_HEADER, NANO_ALIGN), state))
        addr += size
        n += 1
    w.arena = (start, addr if brk is None or w.problems else limit)
    tiles = {b.addr for b in w.blocks}
    for f in free_set:
        if f not in tiles and (not w.blocks or f < w.blocks[-1].end):
            w.problems.append(f"free-list chunk 0x{f:08x} is not on a chunk boundary")
    return w


def _nano_free_list(w: HeapWalk, mem: MemoryImage, head: int, lo: int, hi: int) -> set[int]:
    seen: set[int] = set()
    p: int | None = head
    prev: int | None = None
    where = "__malloc_free_list"
    while p:
        if not (lo <= p < hi) or p % 4 or not mem.in_ram(p, 8):
            w.problems.append(
                f"free-list link in {where} = 0x{p:08x} points outside the heap "
                f"[0x{lo:08x}, 0x{hi:08x}) or is misaligned; not followed"
            )
            break
        if p in seen:
            w.problems.append(f"free list loops back to 0x{p:08x}")
            break
        if prev is not None and p <= prev:
            w.problems.append(f"free list out of address order: 0x{prev:08x} -> 0x{p:08x}")
            break
        raw = mem.u32(p)
        assert raw is not None  # in_ram(p, 8) above
        size = _s32(raw)
        if size < NANO_MIN or size % 4 or p + size > hi:
            w.problems.append(f"free chunk 0x{p:08x}: size {size} is impossible")
            break
        nxt = mem.u32(p + NANO_HEADER)
        if nxt and p + size == nxt:
            w.notes.append(f"free chunks 0x{p:08x} and 0x{nxt:08x} touch (not coalesced)")
        seen.add(p)
        w.free_list.append(p)
        prev, where, p = p, f"free chunk 0x{p:08x}", nxt
    return seen


# -- FreeRTOS heap_4 -----------------------------------------------------------------------
H4_HEADER = 8
H4_ALIGN = 8


# heap_4's variables (portable/MemMang/heap_4.c)
HEAP4_NAMES = (("ucHeap", "xStart", "pxEnd", "xFreeBytesRemaining", "heap_4"),)


def walk_heap4(elf, mem: MemoryImage) -> HeapWalk | None:
    for heap_name, start_name, end_name, free_name, label in HEAP4_NAMES:
        heap, start_sym, end_sym = (
            _sym(elf, heap_name),
            _sym(elf, start_name),
            _sym(elf, end_name),
        )
        if heap is not None and start_sym is not None and end_sym is not None:
            break
    else:
        return None
    w = HeapWalk(label, None, variables=(heap_name, start_name, end_name, free_name))
    bit_sym = _sym(elf, "xBlockAllocatedBit")
    bit = mem.u32(bit_sym.address) if bit_sym else None
    if not bit:
        bit = 1 << 31
    pxend = mem.u32(end_sym.address)
    if pxend is None:
        w.problems.append("heap_4's variables are not in the captured RAM")
        return w
    if pxend == 0:
        w.notes.append("the heap was never initialised (pxEnd is NULL)")
        return w
    lo = _align(heap.address, H4_ALIGN)
    hi_max = heap.address + (heap.size or (mem.end - heap.address))
    if not (lo < pxend <= hi_max - H4_HEADER) or pxend % H4_ALIGN:
        w.problems.append(
            f"pxEnd 0x{pxend:08x} is not at the top of ucHeap "
            f"[0x{heap.address:08x}, 0x{hi_max:08x})"
        )
        return w
    w.arena, w.end_source = (lo, pxend), "pxEnd (heap_4's end marker)"
    free_set = _heap4_free_list(w, mem, start_sym.address, lo, pxend, bit)
    addr, n = lo, 0
    while addr < pxend and n < MAX_BLOCKS:
        nxt, raw = mem.u32(addr), mem.u32(addr + 4)
        if raw is None:
            w.problems.append(f"block at 0x{addr:08x}: not captured (RAM gap)")
            break
        size, used = raw & ~bit & 0xFFFFFFFF, bool(raw & bit)
        if size < 2 * H4_HEADER or size % H4_ALIGN or addr + size > pxend:
            w.problems.append(
                f"block at 0x{addr:08x}: size 0x{raw:08x} is impossible "
                f"(min {2 * H4_HEADER}, multiple of {H4_ALIGN}, arena ends "
                f"0x{pxend:08x}); the blocks after it are not walked"
            )
            break
        if used and nxt:
            w.problems.append(f"allocated block 0x{addr:08x} has a free-list link 0x{nxt:08x}")
        if not used and addr not in free_set:
            w.problems.append(f"block 0x{addr:08x} is marked free but is not on the free list")
        if used and addr in free_set:
            w.problems.append(f"block 0x{addr:08x} is on the free list but marked allocated")
        w.blocks.append(Block(addr, size, addr + H4_HEADER, "used" if used else "free"))
        addr += size
        n += 1
    free_bytes = sum(b.size for b in w.blocks if b.state == "free")
    fb_sym = _sym(elf, free_name)
    fb = mem.u32(fb_sym.address) if fb_sym else None
    if fb is not None and not w.problems and fb != free_bytes:
        w.problems.append(
            f"xFreeBytesRemaining says {fb} bytes free, the blocks add up to {free_bytes}"
        )
    return w


def _heap4_free_list(
    w: HeapWalk, mem: MemoryImage, xstart: int, lo: int, hi: int, bit: int
) -> set[int]:
    seen: set[int] = set()
    p, prev, where = mem.u32(xstart), None, "xStart"
    while p != hi:
        if p is None or not (lo <= p < hi) or p % H4_ALIGN:
            shown = "unreadable" if p is None else f"0x{p:08x}"
            w.problems.append(
                f"free-list link in {where} = {shown} points outside the heap "
                f"[0x{lo:08x}, 0x{hi:08x}] or is misaligned; not followed"
            )
            break
        if p in seen:
            w.problems.append(f"free list loops back to 0x{p:08x}")
            break
        if prev is not None and p <= prev:
            w.problems.append(f"free list out of address order: 0x{prev:08x} -> 0x{p:08x}")
            break
        seen.add(p)
        w.free_list.append(p)
        prev, where, p = p, f"free block 0x{p:08x}", mem.u32(p)
    return seen


def _align(v: int, a: int) -> int:
    return (v + a - 1) & ~(a - 1)


WALKERS = (walk_newlib_nano, walk_heap4)


def find_heaps(elf, mem: MemoryImage) -> list[HeapWalk]:
    """Every allocator the ELF links (by its symbols), walked over ``mem``."""
    return [w for w in (walk(elf, mem) for walk in WALKERS) if w is not None]
