"""The heap walkers on synthetic RAM: corrupt links are reported, never followed, and no
arrangement of bytes makes a walker raise."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from photondbg.analysis.heap import walk_heap4, walk_newlib_nano
from photondbg.analysis.memory import MemoryImage
from photondbg.capture.elfinfo import Symbol

BASE = 0x20000000


class FakeElf:
    """Only the symbol table the walkers ask for (the RAM bytes are the test's input)."""

    def __init__(self, **syms):
        self.by_name = {n: Symbol(n, a, s) for n, (a, s) in syms.items()}

    def symbol(self, name):
        return self.by_name.get(name)

    def read(self, addr, n):
        return None


NANO = FakeElf(
    __malloc_free_list=(BASE, 4), __malloc_sbrk_start=(BASE + 4, 4), heap_brk=(BASE + 8, 4)
)


def nano_ram(chunks, free_head, brk):
    ram = bytearray(0x400)
    struct.pack_into("<III", ram, 0, free_head, BASE + 0x100, brk)
    for addr, size, link in chunks:
        struct.pack_into("<iI", ram, addr - BASE, size, link)
    return MemoryImage(BASE, bytes(ram))


def test_nano_consistent_heap():
    c = [(BASE + 0x100, 32, 0), (BASE + 0x120, 32, 0), (BASE + 0x140, 64, 0)]
    w = walk_newlib_nano(NANO, nano_ram(c, BASE + 0x120, BASE + 0x180))
    assert not w.problems
    assert [(b.addr, b.state) for b in w.blocks] == [
        (BASE + 0x100, "used"),
        (BASE + 0x120, "free"),
        (BASE + 0x140, "used"),
    ]
    assert w.block_at(BASE + 0x12C).addr == BASE + 0x120


def test_nano_free_list_loop_is_reported():
    c = [(BASE + 0x100, 32, BASE + 0x140), (BASE + 0x120, 32, 0), (BASE + 0x140, 64, BASE + 0x100)]
    w = walk_newlib_nano(NANO, nano_ram(c, BASE + 0x100, BASE + 0x180))
    assert any("out of address order" in p or "loops" in p for p in w.problems)


def test_nano_size_running_past_the_break_stops_the_walk():
    c = [(BASE + 0x100, 32, 0), (BASE + 0x120, 0x1000, 0)]
    w = walk_newlib_nano(NANO, nano_ram(c, 0, BASE + 0x180))
    assert len(w.blocks) == 1
    assert "impossible" in w.problems[0]


H4 = FakeElf(
    ucHeap=(BASE + 0x40, 0x200),
    xStart=(BASE, 8),
    pxEnd=(BASE + 8, 4),
    xFreeBytesRemaining=(BASE + 12, 4),
)


def h4_ram(blocks, first_free, free_bytes):
    ram = bytearray(0x400)
    end = BASE + 0x40 + 0x200 - 8
    struct.pack_into("<IIII", ram, 0, first_free, 0, end, free_bytes)
    for addr, size, link in blocks:
        struct.pack_into("<II", ram, addr - BASE, link, size)
    return MemoryImage(BASE, bytes(ram)), end


def test_heap4_consistent_heap_and_free_byte_count():
    end = BASE + 0x238
    blocks = [
        (BASE + 0x40, 0x80000020, 0),
        (BASE + 0x60, 0x20, BASE + 0x80),
        (BASE + 0x80, end - (BASE + 0x80), end),
    ]
    mem, _ = h4_ram(blocks, BASE + 0x60, 0x20 + end - (BASE + 0x80))
    w = walk_heap4(H4, mem)
    assert not w.problems, w.problems
    assert [b.state for b in w.blocks] == ["used", "free", "free"]
    mem, _ = h4_ram(blocks, BASE + 0x60, 12345)
    assert any("xFreeBytesRemaining" in p for p in walk_heap4(H4, mem).problems)


def test_heap4_wild_link_is_not_followed():
    end = BASE + 0x238
    blocks = [
        (BASE + 0x40, 0x80000020, 0),
        (BASE + 0x60, 0x20, 0xDEADBEEF),
        (BASE + 0x80, end - (BASE + 0x80), end),
    ]
    mem, _ = h4_ram(blocks, BASE + 0x60, 0)
    w = walk_heap4(H4, mem)
    assert any("0xdeadbeef" in p and "not followed" in p for p in w.problems)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0x400, max_size=0x400))
def test_walkers_never_raise_on_garbage(ram):
    mem = MemoryImage(BASE, ram)
    for walk, elf in ((walk_newlib_nano, NANO), (walk_heap4, H4)):
        w = walk(elf, mem)
        assert w is not None
        for b in w.blocks:
            assert b.size > 0 and w.arena[0] <= b.addr < w.arena[1]
