"""Cortex-M (ARMv7-M) fault facts as data, and one generic decoder that reads them.

This file imports nothing from photondbg and nothing outside the standard library, so that
``gdb_scripts/fault.py`` can load this very file inside GDB's own Python (no copy).

Sources: ARMv7-M Architecture Reference Manual (B3.2 System Control Block), Cortex-M3 TRM,
Particle Device OS ``services/inc/panic_codes.h`` (codes only).
"""

# -- System Control Block addresses -------------------------------------------------------
ICSR = 0xE000ED04  # VECTACTIVE in bits 0..8
VTOR = 0xE000ED08  # vector table offset
CCR = 0xE000ED14  # configuration and control
SHCSR = 0xE000ED24  # system handler control and state
CFSR = 0xE000ED28  # MMFSR (byte 0) | BFSR (byte 1) | UFSR (half-word 1)
HFSR = 0xE000ED2C
DFSR = 0xE000ED30
MMFAR = 0xE000ED34
BFAR = 0xE000ED38
AFSR = 0xE000ED3C
DHCSR = 0xE000EDF0
DEMCR = 0xE000EDFC

# The registers a capture reads, in the order of report.json's ``scb`` object.
SCB_REGISTERS = [
    # name    address
    ("cfsr", CFSR),
    ("hfsr", HFSR),
    ("dfsr", DFSR),
    ("mmfar", MMFAR),
    ("bfar", BFAR),
]

# -- fault status bits: (register, field, bit, reason) ------------------------------------
# ``register`` is the name of the 32-bit register the bit lives in (CFSR bit numbers are
# counted over the whole CFSR word: MMFSR 0-7, BFSR 8-15, UFSR 16-31).
FAULT_BITS = [
    # MemManage (MMFSR)
    ("cfsr", "IACCVIOL", 0, "instruction fetch from a location the MPU or an XN region forbids"),
    ("cfsr", "DACCVIOL", 1, "data access to a location the MPU forbids"),
    ("cfsr", "MUNSTKERR", 3, "MemManage fault while unstacking an exception return"),
    ("cfsr", "MSTKERR", 4, "MemManage fault while stacking for exception entry"),
    ("cfsr", "MLSPERR", 5, "MemManage fault during lazy floating-point state preservation"),
    ("cfsr", "MMARVALID", 7, "MMFAR holds the faulting data address"),
    # BusFault (BFSR)
    ("cfsr", "IBUSERR", 8, "bus error on instruction fetch"),
    ("cfsr", "PRECISERR", 9, "precise data bus error (BFAR holds the address)"),
    ("cfsr", "IMPRECISERR", 10, "imprecise data bus error (stacked PC is after the access)"),
    ("cfsr", "UNSTKERR", 11, "bus error while unstacking an exception return"),
    ("cfsr", "STKERR", 12, "bus error while stacking for exception entry (bad stack pointer?)"),
    ("cfsr", "LSPERR", 13, "bus error during lazy floating-point state preservation"),
    ("cfsr", "BFARVALID", 15, "BFAR holds the faulting data address"),
    # UsageFault (UFSR)
    ("cfsr", "UNDEFINSTR", 16, "undefined instruction"),
    (
        "cfsr",
        "INVSTATE",
        17,
        "invalid state: branch to an address without the Thumb bit (EPSR.T=0)",
    ),
    ("cfsr", "INVPC", 18, "invalid PC load on exception return (bad EXC_RETURN)"),
    ("cfsr", "NOCP", 19, "coprocessor instruction with no coprocessor enabled"),
    ("cfsr", "UNALIGNED", 24, "unaligned memory access with CCR.UNALIGN_TRP set"),
    ("cfsr", "DIVBYZERO", 25, "integer divide by zero with CCR.DIV_0_TRP set"),
    # HardFault (HFSR)
    ("hfsr", "VECTTBL", 1, "bus error reading the vector table"),
    ("hfsr", "FORCED", 30, "a configurable fault was escalated to HardFault"),
    ("hfsr", "DEBUGEVT", 31, "debug event while debugging was not enabled"),
    # Debug (DFSR)
    ("dfsr", "HALTED", 0, "halt request or step"),
    ("dfsr", "BKPT", 1, "breakpoint"),
    ("dfsr", "DWTTRAP", 2, "watchpoint (DWT)"),
    ("dfsr", "VCATCH", 3, "vector catch"),
    ("dfsr", "EXTERNAL", 4, "external debug request"),
]

# Faults of the exception entry and return themselves: (field, what failed, the frame). With
# one of these the hardware wrote no frame (stacking) or was popping one (unstacking): the
# memory at the stack pointer is not the interrupted code's registers.
STACK_ERRORS = [
    # field       failed       frame
    ("MSTKERR", "stacking", "the exception entry could not write the frame (MPU)"),
    ("STKERR", "stacking", "the exception entry could not write the frame (bus error)"),
    ("MUNSTKERR", "unstacking", "the exception return could not read the frame back (MPU)"),
    ("UNSTKERR", "unstacking", "the exception return could not read the frame back (bus error)"),
]

# Which group of CFSR a bit belongs to: (first bit, last bit, fault name)
CFSR_GROUPS = [
    (0, 7, "MemManage"),
    (8, 15, "BusFault"),
    (16, 31, "UsageFault"),
]

# Fault address registers and the bit that says they are valid: (register, gate register, bit)
ADDRESS_GATES = [
    ("mmfar", "cfsr", 7),  # MMARVALID
    ("bfar", "cfsr", 15),  # BFARVALID
]

# Bits that are status only and carry no reason of their own in a summary.
GATE_FIELDS = {"MMARVALID", "BFARVALID"}

# -- other control bits --------------------------------------------------------------------
CCR_BITS = [("UNALIGN_TRP", 3), ("DIV_0_TRP", 4), ("STKALIGN", 9)]
SHCSR_BITS = [("MEMFAULTENA", 16), ("BUSFAULTENA", 17), ("USGFAULTENA", 18)]
DHCSR_BITS = [("C_DEBUGEN", 0), ("C_HALT", 1), ("S_HALT", 17), ("S_LOCKUP", 19)]

# DEMCR vector-catch bits (OpenOCD ``cortex_m vector_catch`` names).
VECTOR_CATCH = [
    # name        bit
    ("hard_err", 10),
    ("int_err", 9),
    ("bus_err", 8),
    ("state_err", 7),
    ("chk_err", 6),
    ("nocp_err", 5),
    ("mm_err", 4),
    ("reset", 0),
]

# -- exceptions and the vector table ------------------------------------------------------
# (exception number == vector-table slot, name, is a fault vector)
EXCEPTIONS = [
    (1, "Reset", False),
    (2, "NMI", True),
    (3, "HardFault", True),
    (4, "MemManage", True),
    (5, "BusFault", True),
    (6, "UsageFault", True),
    (11, "SVCall", False),
    (12, "DebugMonitor", False),
    (14, "PendSV", False),
    (15, "SysTick", False),
]
FAULT_VECTORS = [(n, name) for n, name, fault in EXCEPTIONS if fault]
EXCEPTION_NAMES = {n: name for n, name, _ in EXCEPTIONS}

# -- EXC_RETURN ----------------------------------------------------------------------------
EXC_RETURN_PREFIX = 0xFFFFFFE0  # bits 31..5 all ones on ARMv7-M
EXC_RETURN_BITS = [
    # field        bit  meaning when 1               meaning when 0
    ("SPSEL", 2, "process stack (PSP)", "main stack (MSP)"),
    ("MODE", 3, "return to Thread mode", "return to Handler mode"),
    ("FTYPE", 4, "basic frame (8 words)", "extended frame with FP state (26 words)"),
]
BASIC_FRAME = ["r0", "r1", "r2", "r3", "r12", "lr", "pc", "xpsr"]  # stacked order
BASIC_FRAME_BYTES = 32
EXTENDED_FRAME_BYTES = 104

# -- stack pointers: MRS encodings (ARMv7-M A7.7.82, SYSm B5.1.1), CONTROL, MPU ------------
# A debugger that has no $msp/$psp (QEMU 7.2's gdbstub) can step these in scratch RAM.
MRS_STUB = [
    # register  Thumb-2 encoding (little-endian bytes)   instruction
    ("msp", bytes.fromhex("eff30880"), "mrs r0, msp"),
    ("psp", bytes.fromhex("eff30981"), "mrs r1, psp"),
    ("control", bytes.fromhex("eff31482"), "mrs r2, control"),
]
# ...then back to where the core was halted (r3 = that PC | 1): the debugger then sees the
# core stopped at its own PC again, so a breakpoint there is stepped over on resume.
STUB_RETURN = (bytes.fromhex("1847"), "bx r3")
CONTROL_BITS = [("nPRIV", 0), ("SPSEL", 1), ("FPCA", 2)]
# EPSR.IT: inside an IT block the stub would be conditional
XPSR_IT_MASK = (0x3 << 25) | (0x3F << 10)
MPU_CTRL = 0xE000ED94  # ENABLE bit 0: executing scratch RAM could fault with the MPU on
MPU_CTRL_ENABLE = 1

# -- a context saved by an RTOS context switch (PendSV), as FreeRTOS' ARM_CM3 port keeps it:
# the saved SP points at r4..r11, then the hardware-stacked basic frame follows.
SAVED_CONTEXT = ["r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11"] + BASIC_FRAME
STACK_FILL_BYTE = 0xA5  # FreeRTOS tskSTACK_FILL_BYTE: never-used stack reads as this
# FreeRTOS ports' saved contexts (portable/GCC/ARM_CM3 and ARM_CM4F port.c, PendSV), read
# from pxTopOfStack upwards: the core registers the handler stored, then (CM4F, only when the
# EXC_RETURN it stored has FTYPE 0: the task had used the FPU) S16-S31, then the hardware frame.
#   port        core registers stored by PendSV                    FP block (FTYPE 0)
SWITCH_CONTEXTS = {
    "ARM_CM3": (["r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11"], []),
    "ARM_CM4F": (
        ["r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "exc_return"],
        [f"s{i}" for i in range(16, 32)],
    ),
}

# -- FreeRTOS kernel awareness: what a debugger reads, by symbol and DWARF member name --------
# (the list OpenOCD's src/rtos/FreeRTOS.c reads; member names from tasks.c/list.h, v7 to v11)
FREERTOS_CURRENT = "pxCurrentTCB"
FREERTOS_COUNT = "uxCurrentNumberOfTasks"
FREERTOS_LISTS = [
    # symbol                     state of a task whose STATE list item it holds
    ("pxReadyTasksLists", "ready"),  # an array: one list per priority
    ("xDelayedTaskList1", "blocked"),  # delayed or blocked with a time-out
    ("xDelayedTaskList2", "blocked"),  # the same, after the tick count overflows
    ("xPendingReadyList", "ready"),  # holds EVENT list items: readied while suspended
    ("xTasksWaitingTermination", "deleted"),
    ("xSuspendedTaskList", "suspended"),  # or blocked for ever (its event item is in a list)
]
# TCB member -> the names it has had (first found wins); None marks an optional member
FREERTOS_TCB = [
    ("top_of_stack", ("pxTopOfStack",), True),
    ("state_item", ("xStateListItem", "xGenericListItem"), True),  # v9+ | v7/v8
    ("event_item", ("xEventListItem",), True),
    ("priority", ("uxPriority",), True),
    ("stack", ("pxStack",), True),
    ("name", ("pcTaskName",), True),
    ("end_of_stack", ("pxEndOfStack",), False),  # configRECORD_STACK_HIGH_ADDRESS / growth up
]
FREERTOS_LIST_ITEM = [
    ("next", ("pxNext",)),
    ("owner", ("pvOwner",)),
    ("container", ("pxContainer", "pvContainer")),
]  # v10+ | older
FREERTOS_LIST = [("count", ("uxNumberOfItems",)), ("end", ("xListEnd",))]

# -- stacks: where toolchains put the main stack, how a return address is recognised --------
# Linker symbols of the main stack (GNU ld scripts of CMSIS, STM32Cube, newlib, Zephyr...),
# most specific first. The top is also the vector table's initial SP (slot 0).
STACK_TOP_SYMBOLS = ["_estack", "__StackTop", "__stack", "_stack_top", "__stack_end__"]
STACK_LIMIT_SYMBOLS = ["_sstack", "__StackLimit", "__stack_start__", "_stack_start"]
STACK_SIZE_SYMBOLS = ["_Min_Stack_Size", "__stack_size__", "_stack_size"]  # top - size
BSS_END_SYMBOLS = ["_ebss", "__bss_end__", "_end", "end", "__end__"]  # lowest possible bottom
# Thumb calls that leave a return address in LR (ARMv7-M A7.7.18/19): the halfword(s) just
# before a return address. (mask, value) per halfword.
CALL_BL = ((0xF800, 0xF000), (0xD000, 0xD000))  # BL <imm>: 32 bits, second halfword 11x1
CALL_BLX_REG = (0xFF87, 0x4780)  # BLX <Rm>: 16 bits

# -- memory maps: chip -> (code base, code size, SRAM base, SRAM size) --------------------
# STM32F205RG (RM0033 §2.3): the Photon's MCU and QEMU's netduino2. MPS2 AN385 (ARM DAI 0385):
# a Cortex-M3 whose QEMU model raises precise BusFaults (code in 4 MiB SSRAM1 at 0x0); AN386 is
# the same memory with a Cortex-M4F. STM32F405 (QEMU netduinoplus2) and Stellaris LM3S6965
# (lm3s6965evb): sizes as QEMU 7.2 maps them (`info mtree`, docs/machines.md).
MEMORY_MAPS = {
    "stm32f205": (0x08000000, 1024 * 1024, 0x20000000, 128 * 1024),
    "stm32f405": (0x08000000, 1024 * 1024, 0x20000000, 192 * 1024),
    "mps2-an385": (0x00000000, 4 * 1024 * 1024, 0x20000000, 4 * 1024 * 1024),
    "lm3s6965": (0x00000000, 256 * 1024, 0x20000000, 64 * 1024),
}

# -- the FPU (FPv4-SP, Cortex-M4F; ARMv7-M B3.2.20-B3.2.22, A2.5) ------------------------------
CPACR = 0xE000ED88  # CP10/CP11 access, bits 20..23
FPCCR = 0xE000EF34  # floating-point context control
FPCAR = 0xE000EF38  # address of the S0 slot of the frame whose FP state is pending (lazy)
FPCCR_BITS = [
    # name     bit  meaning when set
    ("LSPACT", 0, "lazy state preservation active: the frame's FP slots are not written yet"),
    ("USER", 1, "the FP context was allocated in unprivileged mode"),
    ("THREAD", 3, "the FP context was allocated in Thread mode"),
    ("HFRDY", 4, "HardFault could be pended when the FP context was allocated"),
    ("MMRDY", 5, "MemManage could be pended when the FP context was allocated"),
    ("BFRDY", 6, "BusFault could be pended when the FP context was allocated"),
    ("MONRDY", 8, "DebugMonitor could be pended when the FP context was allocated"),
    ("UFRDY", 10, "UsageFault could be pended (ARMv8-M bit; QEMU 7.2 sets it on an M4)"),
    ("LSPEN", 30, "lazy stacking enabled (reset default)"),
    ("ASPEN", 31, "automatic FP state preservation: CONTROL.FPCA set by FP instructions"),
]
FPCCR_LSPACT = 1 << 0
# The extended frame (EXC_RETURN bit 4 clear): the basic frame, then these words.
EXTENDED_FP_FRAME = ["s%d" % i for i in range(16)] + ["fpscr", "reserved"]
EXTENDED_FP_OFFSET = BASIC_FRAME_BYTES  # S0's slot: frame + 0x20 (what FPCAR holds when lazy)
XPSR_PAD_BIT = 9  # stacked xPSR bit 9: the core inserted a pad word to 8-align the frame

# -- Device OS panic codes (panic_codes.h) ------------------------------------------------
PANIC_CODES = [
    (1, "HardFault"),
    (2, "NMIFault"),
    (3, "MemManage"),
    (4, "BusFault"),
    (5, "UsageFault"),
    (6, "InvalidLenth"),
    (7, "Exit"),
    (8, "OutOfHeap"),
    (9, "SPIOverRun"),
    (10, "AssertionFailure"),
    (11, "InvalidCase"),
    (12, "PureVirtualCall"),
    (13, "StackOverflow"),
]
PANIC_NAMES = dict(PANIC_CODES)
# Symbols that are the panic entry of a firmware, most specific first.
PANIC_SYMBOLS = ["panic_", "panic", "__panic", "HAL_Panic"]

MASK32 = 0xFFFFFFFF


# -- the generic decoder -------------------------------------------------------------------
def set_fields(registers, table=FAULT_BITS):
    """[(register, field, bit, reason)] of every bit set in ``registers`` ({name: value})."""
    out = []
    for reg, name, bit, why in table:
        value = registers.get(reg)
        if value is not None and (int(value) >> bit) & 1:
            out.append((reg, name, bit, why))
    return out


def fault_addresses(registers):
    """{"mmfar": addr, "bfar": addr} for the address registers whose VALID bit is set."""
    out = {}
    for reg, gate, bit in ADDRESS_GATES:
        gate_value = registers.get(gate)
        if (
            gate_value is not None
            and registers.get(reg) is not None
            and (int(gate_value) >> bit) & 1
        ):
            out[reg] = int(registers[reg]) & MASK32
    return out


def cfsr_kinds(cfsr):
    """Names of the configurable faults (MemManage/BusFault/UsageFault) flagged in CFSR."""
    kinds = []
    for lo, hi, name in CFSR_GROUPS:
        mask = ((1 << (hi - lo + 1)) - 1) << lo
        if int(cfsr) & mask:
            kinds.append(name)
    return kinds


def reasons(registers):
    """Plain-English reasons, one per set bit (gate bits become the address they validate)."""
    addrs = fault_addresses(registers)
    out = []
    for reg, name, bit, why in set_fields(registers):
        if name == "MMARVALID":
            out.append("%s: MemManage fault address 0x%08x (MMFAR)" % (name, addrs["mmfar"]))
        elif name == "BFARVALID":
            out.append("%s: bus fault address 0x%08x (BFAR)" % (name, addrs["bfar"]))
        else:
            out.append("%s: %s" % (name, why))
    return out


def stack_error(registers):
    """(field, "stacking"|"unstacking", what) of the first STACK_ERRORS bit set in CFSR, or
    None. CFSR bits are sticky: one left set by an earlier, cleared-never fault shows too."""
    cfsr = int(registers.get("cfsr") or 0)
    bits = {name: bit for reg, name, bit, _ in FAULT_BITS if reg == "cfsr"}
    for name, failed, what in STACK_ERRORS:
        if cfsr >> bits[name] & 1:
            return name, failed, what
    return None


def is_call_return(before: bytes) -> bool:
    """``before`` = the 4 code bytes just before a return address: a BL or BLX Rm made it."""
    if len(before) < 4:
        return False
    h1 = int.from_bytes(before[0:2], "little")
    h2 = int.from_bytes(before[2:4], "little")
    (m1, v1), (m2, v2) = CALL_BL
    if h1 & m1 == v1 and h2 & m2 == v2:
        return True
    return h2 & CALL_BLX_REG[0] == CALL_BLX_REG[1]


def fault_address(registers):
    """The single faulting data address, if a VALID bit vouches for one (BFAR wins)."""
    addrs = fault_addresses(registers)
    return addrs.get("bfar", addrs.get("mmfar"))


def decode_exc_return(value):
    """{"valid", "stack", "mode", "frame", "frame_bytes"} for an EXC_RETURN value (LR)."""
    value = int(value) & MASK32
    valid = (value & EXC_RETURN_PREFIX) == EXC_RETURN_PREFIX and (value & 0x3) == 0x1
    if not valid:
        return {
            "valid": False,
            "value": value,
            "stack": None,
            "mode": None,
            "frame": None,
            "frame_bytes": None,
        }
    psp = bool(value >> 2 & 1)
    thread = bool(value >> 3 & 1)
    basic = bool(value >> 4 & 1)
    return {
        "valid": True,
        "value": value,
        "stack": "psp" if psp else "msp",
        "mode": "thread" if thread else "handler",
        "frame": "basic" if basic else "extended",
        "frame_bytes": BASIC_FRAME_BYTES if basic else EXTENDED_FRAME_BYTES,
    }


def exception_number(xpsr):
    """IPSR field of xPSR: 0 thread mode, else the active exception number."""
    return int(xpsr) & 0x1FF


def exception_name(number):
    number = int(number)
    if number == 0:
        return "Thread"
    if number >= 16:
        return "IRQ%d" % (number - 16)
    return EXCEPTION_NAMES.get(number, "Exception%d" % number)


def unpack_frame(words):
    """The basic stacked frame {r0,r1,r2,r3,r12,lr,pc,xpsr} from its first 8 words."""
    return {name: int(w) & MASK32 for name, w in zip(BASIC_FRAME, words)}


def frame_padded(xpsr):
    """Stacked xPSR bit 9: the core aligned the frame to 8 bytes with one pad word above it."""
    return bool(int(xpsr) >> XPSR_PAD_BIT & 1)


def frame_caller_sp(sp, exc, xpsr):
    """SP of the interrupted code: stacked SP + frame size (32 basic, 104 extended), + 4 when
    the stacked xPSR's bit 9 says the core padded the frame."""
    size = exc.get("frame_bytes") or BASIC_FRAME_BYTES
    return (int(sp) + size + (4 if frame_padded(xpsr) else 0)) & MASK32


def unpack_fp_frame(words):
    """{s0..s15, fpscr, reserved} from the 18 words after an extended frame's basic part."""
    return {name: int(w) & MASK32 for name, w in zip(EXTENDED_FP_FRAME, words)}


def fault_kind(vector, registers):
    """A short name for what happened: the vector, plus the escalated cause when FORCED."""
    name = exception_name(vector) if isinstance(vector, int) else str(vector)
    kinds = cfsr_kinds(registers.get("cfsr", 0) or 0)
    forced = (int(registers.get("hfsr", 0) or 0) >> 30) & 1
    if name == "HardFault" and forced and kinds:
        return "HardFault (forced from %s)" % "/".join(kinds)
    return name


def bits_text(value, table):
    """'NAME|NAME' for the (name, bit) pairs set in ``value``."""
    return "|".join(name for name, bit in table if int(value) >> bit & 1) or "-"


def describe(registers, vector=None):
    """Lines of text for people (used by report.md and the GDB ``fault`` command)."""
    lines = []
    if vector is not None:
        lines.append("Fault: %s" % fault_kind(vector, registers))
    for name, _addr in SCB_REGISTERS:
        if registers.get(name) is not None:
            lines.append("  %-5s = 0x%08x" % (name.upper(), int(registers[name]) & MASK32))
    for why in reasons(registers):
        lines.append("  - " + why)
    return lines
