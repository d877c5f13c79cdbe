"""The fault table pins the architecture's bit numbers; the decoder never crashes and its
reasons match the bits set, one for one."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from photondbg.cortexm import faults

u32 = st.integers(min_value=0, max_value=0xFFFFFFFF)


def test_addresses_and_bits_are_the_architectures():
    assert (faults.CFSR, faults.HFSR, faults.DFSR, faults.MMFAR, faults.BFAR) == (
        0xE000ED28,
        0xE000ED2C,
        0xE000ED30,
        0xE000ED34,
        0xE000ED38,
    )
    bits = {(reg, name): bit for reg, name, bit, _ in faults.FAULT_BITS}
    assert bits[("cfsr", "IACCVIOL")] == 0 and bits[("cfsr", "MMARVALID")] == 7
    assert bits[("cfsr", "PRECISERR")] == 9 and bits[("cfsr", "STKERR")] == 12
    assert bits[("cfsr", "BFARVALID")] == 15 and bits[("cfsr", "UNDEFINSTR")] == 16
    assert bits[("cfsr", "INVSTATE")] == 17 and bits[("cfsr", "UNALIGNED")] == 24
    assert bits[("cfsr", "DIVBYZERO")] == 25 and bits[("hfsr", "FORCED")] == 30
    assert bits[("dfsr", "VCATCH")] == 3
    assert dict(faults.VECTOR_CATCH) == {
        "hard_err": 10,
        "int_err": 9,
        "bus_err": 8,
        "state_err": 7,
        "chk_err": 6,
        "nocp_err": 5,
        "mm_err": 4,
        "reset": 0,
    }
    assert dict(faults.FAULT_VECTORS) == {
        2: "NMI",
        3: "HardFault",
        4: "MemManage",
        5: "BusFault",
        6: "UsageFault",
    }
    assert faults.PANIC_NAMES[1] == "HardFault" and faults.PANIC_NAMES[13] == "StackOverflow"


def test_no_two_rows_share_a_bit():
    seen = [(reg, bit) for reg, _, bit, _ in faults.FAULT_BITS]
    assert len(seen) == len(set(seen))


def test_table_module_imports_only_nothing():
    """gdb_scripts/fault.py loads this file inside GDB: it must not import anything."""
    tree = ast.parse(Path(faults.__file__).read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def test_address_registers_only_when_valid():
    regs = {"cfsr": 0, "mmfar": 0x1234, "bfar": 0x5678}
    assert faults.fault_addresses(regs) == {} and faults.fault_address(regs) is None
    regs["cfsr"] = 1 << 15
    assert faults.fault_addresses(regs) == {"bfar": 0x5678}
    regs["cfsr"] = (1 << 15) | (1 << 7)
    assert faults.fault_addresses(regs) == {"bfar": 0x5678, "mmfar": 0x1234}


def test_exc_return_decoding():
    d = faults.decode_exc_return(0xFFFFFFF9)
    assert (d["valid"], d["stack"], d["mode"], d["frame"]) == (True, "msp", "thread", "basic")
    d = faults.decode_exc_return(0xFFFFFFFD)
    assert (d["stack"], d["mode"], d["frame_bytes"]) == ("psp", "thread", 32)
    d = faults.decode_exc_return(0xFFFFFFE1)
    assert (d["stack"], d["mode"], d["frame"], d["frame_bytes"]) == (
        "msp",
        "handler",
        "extended",
        104,
    )
    assert not faults.decode_exc_return(0x08000123)["valid"]


def test_forced_hardfault_names_its_cause():
    assert (
        faults.fault_kind(3, {"cfsr": 1 << 25, "hfsr": 1 << 30})
        == "HardFault (forced from UsageFault)"
    )
    assert faults.fault_kind(6, {"cfsr": 1 << 25, "hfsr": 0}) == "UsageFault"


@given(cfsr=u32, hfsr=u32, dfsr=u32, mmfar=u32, bfar=u32)
def test_random_registers_never_crash_and_reasons_match_bits(cfsr, hfsr, dfsr, mmfar, bfar):
    regs = {"cfsr": cfsr, "hfsr": hfsr, "dfsr": dfsr, "mmfar": mmfar, "bfar": bfar}
    reasons = faults.reasons(regs)
    names = [r.split(":")[0] for r in reasons]
    expected = [name for reg, name, bit, _ in faults.FAULT_BITS if regs[reg] >> bit & 1]
    assert names == expected  # one reason per set bit, in table order
    for reg, name, bit, _ in faults.FAULT_BITS:  # and every set bit has its reason
        assert (name in names) == bool(regs[reg] >> bit & 1)
    addr = faults.fault_address(regs)
    assert addr in (None, mmfar, bfar)
    assert (addr is not None) == bool(cfsr & ((1 << 7) | (1 << 15)))
    assert faults.describe(regs, 3)[0].startswith("Fault: HardFault")
    faults.fault_kind(3, regs)


@given(value=u32, xpsr=u32, sp=u32)
def test_exc_return_and_frame_math_total(value, xpsr, sp):
    d = faults.decode_exc_return(value)
    assert d["valid"] == ((value >> 5) == 0x7FFFFFF and value & 3 == 1)
    if d["valid"]:
        assert d["stack"] == ("psp" if value & 4 else "msp")
        caller = faults.frame_caller_sp(sp, d, xpsr)
        assert caller == (sp + d["frame_bytes"] + (4 if xpsr >> 9 & 1 else 0)) & 0xFFFFFFFF
    assert 0 <= faults.exception_number(xpsr) < 512
    assert faults.exception_name(faults.exception_number(xpsr))
