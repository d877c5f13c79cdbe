"""C/C++ types and global variables from DWARF (pyelftools): just what a pointer walk needs.

Typedefs, const and volatile are looked through (the typedef's name is kept for display);
a declaration-only struct/class is completed from its definition in any compilation unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STRUCT_TAGS = {
    "DW_TAG_structure_type": "struct",
    "DW_TAG_class_type": "class",
    "DW_TAG_union_type": "union",
}
QUALIFIERS = (
    "DW_TAG_const_type",
    "DW_TAG_volatile_type",
    "DW_TAG_restrict_type",
    "DW_TAG_atomic_type",
    "DW_TAG_typedef",
)
POINTER_TAGS = ("DW_TAG_pointer_type", "DW_TAG_reference_type", "DW_TAG_rvalue_reference_type")
MAX_ARRAY = 4096


@dataclass(eq=False)
class CType:
    kind: str  # base | enum | pointer | struct | class | union | array | function | void
    name: str
    size: int
    target: CType | None = None  # pointee / array element
    count: int | None = None  # array elements
    members: list[tuple[str, int, CType]] = field(default_factory=list)
    encoding: str | None = None  # base types: DW_ATE_*
    _has_ptr: bool | None = None

    @property
    def is_record(self) -> bool:
        return self.kind in ("struct", "class", "union")

    @property
    def is_function_pointer(self) -> bool:
        return self.kind == "pointer" and self.target is not None and self.target.kind == "function"

    def has_pointers(self) -> bool:
        """Does a value of this type hold any pointer (worth walking)?"""
        if self._has_ptr is None:
            self._has_ptr = False  # recursion guard
            if self.kind == "pointer":
                self._has_ptr = True
            elif self.kind == "array" and self.target is not None:
                self._has_ptr = self.target.has_pointers()
            elif self.is_record:
                self._has_ptr = any(t.has_pointers() for _, _, t in self.members)
        return self._has_ptr

    def display(self) -> str:
        if self.kind == "pointer":
            return f"{self.target.display() if self.target else 'void'} *"
        if self.kind == "array":
            return f"{self.target.display() if self.target else '?'}[{self.count}]"
        return self.name


@dataclass
class Variable:
    name: str
    address: int
    type: CType


class DwarfTypes:
    """Types (by DIE offset, cached) and global/static variables of one ELF."""

    def __init__(self, elffile):
        self.dwarf = elffile.get_dwarf_info() if elffile.has_dwarf_info() else None
        self._cache: dict[int, CType] = {}
        self._defs: dict[str, object] = {}  # struct/class name -> defining DIE
        self.variables: list[Variable] = []
        self.methods: list[tuple[int, int, str, CType]] = []  # (lo, hi, name, class of this)
        if self.dwarf is not None:
            self._scan()

    def method_class(self, pc: int) -> tuple[str, CType] | None:
        """(function name, class) when ``pc`` is in a C++ member function (it has ``this``)."""
        for lo, hi, name, cls in self.methods:
            if lo <= (pc & ~1) < hi:
                return name, cls
        return None

    # -- variables ---------------------------------------------------------------------
    def _scan(self) -> None:
        pending, subprograms = [], []
        for die in self._scope_dies():
            tag = die.tag
            if tag == "DW_TAG_subprogram":
                if "DW_AT_low_pc" in die.attributes:
                    subprograms.append(die)
            elif tag in STRUCT_TAGS and "DW_AT_declaration" not in die.attributes:
                name = _attr(die, "DW_AT_name")
                if name and "DW_AT_byte_size" in die.attributes:
                    self._defs.setdefault(name, die)
            elif tag == "DW_TAG_variable" and "DW_AT_location" in die.attributes:
                addr = _static_address(die)
                if addr is not None:
                    pending.append((die, addr))
        seen = set()
        for die, addr in pending:
            decl = die
            if "DW_AT_specification" in die.attributes:
                decl = die.get_DIE_from_attribute("DW_AT_specification")
            elif "DW_AT_abstract_origin" in die.attributes:
                decl = die.get_DIE_from_attribute("DW_AT_abstract_origin")
            name = _attr(decl, "DW_AT_name") or _attr(die, "DW_AT_name")
            tdie = die if "DW_AT_type" in die.attributes else decl
            if not name or "DW_AT_type" not in tdie.attributes or addr in seen:
                continue
            seen.add(addr)
            scope = _scope_name(decl)
            full = f"{scope}::{name}" if scope else name
            self.variables.append(Variable(full, addr, self.type_of(tdie)))
        self.variables.sort(key=lambda v: v.address)
        for die in subprograms:
            self._method(die)

    def _method(self, die) -> None:
        lo = die.attributes["DW_AT_low_pc"].value
        hi_attr = die.attributes.get("DW_AT_high_pc")
        if hi_attr is None:
            return
        hi = hi_attr.value if hi_attr.form == "DW_FORM_addr" else lo + hi_attr.value
        for child in die.iter_children():
            if child.tag != "DW_TAG_formal_parameter":
                continue
            param = child
            if "DW_AT_abstract_origin" in child.attributes:
                param = child.get_DIE_from_attribute("DW_AT_abstract_origin")
            if "DW_AT_artificial" not in param.attributes or "DW_AT_type" not in param.attributes:
                return
            t = self.type_of(param)
            if t.kind == "pointer" and t.target is not None and t.target.is_record:
                decl = die
                for ref in ("DW_AT_specification", "DW_AT_abstract_origin"):
                    if ref in decl.attributes:
                        decl = decl.get_DIE_from_attribute(ref)
                        if "DW_AT_specification" in decl.attributes:
                            decl = decl.get_DIE_from_attribute("DW_AT_specification")
                name = f"{t.target.name}::{_attr(decl, 'DW_AT_name') or '?'}"
                self.methods.append((lo & ~1, hi & ~1, name, t.target))
            return

    def _scope_dies(self):
        """DIEs at file and namespace scope: the insides of functions and classes are
        skipped, which is most of the DWARF (locals, member function declarations; a class
        is parsed when a variable's type needs it). Function-local statics and types defined
        only inside a class are therefore not found by name."""
        for cu in self.dwarf.iter_CUs():
            stack = [cu.get_top_DIE()]
            while stack:
                for child in stack.pop().iter_children():
                    yield child
                    if child.tag == "DW_TAG_namespace":
                        stack.append(child)

    # -- types ---------------------------------------------------------------------------
    def type_of(self, die) -> CType:
        if "DW_AT_type" not in die.attributes:
            return CType("void", "void", 0)
        return self.type_at(die.get_DIE_from_attribute("DW_AT_type"))

    def type_at(self, die) -> CType:
        key = die.offset
        if key in self._cache:
            return self._cache[key]
        tag = die.tag
        name = _attr(die, "DW_AT_name")
        size = die.attributes["DW_AT_byte_size"].value if "DW_AT_byte_size" in die.attributes else 0
        if tag in QUALIFIERS:
            inner = self.type_of(die)
            if tag == "DW_TAG_typedef" and name and inner.kind not in ("pointer", "array"):
                t = CType(
                    inner.kind,
                    name,
                    inner.size,
                    inner.target,
                    inner.count,
                    inner.members,
                    inner.encoding,
                )
                if inner.is_record:  # share members lazily filled below
                    t = inner
                self._cache[key] = t
                return t
            self._cache[key] = inner
            return inner
        if tag in POINTER_TAGS or tag == "DW_TAG_ptr_to_member_type":
            t = CType("pointer", "", size or 4)
            self._cache[key] = t
            t.target = self.type_of(die)
            return t
        if tag == "DW_TAG_base_type":
            enc = die.attributes.get("DW_AT_encoding")
            t = CType("base", name or "?", size, encoding=_ENCODINGS.get(enc.value if enc else 0))
        elif tag == "DW_TAG_enumeration_type":
            t = CType("enum", f"enum {name}" if name else "enum", size or 4)
        elif tag in ("DW_TAG_subroutine_type", "DW_TAG_subprogram"):
            t = CType("function", name or "function", 0)
        elif tag == "DW_TAG_array_type":
            t = CType("array", "", 0)
            self._cache[key] = t
            t.target = self.type_of(die)
            dims = [_count(c) for c in die.iter_children() if c.tag == "DW_TAG_subrange_type"]
            n = 1
            for d in dims or [0]:
                n *= d if d is not None else 0
            t.count = min(n, MAX_ARRAY)
            t.size = t.count * (t.target.size if t.target else 0)
            return t
        elif tag in STRUCT_TAGS:
            if "DW_AT_declaration" in die.attributes and name in self._defs:
                t = self.type_at(self._defs[name])
                self._cache[key] = t
                return t
            t = CType(STRUCT_TAGS[tag], name or f"<anonymous {STRUCT_TAGS[tag]}>", size)
            self._cache[key] = t
            for child in die.iter_children():
                if child.tag == "DW_TAG_member" and "DW_AT_bit_size" not in child.attributes:
                    off = _member_offset(child)
                    mname = _attr(child, "DW_AT_name") or "<anonymous>"
                    if off is not None:
                        t.members.append((mname, off, self.type_of(child)))
                elif child.tag == "DW_TAG_inheritance":
                    off = _member_offset(child)
                    base = self.type_of(child)
                    if off is not None:
                        t.members.append((f"<{base.name}>", off, base))
            return t
        else:
            t = CType("void", name or "void", size)
        self._cache[key] = t
        return t


_ENCODINGS = {
    0x1: "address",
    0x2: "boolean",
    0x4: "float",
    0x5: "signed",
    0x6: "signed_char",
    0x7: "unsigned",
    0x8: "unsigned_char",
    0x10: "UTF",
}


def _attr(die, name):
    a = die.attributes.get(name)
    if a is None:
        return None
    v = a.value
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def _static_address(die) -> int | None:
    """DW_OP_addr N: a variable at a fixed address (a global or a function-local static)."""
    loc = die.attributes["DW_AT_location"]
    if loc.form not in ("DW_FORM_exprloc", "DW_FORM_block1", "DW_FORM_block"):
        return None
    expr = loc.value
    if len(expr) == 5 and expr[0] == 0x03:  # DW_OP_addr, 32-bit target
        return int.from_bytes(bytes(expr[1:5]), "little")
    return None


def _member_offset(die) -> int | None:
    a = die.attributes.get("DW_AT_data_member_location")
    if a is None:
        return 0  # union members
    if isinstance(a.value, int):
        return a.value
    expr = list(a.value)
    if expr and expr[0] == 0x23:  # DW_OP_plus_uconst ULEB128
        v, shift = 0, 0
        for b in expr[1:]:
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return v
    return None


def _count(sub) -> int | None:
    if "DW_AT_count" in sub.attributes:
        v = sub.attributes["DW_AT_count"].value
        return v if isinstance(v, int) else None
    if "DW_AT_upper_bound" in sub.attributes:
        v = sub.attributes["DW_AT_upper_bound"].value
        return v + 1 if isinstance(v, int) else None
    return None


def _scope_name(die) -> str:
    parts = []
    p = die.get_parent()
    while p is not None and p.tag != "DW_TAG_compile_unit":
        if p.tag in ("DW_TAG_namespace", *STRUCT_TAGS):
            parts.append(_attr(p, "DW_AT_name") or "(anonymous namespace)")
        elif p.tag == "DW_TAG_subprogram":
            parts.append(_attr(p, "DW_AT_name") or "?")
        p = p.get_parent()
    return "::".join(reversed(parts))
