"""The MPU of a halted core: MPU_TYPE, MPU_CTRL and every region (:func:`read_mpu`), read by the
debugger (MPU_RNR written per region, then put back) or, where it cannot write MPU_RNR, by the
core itself (:func:`read_regions`).

QEMU 7.2's gdbstub drops every debugger write to the System Control Space (measured: MPU_RNR and
MPU_CTRL read back unchanged), so only the region the firmware selected last is visible through
it. The core can select them: :data:`photondbg.cortexm.mpu.REGION_READ_STUB` is written in
place of the halted code (executable under the firmware's own MPU, unlike RAM that may be a
guard) and single-stepped once per region, each pass ending back at the halted PC, the last one
putting the firmware's MPU_RNR back. Each pass is one ``stepi 4`` (one stop reported, half the
time of four single steps). Then the code bytes and r0-r3, r12 are written back and
every register, the code and MPU_RNR read again to check that they are identical, as the MRS
stub of :mod:`photondbg.capture.stackptr` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from photondbg.capture import stackptr
from photondbg.capture.stackptr import StubFailed, _read_exact, write_memory, write_registers
from photondbg.cortexm import mpu
from photondbg.errors import PhotondbgError
from photondbg.gdb.session import GdbSession

USED = ("r0", "r1", "r2", "r3", "r12")


def read_regions(
    gdb: GdbSession, regs: dict[str, int], count: int
) -> tuple[list[mpu.Region], bool, str]:
    """(regions 0..count-1, restored, why not) read by stepping the region stub in place."""
    stackptr.steppable(regs)
    rnr = gdb.read_u32(mpu.MPU_RNR)
    if rnr is None:
        raise StubFailed("MPU_RNR not readable")
    pc = regs["pc"] & ~1
    code = b"".join(enc for enc, _ in mpu.REGION_READ_STUB)
    saved = _read_exact(gdb, pc, len(code))
    regions: list[mpu.Region] = []
    try:
        write_memory(gdb, pc, code)
        for n in [*range(count), rnr]:  # the last pass selects the firmware's region again
            write_registers(gdb, {"r0": mpu.MPU_RNR, "r1": n, "r12": pc | 1})
            # one `stepi 4` (bx r12 leaves r2, r3 alone)
            stackptr.step(gdb, len(mpu.REGION_READ_STUB), expect=pc, what="the region stub")
            got = gdb.registers(only=["r2", "r3"])
            if n < count and n == len(regions):
                regions.append(mpu.Region(n, got["r2"], got["r3"]))
    finally:
        restored, why = _restore(gdb, pc, saved, regs, rnr)
    return regions, restored, why


def _restore(
    gdb: GdbSession, pc: int, saved: bytes, regs: dict[str, int], rnr: int
) -> tuple[bool, str]:
    restored, why = stackptr.restore(gdb, pc, saved, regs, USED)
    if restored and gdb.read_u32(mpu.MPU_RNR) != rnr:
        return False, "MPU_RNR differs"
    return restored, why


class MpuReader(Protocol):
    def read_u32(self, address: int) -> int | None: ...

    def write_u32(self, address: int, value: int) -> None: ...


class GdbWords:
    """Word reads and writes of the halted core through a GDB session (MI)."""

    def __init__(self, gdb: GdbSession):
        self.gdb = gdb

    def read_u32(self, address: int) -> int | None:
        return self.gdb.read_u32(address)

    def write_u32(self, address: int, value: int) -> None:
        data = (value & 0xFFFFFFFF).to_bytes(4, "little").hex()
        self.gdb.command(f"-data-write-memory-bytes 0x{address:x} {data}", 5.0)


CoreSelect = Callable[[int], tuple[list[mpu.Region], bool, str]]


def read_mpu(gdb: MpuReader, core_select: CoreSelect | None = None) -> dict:
    """MPU_TYPE/CTRL and every region (RNR written per region, then put back). When the
    debugger cannot write MPU_RNR, ``core_select(count)`` has the core select them
    (:mod:`photondbg.capture.mpuread`); without it only the selected region is shown."""
    out: dict = {"present": False, "regions": []}
    mtype = gdb.read_u32(mpu.MPU_TYPE)
    if mtype is None:
        out["error"] = "MPU_TYPE not readable"
        return out
    count = mpu.regions_count(mtype)
    out["region_count"] = count
    if count == 0:
        return out
    out["present"] = True
    ctrl = gdb.read_u32(mpu.MPU_CTRL) or 0
    out["ctrl"] = ctrl
    out.update({k.lower(): v for k, v in mpu.ctrl_flags(ctrl).items()})
    rnr = gdb.read_u32(mpu.MPU_RNR)
    regions: list[mpu.Region] = []
    try:
        for n in range(count):
            gdb.write_u32(mpu.MPU_RNR, n)
            if gdb.read_u32(mpu.MPU_RNR) != n:  # QEMU's gdbstub drops writes to the SCS
                regions = []
                break
            rbar, rasr = gdb.read_u32(mpu.MPU_RBAR), gdb.read_u32(mpu.MPU_RASR)
            if rbar is None or rasr is None:
                out["error"] = f"region {n} not readable"
                break
            regions.append(mpu.Region(n, rbar, rasr))
    except PhotondbgError as e:
        out["error"] = f"MPU regions not readable: {e}"
    finally:
        if rnr is not None:
            try:
                gdb.write_u32(mpu.MPU_RNR, rnr)
            except PhotondbgError as e:
                out["error"] = f"MPU_RNR could not be put back: {e}"
            if gdb.read_u32(mpu.MPU_RNR) != rnr:
                out["error"] = "MPU_RNR could not be put back"
    off = not out.get("enable")  # nothing is enforced: the core need not be asked
    if (
        not regions
        and rnr is not None
        and "error" not in out
        and core_select is not None
        and not off
    ):
        try:
            regions, restored, why = core_select(count)
            out["read_by"] = "core"  # the region stub stepped in place (mpuread)
            out["restored"] = restored
            if not restored:
                out["error"] = f"restore check failed: {why}"
        except PhotondbgError as e:
            out["core_select_error"] = str(e)
    if not regions and off:
        out["note"] = "the MPU is disabled: no region applies (regions not read)"
    elif not regions and rnr is not None and "error" not in out:
        rbar, rasr = gdb.read_u32(mpu.MPU_RBAR), gdb.read_u32(mpu.MPU_RASR)
        if rbar is not None and rasr is not None:
            regions = [mpu.Region(rnr & 0xFF, rbar, rasr)]
        out["only_selected"] = True
        out["note"] = (
            f"MPU_RNR cannot be written through this debugger (QEMU's gdbstub drops writes to "
            f"the System Control Space): only region {rnr & 0xFF}, the one the firmware "
            f"selected last, is shown"
        )
    out["regions"] = [r.as_dict() for r in regions if r.enabled]
    out["_regions"] = [r for r in regions if r.enabled]
    return out
