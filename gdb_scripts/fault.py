"""A ``fault`` command for any ARM GDB session (plain gdb-multiarch, VS Code Cortex-Debug...).

    (gdb) source /path/to/photondbg/gdb_scripts/fault.py
    (gdb) fault

Reads the Cortex-M fault registers (CFSR, HFSR, DFSR, MMFAR, BFAR), decodes them with the SAME
table photondbg uses (``photondbg/cortexm/faults.py``, loaded by path, not copied), shows the
stacked exception frame chosen by EXC_RETURN and where the fault happened.
Works while stopped in a fault handler (best at its first instruction). Where the stub has no
$psp (QEMU), the PSP is read by stepping an MRS stub below $sp, or in place of the halted code
when the MPU is on (registers and memory restored).
"""

import importlib.util
import os

import gdb  # noqa: F401  (provided by GDB's embedded Python)

_HERE = os.path.dirname(os.path.abspath(__file__))
_TABLE = os.path.normpath(os.path.join(_HERE, "..", "photondbg", "cortexm", "faults.py"))


def _load_table():
    spec = importlib.util.spec_from_file_location("photondbg_cortexm_faults", _TABLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


faults = _load_table()


def _u32(address):
    data = gdb.selected_inferior().read_memory(address, 4)
    return int.from_bytes(bytes(data), "little")


def _reg(frame, name):
    try:
        return int(frame.read_register(name)) & 0xFFFFFFFF
    except (gdb.error, ValueError):
        return None


def _where(address):
    try:
        sym = gdb.execute("info symbol 0x%x" % address, to_string=True).strip()
    except gdb.error:
        sym = ""
    if sym.startswith("No symbol"):
        sym = "??"
    try:
        sal = gdb.find_pc_line(address)
        if sal.symtab is not None and sal.line:
            sym += "  at %s:%d" % (sal.symtab.filename, sal.line)
    except gdb.error:
        pass
    return sym


def _mrs_stub(frame):
    """MSP and PSP asked of the core itself, for a stub that exposes neither (QEMU): the same
    stub and the same placement as photondbg/capture/stackptr.py (encodings from faults.py).
    With the MPU off it is stepped in scratch memory below $sp; with the MPU on it is stepped in
    place of the halted code (executable under the firmware's MPU, while the RAM below $sp may be
    a no-access guard the SP just overflowed into: a step there would fault and overwrite the
    fault registers). The bytes it covered and r0-r3 are put back and checked. None if it
    cannot run."""
    known = gdb.convenience_variable("photondbg_psp")  # set by photondbg, which read it already
    if known is not None:
        return {"psp": int(known) & 0xFFFFFFFF, "how": "read by photondbg"}
    try:  # under async MI (photondbg, IDEs) stepi returns before the step: do not try
        if gdb.parameter("mi-async"):
            return None
    except (gdb.error, RuntimeError):
        pass
    names = ["r0", "r1", "r2", "r3", "sp", "pc", "xpsr"]
    regs = {n: _reg(frame, n) for n in names}
    if None in regs.values() or regs["xpsr"] & faults.XPSR_IT_MASK:
        return None
    code = b"".join(enc for _, enc, _ in faults.MRS_STUB) + faults.STUB_RETURN[0]
    try:
        in_place = bool(_u32(faults.MPU_CTRL) & faults.MPU_CTRL_ENABLE)
    except gdb.MemoryError:
        in_place = True  # unknown: the halted code is the one place known to execute
    pc = regs["pc"] & ~1
    scratch = pc if in_place else (regs["sp"] - 0x80 - len(code)) & ~7
    inferior = gdb.selected_inferior()
    try:
        saved = bytes(inferior.read_memory(scratch, len(code)))
        inferior.write_memory(scratch, code)
    except gdb.MemoryError:
        return None
    got = None
    try:
        gdb.execute("set $r3 = 0x%x" % (regs["pc"] | 1), to_string=True)
        if not in_place:
            gdb.execute("set $pc = 0x%x" % scratch, to_string=True)
        for i, _ in enumerate(faults.MRS_STUB):
            gdb.execute("stepi", to_string=True)
            if _reg(gdb.newest_frame(), "pc") != scratch + 4 * (i + 1):
                break  # the step went elsewhere (a fault?): read nothing
        else:
            now = gdb.newest_frame()
            got = [_reg(now, n) for n in ("r0", "r1")]
            gdb.execute("stepi", to_string=True)  # bx r3: back on the halted PC
    finally:
        inferior.write_memory(scratch, saved)
        for n in ("r0", "r1", "r2", "r3"):
            gdb.execute("set $%s = 0x%x" % (n, regs[n]), to_string=True)
        if _reg(gdb.newest_frame(), "pc") != regs["pc"]:
            gdb.execute("set $pc = 0x%x" % regs["pc"], to_string=True)
    after = gdb.newest_frame()
    if (
        any(_reg(after, n) != regs[n] for n in names)
        or bytes(inferior.read_memory(scratch, len(code))) != saved
    ):
        print("fault: WARNING: the MRS stub could not restore the core exactly")
    if got is None or None in got:
        return None
    where = "in place of the halted code (MPU on)" if in_place else "below $sp"
    return {
        "msp": got[0],
        "psp": got[1],
        "how": "read by an MRS stub stepped %s; core restored" % where,
    }


class FaultCommand(gdb.Command):
    """Decode the Cortex-M fault registers and show the stacked exception frame."""

    def __init__(self):
        super(FaultCommand, self).__init__("fault", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        frame = gdb.newest_frame()
        scb = {}
        for name, address in faults.SCB_REGISTERS:
            try:
                scb[name] = _u32(address)
            except gdb.MemoryError:
                print("fault: cannot read %s at 0x%08x" % (name.upper(), address))
        xpsr = _reg(frame, "xpsr")
        number = faults.exception_number(xpsr or 0)
        for line in faults.describe(scb, number):
            print(line)
        lr = _reg(frame, "lr")
        exc = faults.decode_exc_return(lr or 0)
        if not exc["valid"]:
            print(
                "LR = 0x%08x is not an EXC_RETURN value: stop at the first instruction of the "
                "handler to see the stacked frame" % (lr or 0)
            )
            return
        print(
            "EXC_RETURN 0x%08x: %s, %s frame, return to %s mode"
            % (lr, exc["stack"].upper(), exc["frame"], exc["mode"])
        )
        sp = _reg(frame, exc["stack"])  # OpenOCD exposes msp/psp; QEMU does not
        if sp is None and exc["stack"] == "msp":
            sp = _reg(frame, "sp")  # in a handler the current SP is MSP
        if sp is None and exc["stack"] == "psp":
            sps = _mrs_stub(frame)
            sp = sps and sps["psp"]
            if sp is not None:
                print("PSP 0x%08x (%s)" % (sp, sps["how"]))
        if sp is None:
            print("stacked frame: %s is not available from this target" % exc["stack"].upper())
            return
        err = faults.stack_error(scb)
        if err is not None:  # the entry wrote no frame / the return was popping it
            print(
                "%s 0x%08x: no frame: %s: %s; the memory there is not the interrupted code's "
                "registers" % (exc["stack"].upper(), sp, err[0], err[2])
            )
            return
        try:
            words = [_u32(sp + 4 * i) for i in range(len(faults.BASIC_FRAME))]
        except gdb.MemoryError:
            print("stacked frame: unreadable at SP 0x%08x (corrupt stack pointer?)" % sp)
            return
        stacked = faults.unpack_frame(words)
        print("Stacked frame at 0x%08x:" % sp)
        for name in faults.BASIC_FRAME:
            print("  %-4s = 0x%08x" % (name, stacked[name]))
        print(
            "SP before the exception 0x%08x%s"
            % (
                faults.frame_caller_sp(sp, exc, stacked["xpsr"]),
                " (frame padded: xPSR bit 9)" if faults.frame_padded(stacked["xpsr"]) else "",
            )
        )
        if exc["frame"] == "extended":
            _fp_part(sp)
        print("Faulting PC 0x%08x  %s" % (stacked["pc"], _where(stacked["pc"])))
        lr = stacked["lr"]
        print("Called from 0x%08x  %s" % (lr, _where((lr & ~1) - 2 if lr & 1 else lr)))
        print(
            "Backtrace hint: 'bt' unwinds through the exception frame "
            "(the frame after <signal handler called> is the faulting code)."
        )


def _fp_part(sp):
    """S0-S15/FPSCR of an extended frame: from the frame, or from the registers while lazy
    stacking has only reserved the slots (FPCCR.LSPACT with FPCAR at this frame)."""
    fpccr, fpcar = _u32(faults.FPCCR), _u32(faults.FPCAR)
    slot = sp + faults.EXTENDED_FP_OFFSET
    print(
        "FPCCR 0x%08x (%s), FPCAR 0x%08x"
        % (fpccr, faults.bits_text(fpccr, [(n, b) for n, b, _ in faults.FPCCR_BITS]), fpcar)
    )
    if fpccr & faults.FPCCR_LSPACT and fpcar == slot:
        print(
            "FP state: lazy: the slots at 0x%08x are reserved, not written; S0-S15/FPSCR are "
            "still the interrupted code's, in the registers ('info registers float')" % slot
        )
        return
    words = [_u32(slot + 4 * i) for i in range(len(faults.EXTENDED_FP_FRAME))]
    fp = faults.unpack_fp_frame(words)
    print("Stacked FP state at 0x%08x:" % slot)
    for i in range(0, 16, 4):
        print("  " + "  ".join("s%-2d = 0x%08x" % (j, fp["s%d" % j]) for j in range(i, i + 4)))
    print("  fpscr = 0x%08x" % fp["fpscr"])


FaultCommand()
