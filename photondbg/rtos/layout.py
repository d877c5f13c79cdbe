"""Where a FreeRTOS kernel keeps its tasks, read from the ELF: the kernel's symbols
(:data:`photondbg.cortexm.faults.FREERTOS_LISTS`, ``pxCurrentTCB``) and the DWARF types they
have. The TCB's type is ``pxCurrentTCB``'s (``TCB_t``, ``tskTCB``: whatever it is called),
``List_t`` is the element type of ``pxReadyTasksLists`` and ``ListItem_t`` the type of the
TCB's state list item; every offset and size comes from those types, so a v7 kernel
(``xGenericListItem``, ``pvContainer``) and a v10 one (``xStateListItem``, ``pxContainer``,
list integrity words, an MPU member before the list items) read alike."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from photondbg.capture.elfinfo import ElfInfo
from photondbg.cortexm import faults
from photondbg.rtos import dwarf


@dataclass(frozen=True)
class KernelList:
    symbol: str
    address: int
    state: str  # the state of a task whose state list item this list holds


@dataclass(frozen=True)
class FreeRtosLayout:
    tcb_size: int
    tcb: dict[str, tuple[int, int]]  # role (faults.FREERTOS_TCB) -> (offset, size)
    member_names: dict[str, str]  # role -> the member's name in this kernel
    item: dict[str, int]  # ListItem_t: next, owner, container -> offset
    list_count: tuple[int, int]  # List_t.uxNumberOfItems (offset, size)
    list_end: int  # offset of List_t.xListEnd
    mini_next: int  # offset of pxNext in xListEnd (a MiniListItem_t)
    list_size: int
    lists: tuple[KernelList, ...]
    current: int  # address of pxCurrentTCB
    count: int | None  # address of uxCurrentNumberOfTasks
    priorities: int  # configMAX_PRIORITIES: pxReadyTasksLists' length

    def field(self, raw: bytes, role: str) -> int | None:
        if role not in self.tcb:
            return None
        off, size = self.tcb[role]
        return int.from_bytes(raw[off : off + size], "little")

    def name(self, raw: bytes) -> str:
        off, size = self.tcb["name"]
        return raw[off : off + size].split(b"\0", 1)[0].decode("utf-8", "replace")

    def item_word(self, role: str, field: str) -> int:
        """Offset in the TCB of a list item's field (state_item/event_item, next/owner/...)."""
        return self.tcb[role][0] + self.item[field]


_CACHE: weakref.WeakKeyDictionary[ElfInfo, tuple[FreeRtosLayout | None, str]] = (
    weakref.WeakKeyDictionary()
)


def freertos_layout(elf: ElfInfo) -> tuple[FreeRtosLayout | None, str]:
    """The kernel's layout, or (None, why none) — cached per ELF."""
    if elf not in _CACHE:
        _CACHE[elf] = _read(elf)
    return _CACHE[elf]


def _read(elf: ElfInfo) -> tuple[FreeRtosLayout | None, str]:
    ready_sym, current_sym = elf.symbol("pxReadyTasksLists"), elf.symbol(faults.FREERTOS_CURRENT)
    if ready_sym is None or current_sym is None:
        return None, "no RTOS kernel known: the ELF has no pxCurrentTCB/pxReadyTasksLists symbols"
    if not elf.elf.has_dwarf_info():
        return None, "the ELF has no DWARF: the FreeRTOS task structures cannot be read"
    found = dwarf.variables(elf.elf, {faults.FREERTOS_CURRENT, "pxReadyTasksLists"})
    if len(found) < 2:
        return None, "pxCurrentTCB/pxReadyTasksLists have no complete type in the ELF's DWARF"
    tcb = dwarf.strip(dwarf.type_of(dwarf.strip(dwarf.type_of(found[faults.FREERTOS_CURRENT]))))
    ready = dwarf.strip(dwarf.type_of(found["pxReadyTasksLists"]))
    if tcb is None or tcb.tag != "DW_TAG_structure_type" or ready.tag != "DW_TAG_array_type":
        return None, "pxCurrentTCB is not a pointer to a struct, or pxReadyTasksLists no array"
    lst = dwarf.strip(dwarf.type_of(ready))
    tcb_members, list_members = dwarf.members(tcb), dwarf.members(lst)
    roles: dict[str, tuple[int, int]] = {}
    names: dict[str, str] = {}
    for role, candidates, required in faults.FREERTOS_TCB:
        hit = dwarf.pick(tcb_members, candidates)
        if hit is None:
            if required:
                return None, f"the TCB type has no {' or '.join(candidates)}"
            continue
        names[role], m = hit
        roles[role] = (m.offset, m.size)
    state_item = dwarf.pick(tcb_members, faults.FREERTOS_TCB[1][1])
    assert state_item is not None
    item_members = dwarf.members(state_item[1].type)
    item: dict[str, int] = {}
    for role, candidates in faults.FREERTOS_LIST_ITEM:
        hit = dwarf.pick(item_members, candidates)
        if hit is None:
            return None, f"ListItem_t has no {' or '.join(candidates)}"
        item[role] = hit[1].offset
    count, end = (dwarf.pick(list_members, c) for _, c in faults.FREERTOS_LIST)
    if count is None or end is None:
        return None, "List_t has no uxNumberOfItems/xListEnd"
    mini_next = dwarf.members(end[1].type).get("pxNext")
    if mini_next is None:
        return None, "List_t.xListEnd has no pxNext"
    list_size = dwarf.size_of(lst)
    lists: list[KernelList] = []
    for symbol, state in faults.FREERTOS_LISTS:
        sym = elf.symbol(symbol)
        if sym is None:
            continue  # INCLUDE_vTaskSuspend / INCLUDE_vTaskDelete off: that list does not exist
        n = dwarf.array_length(ready) if symbol == "pxReadyTasksLists" else 1
        lists += [KernelList(symbol, sym.address + i * list_size, state) for i in range(n)]
    count_sym = elf.symbol(faults.FREERTOS_COUNT)
    return (
        FreeRtosLayout(
            tcb_size=dwarf.size_of(tcb),
            tcb=roles,
            member_names=names,
            item=item,
            list_count=(count[1].offset, count[1].size),
            list_end=end[1].offset,
            mini_next=mini_next.offset,
            list_size=list_size,
            lists=tuple(lists),
            current=current_sym.address,
            count=count_sym.address if count_sym else None,
            priorities=dwarf.array_length(ready),
        ),
        "",
    )
