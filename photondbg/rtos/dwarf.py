"""What kernel awareness needs from DWARF (pyelftools): a global variable's type, a struct's
members (offset, size, type), an array's element type and length. Nothing is assumed: a
layout that is not described is reported missing, never guessed."""

from __future__ import annotations

from dataclasses import dataclass

QUALIFIERS = ("DW_TAG_typedef", "DW_TAG_volatile_type", "DW_TAG_const_type")


def name_of(die) -> str | None:
    a = die.attributes.get("DW_AT_name")
    return a.value.decode(errors="replace") if a is not None else None


def strip(die):
    """The type under typedefs and qualifiers."""
    while die is not None and die.tag in QUALIFIERS and "DW_AT_type" in die.attributes:
        die = die.get_DIE_from_attribute("DW_AT_type")
    return die


def type_of(die):
    return die.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in die.attributes else None


def size_of(typ) -> int:
    typ = strip(typ)
    if "DW_AT_byte_size" in typ.attributes:
        return typ.attributes["DW_AT_byte_size"].value
    if typ.tag == "DW_TAG_array_type":
        return array_length(typ) * size_of(type_of(typ))
    return 4  # a pointer without a byte size (DWARF 2 style) on a 32-bit target


def array_length(typ) -> int:
    count = 1
    for sub in typ.iter_children():
        if sub.tag == "DW_TAG_subrange_type":
            if "DW_AT_count" in sub.attributes:
                count *= sub.attributes["DW_AT_count"].value
            elif "DW_AT_upper_bound" in sub.attributes:
                count *= sub.attributes["DW_AT_upper_bound"].value + 1
    return count


def element_of_rows(typ) -> int | None:
    """Bytes of one row of an array whose element is itself an array (``T a[N][M]``: GCC
    writes one array type with two subranges; a typedef'd row type nests two array types),
    or None for any other type."""
    typ = strip(typ)
    if typ is None or typ.tag != "DW_TAG_array_type":
        return None
    subs = [c for c in typ.iter_children() if c.tag == "DW_TAG_subrange_type"]
    if len(subs) >= 2:
        return size_of(typ) // max(1, _count(subs[0]))
    inner = strip(type_of(typ))
    if inner is not None and inner.tag == "DW_TAG_array_type":
        return size_of(inner)
    return None


def _count(sub) -> int:
    if "DW_AT_count" in sub.attributes:
        return sub.attributes["DW_AT_count"].value
    if "DW_AT_upper_bound" in sub.attributes:
        return sub.attributes["DW_AT_upper_bound"].value + 1
    return 1


@dataclass(frozen=True)
class Member:
    offset: int
    size: int
    type: object  # the member's DIE type (qualifiers stripped)


def members(struct) -> dict[str, Member]:
    out: dict[str, Member] = {}
    for m in struct.iter_children():
        if m.tag != "DW_TAG_member" or "DW_AT_data_member_location" not in m.attributes:
            continue
        loc, name = m.attributes["DW_AT_data_member_location"].value, name_of(m)
        if isinstance(loc, int) and name:
            typ = strip(type_of(m))
            out[name] = Member(loc, size_of(typ), typ)
    return out


def pick(found: dict[str, Member], names: tuple[str, ...]) -> tuple[str, Member] | None:
    """The first of ``names`` the struct has (a member renamed across kernel versions)."""
    for n in names:
        if n in found:
            return n, found[n]
    return None


def variables(elffile, wanted: set[str]) -> dict[str, object]:
    """name -> the DIE of each global/static variable in ``wanted`` that has a complete type
    (a definition: tasks.c's own DIE, not an extern declaration elsewhere)."""
    out: dict[str, object] = {}
    for cu in elffile.get_dwarf_info().iter_CUs():
        for die in cu.get_top_DIE().iter_children():
            if die.tag != "DW_TAG_variable":
                continue
            name = name_of(die)
            if name is None and "DW_AT_specification" in die.attributes:
                name = name_of(die.get_DIE_from_attribute("DW_AT_specification"))
                spec = die.get_DIE_from_attribute("DW_AT_specification")
                die = die if "DW_AT_type" in die.attributes else spec
            if name in wanted and name not in out and _complete(die):
                out[name] = die
        if len(out) == len(wanted):
            break
    return out


def _complete(var) -> bool:
    """The variable's type reaches a struct with members (through pointers and arrays)."""
    typ = strip(type_of(var))
    for _ in range(8):
        if typ is None:
            return False
        if typ.tag in ("DW_TAG_pointer_type", "DW_TAG_array_type"):
            typ = strip(type_of(typ))
            continue
        if typ.tag == "DW_TAG_structure_type":
            return "DW_AT_declaration" not in typ.attributes
        return True
    return False
