"""The MPU's regions read by the core itself, for a debugger that cannot write MPU_RNR.

QEMU 7.2's gdbstub drops every debugger write to the System Control Space (measured: MPU_RNR and
MPU_CTRL read back unchanged), so only the region the firmware selected last is visible through
it. The core can select them: :data:`photondbg.cortexm.mpu.REGION_READ_STUB` is written in
place of the halted code (executable under the firmware's own MPU, unlike RAM that may be a
guard) and single-stepped once per region, each pass ending back at the halted PC, the last one
putting the firmware's MPU_RNR back. Then the code bytes and r0-r3, r12 are written back and
every register, the code and MPU_RNR read again to check that they are identical, as the MRS
stub of :mod:`photondbg.capture.stackptr` does.
"""

from __future__ import annotations

from photondbg.capture.collect import CORE_REGS
from photondbg.capture.stackptr import StubFailed, _read_exact, _step, write_memory, write_registers
from photondbg.cortexm import faults, mpu
from photondbg.gdb.session import GdbSession

USED = ("r0", "r1", "r2", "r3", "r12")


def read_regions(
    gdb: GdbSession, regs: dict[str, int], count: int
) -> tuple[list[mpu.Region], bool, str]:
    """(regions 0..count-1, restored, why not) read by stepping the region stub in place."""
    missing = [n for n in CORE_REGS if n not in regs]
    if missing:
        raise StubFailed(f"registers not readable: {', '.join(missing)}")
    if regs["xpsr"] & faults.XPSR_IT_MASK:
        raise StubFailed("the core is halted inside an IT block")
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
            for i, (_, text) in enumerate(mpu.REGION_READ_STUB[:3]):
                _step(gdb, expect=pc + 2 * (i + 1), what=text)
            got = gdb.registers(only=["r2", "r3"])
            _step(gdb, expect=pc, what=mpu.REGION_READ_STUB[3][1])
            if n < count and n == len(regions):
                regions.append(mpu.Region(n, got["r2"], got["r3"]))
    finally:
        restored, why = _restore(gdb, pc, saved, regs, rnr)
    return regions, restored, why


def _restore(
    gdb: GdbSession, pc: int, saved: bytes, regs: dict[str, int], rnr: int
) -> tuple[bool, str]:
    write_memory(gdb, pc, saved)
    write_registers(gdb, {n: regs[n] for n in USED if n in regs})
    gdb.cli("maintenance flush register-cache", timeout=5.0, check=False)
    now = gdb.registers()
    diff = [n for n in regs if now.get(n) != regs[n]]
    if diff:
        return False, "registers differ: " + ", ".join(diff)
    if _read_exact(gdb, pc, len(saved)) != saved:
        return False, f"code at 0x{pc:08x} differs"
    if gdb.read_u32(mpu.MPU_RNR) != rnr:
        return False, "MPU_RNR differs"
    return True, ""
