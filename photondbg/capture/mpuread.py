"""The MPU's regions read by the core itself, for a debugger that cannot write MPU_RNR.

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

from photondbg.capture.collect import CORE_REGS
from photondbg.capture.stackptr import (
    STEP_TIMEOUT,
    StubFailed,
    _read_exact,
    write_memory,
    write_registers,
)
from photondbg.cortexm import faults, mpu
from photondbg.deadline import Deadline
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
            _steps(gdb, len(mpu.REGION_READ_STUB), expect=pc)  # bx r12 leaves r2, r3 alone
            got = gdb.registers(only=["r2", "r3"])
            if n < count and n == len(regions):
                regions.append(mpu.Region(n, got["r2"], got["r3"]))
    finally:
        restored, why = _restore(gdb, pc, saved, regs, rnr)
    return regions, restored, why


def _steps(gdb: GdbSession, count: int, expect: int) -> None:
    """``stepi count`` in one command (GDB steps and reports one stop at the end)."""
    gdb.pending = [
        r for r in gdb.pending if not (r.get("type") == "notify" and r.get("message") == "stopped")
    ]
    gdb.command(f'-interpreter-exec console "stepi {count}"', STEP_TIMEOUT)
    payload = gdb.wait_stopped(Deadline(STEP_TIMEOUT))
    if payload is None:
        gdb.interrupt(timeout=2.0)
        raise StubFailed(f"the region stub did not finish {count} steps")
    at: int | None
    try:
        at = int(payload["frame"]["addr"], 16)
    except (KeyError, TypeError, ValueError):
        at = gdb.registers(only=["pc"]).get("pc")
    if at != expect:
        raise StubFailed(f"the region stub stepped to 0x{at or 0:08x}, not 0x{expect:08x}")


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
