"""A typed walk of the globals and of every heap object reachable from them (DWARF types).

A pointer is **dangling** when it points
- into a free heap block, or
- into an allocated block too small for its declared type (the memory was reused), or
- at an allocated block whose contents do not fit the declared type: a function pointer or a
  vtable pointer that is not into code, or a data pointer member that points nowhere valid
  (the memory was reused for something else).
Each is named by its path from a global, e.g. ``listeners[0]->clients[3]``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from photondbg.analysis.dwarf_types import CType, Variable
from photondbg.analysis.heap import Block, HeapWalk
from photondbg.analysis.memory import MemoryImage

MAX_NODES = 200_000
MAX_DEPTH = 64  # type nesting inside one object (pointer chains are walked breadth-first)
TEXT_MIN = 4
IDENTITY = {
    "port",
    "id",
    "fd",
    "sock",
    "socket",
    "handle",
    "slot",
    "index",
    "type",
    "state",
    "listener",
    "local_port",
}


@dataclass
class Dangling:
    path: str
    value: int
    slot: int  # address of the pointer itself
    type: str  # declared pointee type
    block: Block
    reason: str
    contents_hint: str
    certain: bool = True  # False: reached through a union member
    owner: dict | None = None  # the object holding the pointer: {path, type, address, fields}
    type_size: int | None = None

    def as_dict(self) -> dict:
        b = self.block.as_dict()
        b["contents_hint"] = self.contents_hint
        return {
            "path": self.path,
            "value": self.value,
            "slot": self.slot,
            "type": self.type,
            "type_size": self.type_size,
            "reason": self.reason,
            "certain": self.certain,
            "owner": self.owner,
            "block": b,
        }


@dataclass
class PointerWalk:
    dangling: list[Dangling] = field(default_factory=list)
    globals_walked: int = 0
    roots_walked: int = 0
    pointers_checked: int = 0
    heap_objects: int = 0
    truncated: bool = False
    slots: dict[int, str] = field(default_factory=dict)  # pointer slot address -> path


class Walker:
    def __init__(
        self, mem: MemoryImage, heaps: list[HeapWalk], elf, skip: set[str] | frozenset = frozenset()
    ):
        self.mem, self.heaps, self.elf, self.skip = mem, heaps, elf, skip
        self.out = PointerWalk()
        self._seen: set[tuple[int, int]] = set()
        self._nodes = 0
        self._flagged: set[int] = set()
        self._union_choices: list[str] = []

    def run(
        self, variables: list[Variable], roots: Sequence[tuple[str, int, CType]] = ()
    ) -> PointerWalk:
        """Globals first, then the objects they point to, breadth-first: each object is named
        by its shortest path from a global. ``roots`` (path, address, record type) are objects
        known otherwise (``this`` of the faulting method, held in a register), walked after
        what the globals reach."""
        self._queue: deque = deque()
        for v in variables:
            if v.name in self.skip or not v.type.has_pointers():
                continue
            self.out.globals_walked += 1
            self._visit(v.name, v.address, v.type, 0, True)
        while self._queue and not self.out.truncated:
            path, addr, t, certain = self._queue.popleft()
            self._visit(path, addr, t, 0, certain, arrow=True)
        for path, addr, t in roots:
            self.out.roots_walked += 1
            self._follow(path, addr, t, 0, True)
        while self._queue and not self.out.truncated:
            path, addr, t, certain = self._queue.popleft()
            self._visit(path, addr, t, 0, certain, arrow=True)
        return self.out

    # -- the walk ------------------------------------------------------------------------
    def _visit(
        self,
        path: str,
        addr: int,
        t: CType,
        depth: int,
        certain: bool,
        arrow: bool = False,
        owner: tuple | None = None,
    ) -> None:
        self._nodes += 1
        if self._nodes > MAX_NODES or depth > MAX_DEPTH:
            self.out.truncated = True
            return
        if t.kind == "pointer":
            self._pointer(path, addr, t, depth, certain, owner)
        elif t.kind == "array" and t.target is not None and t.target.has_pointers():
            for i in range(t.count or 0):
                self._visit(
                    f"{path}[{i}]", addr + i * t.target.size, t.target, depth, certain, owner=owner
                )
        elif t.is_record:
            owner = (path, addr, t)
            sep = "->" if arrow else "."
            live = self._live_member(addr, t) if t.kind == "union" else None
            for name, off, mt in t.members:
                if not mt.has_pointers():
                    continue
                mpath = f"{path}{sep}{name}" if not name.startswith("<") else path
                if name == live:
                    self._union_choices.append(mpath)
                self._visit(
                    mpath,
                    addr + off,
                    mt,
                    depth,
                    certain and (t.kind != "union" or name == live),
                    arrow and name.startswith("<"),
                    owner,
                )

    def _live_member(self, addr: int, t: CType) -> str | None:
        """Which member of a union of pointers is live: the one whose pointee type fits the
        block it points to best (smallest slack); None when no member or two equally fit."""
        scored = []
        for name, off, mt in t.members:
            if mt.kind != "pointer" or mt.target is None or not mt.target.is_record:
                continue
            v = self.mem.u32(addr + off)
            if not v:
                continue
            _, block = self._block(v)
            if block is None or block.state != "used" or mt.target.size > block.end - v:
                continue
            if self._misfit(v, mt.target) is None:
                scored.append((block.end - v - mt.target.size, name))
        scored.sort()
        if not scored or (len(scored) > 1 and scored[0][0] == scored[1][0]):
            return None
        return scored[0][1]

    def _pointer(
        self, path: str, slot: int, t: CType, depth: int, certain: bool, owner: tuple | None = None
    ) -> None:
        v = self.mem.u32(slot)
        if not v:
            return
        self.out.pointers_checked += 1
        self.out.slots.setdefault(slot, path)
        target = t.target
        _, block = self._block(v)
        if block is None:
            if target is not None and target.is_record and self.mem.in_ram(v, max(target.size, 1)):
                self._follow(path, v, target, depth, certain)  # a static object
            return
        if block.state == "free":
            self._flag(
                path, v, slot, target, block, "points into a free heap block", certain, owner
            )
            return
        if not certain or target is None or target.kind in ("void", "base", "function"):
            return
        if target.size and v + target.size > block.end:
            self._flag(
                path,
                v,
                slot,
                target,
                block,
                f"the block holds {block.end - v} bytes from here, a `{target.display()}` "
                f"needs {target.size}: the memory was reused",
                certain,
                owner,
            )
            return
        if target.is_record:
            bad = self._misfit(v, target)
            if bad:
                self._flag(
                    path,
                    v,
                    slot,
                    target,
                    block,
                    f"the block's contents do not fit `{target.display()}` ({bad}): "
                    "the memory was reused",
                    certain,
                    owner,
                )
                return
            if (v, id(target)) not in self._seen:
                self.out.heap_objects += 1
            self._follow(path, v, target, depth, certain)

    def _follow(self, path: str, addr: int, t: CType, depth: int, certain: bool) -> None:
        key = (addr, id(t))
        if key in self._seen or not t.has_pointers():
            return
        self._seen.add(key)
        self._queue.append((path, addr, t, certain))

    def _block(self, v: int) -> tuple[HeapWalk | None, Block | None]:
        for h in self.heaps:
            if h.in_arena(v):
                return h, h.block_at(v)
        return None, None

    # -- does a record's memory look like that record? -------------------------------------
    def _misfit(self, addr: int, t: CType, base: int = 0, depth: int = 0) -> str | None:
        if depth > 3:
            return None
        for name, off, mt in t.members:
            a = addr + off
            if mt.kind == "pointer":
                v = self.mem.u32(a)
                if not v:
                    continue
                if mt.is_function_pointer or name.startswith("_vptr"):
                    if name.startswith("_vptr"):
                        ok = self.elf.read(v, 4) is not None
                    else:
                        ok = bool(v & 1) and self.elf.in_code(v)
                    if not ok:
                        return f"`{name}` = 0x{v:08x} is not a code address"
                elif not self._plausible(v):
                    return f"`{name}` = 0x{v:08x} points to no memory"
            elif mt.is_record:
                bad = self._misfit(a, mt, base, depth + 1)
                if bad:
                    return bad
        return None

    def _plausible(self, v: int) -> bool:
        return (
            self.mem.in_ram(v)
            or self.elf.read(v, 1) is not None
            or 0x40000000 <= v < 0x60000000
            or v >= 0xE0000000
        )  # peripherals, system

    def _flag(self, path, v, slot, target, block, reason, certain, owner=None) -> None:
        if slot in self._flagged:
            return
        self._flagged.add(slot)
        hint = contents_hint(self.mem, block, v)
        if not certain:
            reason += " (reached through a union: which member is live is not known)"
        else:
            chosen = [u for u in self._union_choices if path.startswith(u)]
            if chosen:
                reason += (
                    f" (reached through union member `{chosen[-1]}`, taken as live "
                    "because its type fits the block it points to)"
                )
        self.out.dangling.append(
            Dangling(
                compact_path(path),
                v,
                slot,
                target.display() if target else "void",
                block,
                reason,
                hint,
                certain,
                self._describe(owner) if owner else None,
                type_size=target.size if target is not None and target.size else None,
            )
        )

    def _describe(self, owner: tuple) -> dict:
        """The object holding a dangling pointer, with the scalar fields that identify it."""
        path, addr, t = owner
        fields = {}
        for name, off, mt in t.members:
            if mt.kind in ("base", "enum") and mt.size in (1, 2, 4) and name.lower() in IDENTITY:
                v = self.mem.uint(addr + off, mt.size, signed=mt.encoding == "signed")
                if v is not None:
                    fields[name] = v
        return {"path": path, "type": t.name, "address": addr, "fields": fields}


def compact_path(path: str) -> str:
    """``a->next->next->next->next`` -> ``a(->next)×4``: long chains stay readable."""
    return _RUN.sub(lambda m: f"(->{m.group(1)})×{len(m.group(0)) // (len(m.group(1)) + 2)}", path)


_RUN = re.compile(r"(?:->([A-Za-z_]\w*))(?:->\1){2,}(?![\w\[])")


def contents_hint(mem: MemoryImage, block: Block, at: int | None = None) -> str:
    """What the memory at ``at`` (default: the block's start) holds now, in a few words: text
    if it starts with text, else its first words."""
    at = block.user if at is None or not block.addr <= at < block.end else at
    data = mem.read(at, min(block.end - at, 64)) or b""
    run = 0
    for b in data:
        if 0x20 <= b < 0x7F or b in (9, 10, 13):
            run += 1
        else:
            break
    if run >= TEXT_MIN:
        text = data[:run].decode("ascii").replace("\r", "\\r").replace("\n", "\\n")
        return f"text `{text[:40]}`"
    words = [int.from_bytes(data[i : i + 4], "little") for i in range(0, min(len(data), 16) - 3, 4)]
    return "words " + " ".join(f"0x{w:08x}" for w in words) if words else "unreadable"
