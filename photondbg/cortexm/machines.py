"""The QEMU machines a simulated capture runs on, as data: chip, core, FPU, memory map, and what
QEMU 7.2 does on each (measured; docs/machines.md says how).

Like faults.py this file imports only the standard library and faults.py's data. The memory
map of each chip lives in :data:`photondbg.cortexm.faults.MEMORY_MAPS` (one place); a machine
names its chip. :mod:`photondbg.targets.machine_fit` reads this table to infer a machine from an
ELF.
"""

from __future__ import annotations

from dataclasses import dataclass

from photondbg.cortexm.faults import MEMORY_MAPS

# -- cores: what an ELF's .ARM.attributes must say for the core to run its code ---------------
# Tag_CPU_arch values (ARM ABI addenda, "Build attributes"): 10 v7, 11 v6-M, 12 v6S-M,
# 13 v7E-M, 14 v8-A, 16 v8-M.baseline, 17 v8-M.mainline, 21 v8.1-M.mainline.
CPU_ARCH_NAMES = {
    0: "pre-v4",
    10: "ARMv7",
    11: "ARMv6-M",
    12: "ARMv6S-M",
    13: "ARMv7E-M",
    14: "ARMv8-A",
    15: "ARMv8-R",
    16: "ARMv8-M.baseline",
    17: "ARMv8-M.mainline",
    21: "ARMv8.1-M.mainline",
}
# Tag_FP_arch values: 0 none, 2 VFPv2, 3 VFPv3, 4 VFPv3-D16, 5 VFPv4, 6 VFPv4-D16 (GCC's
# fpv4-sp-d16 and fpv4-d16), 7 ARMv8 FP, 8 ARMv8 FP-D16 (fpv5: Cortex-M7/M33).
FP_ARCH_NAMES = {
    0: "none",
    1: "VFPv1",
    2: "VFPv2",
    3: "VFPv3",
    4: "VFPv3-D16",
    5: "VFPv4",
    6: "VFPv4-D16",
    7: "ARMv8 FP",
    8: "ARMv8 FP-D16 (FPv5)",
}
# Tag_ABI_HardFP_use: 1 = single precision only (what FPv4-SP runs)
HARDFP_SP_ONLY = 1


@dataclass(frozen=True)
class Core:
    """A Cortex-M core: the architectures whose code it runs and its FPU (None: no FPU)."""

    name: str
    arch: int  # its own Tag_CPU_arch
    runs_arch: frozenset[int]  # Tag_CPU_arch values of code it executes
    fpu: str | None  # FPv4-SP-D16: single precision, S0-S31, FPCCR/FPCAR lazy stacking
    fp_arch_max: int  # highest Tag_FP_arch it executes (0 without an FPU)


CORES = {
    # v6-M code is a subset of v7-M (the M3 and M4 run it); v7E-M adds the DSP instructions.
    "cortex-m3": Core("cortex-m3", 10, frozenset({10, 11, 12}), None, 0),
    "cortex-m4f": Core("cortex-m4f", 13, frozenset({10, 11, 12, 13}), "FPv4-SP-D16", 6),
}


@dataclass(frozen=True)
class Machine:
    """One QEMU machine (``qemu-system-arm -M name``)."""

    name: str
    board: str
    chip: str  # key of faults.MEMORY_MAPS
    core: str  # key of CORES
    bus_faults: bool  # an access where nothing answers raises a precise BusFault (QEMU 7.2)
    mpu_regions: int  # MPU_TYPE.DREGION read on QEMU 7.2
    peripherals: tuple[tuple[str, int], ...]  # bases only this machine has among the table's
    note: str

    @property
    def fpu(self) -> bool:
        return CORES[self.core].fpu is not None

    @property
    def flash(self) -> tuple[int, int]:
        base, size, _, _ = MEMORY_MAPS[self.chip]
        return base, size

    @property
    def sram(self) -> tuple[int, int]:
        _, _, base, size = MEMORY_MAPS[self.chip]
        return base, size


# Peripheral bases that tell the two Cortex-M3 machines with code at 0x0 apart: each is mapped
# on one of them only (QEMU 7.2 `info mtree`; the MPS2 UARTs at 0x40004000-0x40007000 are
# Stellaris GPIO ports, so they decide nothing).
MPS2_ONLY = (
    ("uart4", 0x40009000),
    ("ahb-gpio0", 0x40010000),
    ("scc", 0x4002F000),
    ("lan9118", 0x40200000),
)
STELLARIS_ONLY = (
    ("uart0", 0x4000C000),
    ("uart1", 0x4000D000),
    ("uart2", 0x4000E000),
    ("timer0", 0x40030000),
    ("ethernet", 0x40048000),
    ("sysctl", 0x400FE000),
)

# The order is the preference order of inference when nothing else decides (machine_fit).
MACHINES = {
    m.name: m
    for m in (
        Machine(
            "netduino2",
            "Netduino 2",
            "stm32f205",
            "cortex-m3",
            bus_faults=False,
            mpu_regions=8,
            peripherals=(),
            note="the Photon's MCU (STM32F205); unmapped loads read 0, stores are dropped",
        ),
        Machine(
            "netduinoplus2",
            "Netduino Plus 2",
            "stm32f405",
            "cortex-m4f",
            bus_faults=True,
            mpu_regions=8,
            peripherals=(),
            note="STM32F405, Cortex-M4F (192 KiB SRAM in QEMU); unmapped loads: precise BusFault",
        ),
        Machine(
            "mps2-an385",
            "ARM MPS2 FPGA image AN385",
            "mps2-an385",
            "cortex-m3",
            bus_faults=True,
            mpu_regions=8,
            peripherals=MPS2_ONLY,
            note="Cortex-M3 with precise BusFaults; code in 4 MiB SSRAM at 0x0",
        ),
        Machine(
            "mps2-an386",
            "ARM MPS2 FPGA image AN386",
            "mps2-an385",  # same memory system as AN385, Cortex-M4 with FPU
            "cortex-m4f",
            bus_faults=True,
            mpu_regions=8,
            peripherals=MPS2_ONLY,
            note="AN385's memory with a Cortex-M4F",
        ),
        Machine(
            "lm3s6965evb",
            "Stellaris LM3S6965EVB (Zephyr's qemu_cortex_m3)",
            "lm3s6965",
            "cortex-m3",
            bus_faults=False,
            mpu_regions=8,
            peripherals=STELLARIS_ONLY,
            note="Stellaris, Cortex-M3, 256 KiB flash, 64 KiB SRAM; unmapped loads read 0",
        ),
    )
}
DEFAULT_MACHINE = "netduino2"
