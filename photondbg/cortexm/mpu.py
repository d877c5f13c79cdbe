"""The ARMv7-M Memory Protection Unit as data (ARMv7-M ARM B3.5), and a decoder of its regions.

Like :mod:`photondbg.cortexm.faults` this file imports nothing from photondbg: facts and pure
functions over register values. Reading the registers off a core is
:mod:`photondbg.capture.stackcheck`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- registers (B3.5.4) --------------------------------------------------------------------
MPU_TYPE = 0xE000ED90  # DREGION bits 15:8: how many regions (0: no MPU)
MPU_CTRL = 0xE000ED94
MPU_RNR = 0xE000ED98  # selects the region RBAR/RASR show
MPU_RBAR = 0xE000ED9C
MPU_RASR = 0xE000EDA0

CTRL_BITS = [
    # name        bit
    ("ENABLE", 0),
    ("HFNMIENA", 1),  # the MPU also applies in HardFault/NMI (and FAULTMASK) handlers
    ("PRIVDEFENA", 2),  # privileged code sees the default memory map where no region hits
]

# RASR fields: (name, lowest bit, width)
RASR_FIELDS = [
    ("ENABLE", 0, 1),
    ("SIZE", 1, 5),  # the region is 2^(SIZE+1) bytes, SIZE >= 4 (32 bytes)
    ("SRD", 8, 8),  # subregion disable: bit i removes the i-th eighth (regions of 256 B and up)
    ("B", 16, 1),
    ("C", 17, 1),
    ("S", 18, 1),
    ("TEX", 19, 3),
    ("AP", 24, 3),
    ("XN", 28, 1),
]
SUBREGION_MIN_SIZE = 256  # smaller regions have no subregions (B3.5.8)
MIN_REGION_SIZE = 32

# When the debugger cannot select a region (QEMU 7.2's gdbstub drops writes to the System
# Control Space), the core selects it: these run in place of the halted code with r0 = MPU_RNR,
# r1 = the region, r12 = the halted PC | 1; each pass ends back at the halted PC.
REGION_READ_STUB = [
    # Thumb encoding (little-endian)  instruction
    (bytes.fromhex("0160"), "str r1, [r0]"),  # MPU_RNR = region
    (bytes.fromhex("4268"), "ldr r2, [r0, #4]"),  # MPU_RBAR
    (bytes.fromhex("8368"), "ldr r3, [r0, #8]"),  # MPU_RASR
    (bytes.fromhex("6047"), "bx r12"),
]

# Access permissions (B3.5.9, table B3-15): AP -> (privileged, unprivileged)
ACCESS_PERMISSIONS = {
    0b000: ("no access", "no access"),
    0b001: ("read/write", "no access"),
    0b010: ("read/write", "read-only"),
    0b011: ("read/write", "read/write"),
    0b100: ("reserved", "reserved"),
    0b101: ("read-only", "no access"),
    0b110: ("read-only", "read-only"),
    0b111: ("read-only", "read-only"),
}
NO_ACCESS = 0b000  # a region no code may touch: what a stack guard is


def field(value: int, name: str) -> int:
    for fname, lo, width in RASR_FIELDS:
        if fname == name:
            return (int(value) >> lo) & ((1 << width) - 1)
    raise KeyError(name)


def regions_count(mpu_type: int) -> int:
    return (int(mpu_type) >> 8) & 0xFF


def ctrl_flags(ctrl: int) -> dict[str, bool]:
    return {name: bool(int(ctrl) >> bit & 1) for name, bit in CTRL_BITS}


@dataclass(frozen=True)
class Region:
    """One MPU region as RBAR/RASR describe it."""

    number: int
    rbar: int
    rasr: int

    @property
    def enabled(self) -> bool:
        return bool(field(self.rasr, "ENABLE"))

    @property
    def size(self) -> int:
        return 1 << (field(self.rasr, "SIZE") + 1)

    @property
    def base(self) -> int:
        return self.rbar & ~(max(self.size, MIN_REGION_SIZE) - 1) & 0xFFFFFFFF

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.base + self.size

    @property
    def ap(self) -> int:
        return field(self.rasr, "AP")

    @property
    def xn(self) -> bool:
        return bool(field(self.rasr, "XN"))

    @property
    def srd(self) -> int:
        return field(self.rasr, "SRD") if self.size >= SUBREGION_MIN_SIZE else 0

    @property
    def no_access(self) -> bool:
        return self.ap == NO_ACCESS

    def access(self) -> tuple[str, str]:
        return ACCESS_PERMISSIONS[self.ap]

    def contains(self, address: int) -> bool:
        """``address`` is in an enabled subregion of this enabled region."""
        if not self.enabled or not self.base <= address < self.end:
            return False
        sub = (address - self.base) * 8 // self.size
        return not (self.srd >> sub & 1)

    def as_dict(self) -> dict:
        priv, unpriv = self.access()
        return {
            "number": self.number,
            "base": self.base,
            "end": self.end,
            "size": self.size,
            "ap": self.ap,
            "access": f"privileged {priv}, unprivileged {unpriv}",
            "xn": self.xn,
            "srd": self.srd,
            "rbar": self.rbar,
            "rasr": self.rasr,
        }


def region_at(regions: list[Region], address: int) -> Region | None:
    """The region that decides an access to ``address``: of the enabled regions holding it,
    the highest-numbered one (B3.5.1); None where no region does (the background map)."""
    hits = [r for r in regions if r.contains(address)]
    return max(hits, key=lambda r: r.number) if hits else None
