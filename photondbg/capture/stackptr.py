"""The exact MSP and PSP of a halted Cortex-M core, whatever the debugger exposes.

A fault taken from thread code under an RTOS stacks its frame on the PSP; a capture needs that
stack pointer exactly, not a guess. Two ways, one code path:

* ``registers``: the debugger has ``$msp`` and ``$psp`` (OpenOCD's target description): read.
* ``mrs-stub``: it has neither (QEMU 7.2's gdbstub; ``monitor info registers`` shows neither,
  measured), so the core itself is asked. Four instructions (``mrs r0, msp; mrs r1, psp;
  mrs r2, control; bx r3``, encodings in :mod:`photondbg.cortexm.faults`) are written to
  scratch RAM below the current stack pointer, PC is pointed at them and r3 at the halted PC,
  and they are single-stepped, the last step landing back on the halted PC (so GDB still steps
  over a breakpoint there on resume). QEMU's gdbstub steps with interrupts and timers masked
  (its default ``qqemu.sstep`` flags), so no firmware code runs meanwhile; MRS works in Handler
  mode and reads the banked SPs whichever is active. Then the scratch RAM and r0-r3 are written
  back and every register and the scratch bytes read again to check that they are identical;
  the result says so (``restored``). With the MPU on, the stub runs in place of the halted
  code instead (its bytes saved and written back; QEMU's gdbstub writes ROM, measured): that
  code is executable under the firmware's MPU, while the RAM below the SP may be a no-access
  guard the SP just overflowed into (a step there faults and changes the core), and the MPU
  cannot be switched off from QEMU's gdbstub, which drops writes to the System Control Space
  (measured on 7.2: MPU_CTRL and MPU_RNR read back unchanged). Refused inside an IT block.

When neither works (a stub that does not step), the caller may fall back to the labelled
heuristic ``ram-scan`` of :func:`photondbg.capture.collect.find_stacked_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass

from photondbg.capture.collect import CORE_REGS, Region
from photondbg.cortexm import faults
from photondbg.deadline import Deadline
from photondbg.errors import PhotondbgError, ToolFailure
from photondbg.gdb.mi import TargetDied
from photondbg.gdb.session import GdbSession

SCRATCH_BELOW_SP = 0x80  # bytes between the stub and the live stack
STEP_TIMEOUT = 5.0


class StubFailed(ToolFailure):
    """The MRS stub could not be run (memory not writable, a step went elsewhere...)."""


@dataclass(frozen=True)
class StackPointers:
    msp: int | None
    psp: int | None
    method: str  # registers | mrs-stub | ram-scan | none
    control: int | None = None  # CONTROL as the core reported it (stub/registers)
    scratch: int | None = None  # where the stub ran
    restored: bool | None = None  # stub: memory and registers read back identical
    detail: str | None = None

    def get(self, which: str | None) -> int | None:
        return {"msp": self.msp, "psp": self.psp}.get(which or "")

    def as_dict(self) -> dict:
        out = {"msp": self.msp, "psp": self.psp, "method": self.method}
        for key in ("control", "scratch", "restored", "detail"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def read_stack_pointers(
    gdb: GdbSession, ram: Region, regs: dict[str, int] | None = None, *, stub: bool = True
) -> StackPointers:
    """MSP and PSP of the halted core (see the module text). ``regs`` are the registers as
    GDB reads them now (read here when not given). Never leaves the core changed."""
    regs = regs if regs is not None else gdb.registers()
    if "msp" in regs and "psp" in regs:
        return StackPointers(regs["msp"], regs["psp"], "registers", control=regs.get("control"))
    if not stub:
        return StackPointers(None, None, "none", detail="the debugger exposes neither MSP nor PSP")
    try:
        return run_mrs_stub(gdb, ram, regs)
    except TargetDied:
        raise
    except PhotondbgError as e:
        return StackPointers(None, None, "none", detail=f"MRS stub failed: {e}")


def scratch_address(sp: int, ram: Region, length: int) -> int:
    """Where the stub goes: below the current stack (nothing lives there), else RAM's start."""
    addr = (sp - SCRATCH_BELOW_SP - length) & ~7
    if ram.contains(sp) and ram.contains(addr, length):
        return addr
    return ram.base


def run_mrs_stub(gdb: GdbSession, ram: Region, regs: dict[str, int]) -> StackPointers:
    """Step ``mrs r0, msp; mrs r1, psp; mrs r2, control`` in scratch RAM; restore and check."""
    steppable(regs)
    code = b"".join(enc for _, enc, _ in faults.MRS_STUB) + faults.STUB_RETURN[0]
    mpu = gdb.read_u32(faults.MPU_CTRL)
    mpu_on = bool(mpu is not None and mpu & faults.MPU_CTRL_ENABLE)
    in_place = mpu_on  # the halted code is executable under the MPU; RAM below SP may not be
    scratch = regs["pc"] & ~1 if in_place else scratch_address(regs["sp"], ram, len(code))
    saved = _read_exact(gdb, scratch, len(code))
    got: dict[str, int] = {}
    try:
        write_memory(gdb, scratch, code)
        write_registers(gdb, {"r3": regs["pc"] | 1, **({} if in_place else {"pc": scratch})})
        for i, (name, enc, text) in enumerate(faults.MRS_STUB):
            step(gdb, 1, expect=scratch + 4 * (i + 1), what=text)
        after = gdb.registers(only=["r0", "r1", "r2"])
        # step home: GDB must see the core stop at its own PC (a PC written back by hand
        # would make GDB hit the breakpoint there again instead of stepping over it)
        step(gdb, 1, expect=regs["pc"], what=faults.STUB_RETURN[1])
        got = {
            name: after[f"r{i}"]
            for i, (name, _, _) in enumerate(faults.MRS_STUB)
            if f"r{i}" in after
        }
    finally:
        restored, why = restore(gdb, scratch, saved, regs, ("r0", "r1", "r2", "r3"))
    if set(got) != {"msp", "psp", "control"}:
        raise StubFailed("r0-r2 not readable after the stub")
    detail = None if restored else f"restore check failed: {why}"
    msp: int | None = got["msp"]
    psp: int | None = got["psp"]
    control = got["control"]
    ipsr = faults.exception_number(regs.get("xpsr", 0))
    if ipsr == 0 and control & 1:  # unprivileged Thread mode: MRS of MSP/PSP reads zero
        active = "psp" if control & 2 else "msp"
        msp, psp = (regs["sp"], None) if active == "msp" else (None, regs["sp"])
        detail = "unprivileged Thread mode: only the active stack pointer ($sp) is known"
    else:
        active = "psp" if ipsr == 0 and control & 2 else "msp"
        if {"msp": msp, "psp": psp}[active] != regs["sp"] & ~3:
            detail = (
                f"$sp 0x{regs['sp']:08x} differs from the {active.upper()} the core "
                f"reported: {detail or 'check the target'}"
            )
    return StackPointers(
        msp, psp, "mrs-stub", control=control, scratch=scratch, restored=restored, detail=detail
    )


def steppable(regs: dict[str, int]) -> None:
    """:class:`StubFailed` unless a stub can be stepped from here: every core register known,
    and not inside an IT block (the stub's instructions would be conditional)."""
    missing = [n for n in CORE_REGS if n not in regs]
    if missing:
        raise StubFailed(f"registers not readable: {', '.join(missing)}")
    if regs["xpsr"] & faults.XPSR_IT_MASK:
        raise StubFailed("the core is halted inside an IT block")


def restore(
    gdb: GdbSession, address: int, saved: bytes, regs: dict[str, int], used: tuple[str, ...]
) -> tuple[bool, str]:
    """Put back the ``saved`` bytes at ``address`` and the ``used`` registers (and the PC if it
    is not the halted one); read every register and the bytes again to compare with ``regs``.
    (restored, what differs). Shared by every stub stepped on the core (MRS, MPU regions)."""
    write_memory(gdb, address, saved)
    now_pc = gdb.registers(only=["pc"]).get("pc")
    back = used + (("pc",) if now_pc != regs["pc"] else ())
    write_registers(gdb, {n: regs[n] for n in back if n in regs})
    gdb.cli("maintenance flush register-cache", timeout=5.0, check=False)
    now = gdb.registers()
    diff = [n for n in regs if now.get(n) != regs[n]]
    if diff:
        return False, "registers differ: " + ", ".join(diff)
    if _read_exact(gdb, address, len(saved)) != saved:
        return False, f"memory at 0x{address:08x} differs"
    return True, ""


def step(gdb: GdbSession, count: int, expect: int, what: str) -> None:
    """Step ``count`` instructions (one MI step, or ``stepi count``: GDB reports one stop at
    the end) and check the core stopped at ``expect``; :class:`StubFailed` if not."""
    gdb.pending = [
        r for r in gdb.pending if not (r.get("type") == "notify" and r.get("message") == "stopped")
    ]
    if count == 1:
        gdb.command("-exec-step-instruction", STEP_TIMEOUT)
    else:
        gdb.command(f'-interpreter-exec console "stepi {count}"', STEP_TIMEOUT)
    payload = gdb.wait_stopped(Deadline(STEP_TIMEOUT))
    if payload is None:
        gdb.interrupt(timeout=2.0)
        raise StubFailed(f"'{what}' did not finish stepping")
    pc: int | None
    try:  # the stop record names the PC; ask the registers only if it does not
        pc = int(payload["frame"]["addr"], 16)
    except (KeyError, TypeError, ValueError):
        pc = gdb.registers(only=["pc"]).get("pc")
    if pc != expect:
        raise StubFailed(f"'{what}' stepped to 0x{pc or 0:08x}, not 0x{expect:08x}")


def _read_exact(gdb: GdbSession, address: int, length: int) -> bytes:
    blocks = gdb.read_chunk(address, length)
    if len(blocks) != 1 or blocks[0][0] != address or len(blocks[0][1]) != length:
        raise StubFailed(f"memory at 0x{address:08x} is not readable")
    return blocks[0][1]


def write_memory(gdb: GdbSession, address: int, data: bytes) -> None:
    gdb.command(f"-data-write-memory-bytes 0x{address:x} {data.hex()}", 5.0)


def write_registers(gdb: GdbSession, values: dict[str, int]) -> None:
    """Write registers by name in one MI command (GDB's numbering)."""
    names = [n.lower() for n in gdb.register_names()]
    pairs = " ".join(f"{names.index(n)} 0x{v & 0xFFFFFFFF:x}" for n, v in values.items())
    gdb.command(f"-data-write-register-values x {pairs}", 5.0)
