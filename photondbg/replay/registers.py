"""The Cortex-M register file a replay serves, as one table: it feeds target.xml, the ``g``
packet and ``p``. Names and features are GDB's (``org.gnu.gdb.arm.m-profile`` and, for MSP and
PSP, ``org.gnu.gdb.arm.m-system``, which GDB 13 uses to unwind exception frames)."""

from __future__ import annotations

from dataclasses import dataclass

M_PROFILE = "org.gnu.gdb.arm.m-profile"
M_SYSTEM = "org.gnu.gdb.arm.m-system"


@dataclass(frozen=True)
class Reg:
    name: str
    bits: int
    type: str
    feature: str


#            name    bits  type        feature
REGS = [Reg(f"r{i}", 32, "int", M_PROFILE) for i in range(13)] + [
    Reg("sp", 32, "data_ptr", M_PROFILE),
    Reg("lr", 32, "int", M_PROFILE),
    Reg("pc", 32, "code_ptr", M_PROFILE),
    Reg("xpsr", 32, "int", M_PROFILE),
    Reg("msp", 32, "data_ptr", M_SYSTEM),
    Reg("psp", 32, "data_ptr", M_SYSTEM),
]
BY_NAME = {r.name: i for i, r in enumerate(REGS)}


def register_file(values: dict[str, int | None]) -> list[Reg]:
    """The registers to describe: MSP and PSP only when both are known — GDB 13 unwinds
    exception frames through them and gives up on the whole backtrace when one is unavailable;
    without them it unwinds as on a stub that does not expose them (QEMU)."""
    if values.get("msp") is None or values.get("psp") is None:
        return [r for r in REGS if r.feature != M_SYSTEM]
    return list(REGS)


def target_xml(regs: list[Reg] = REGS) -> str:
    features: dict[str, list[str]] = {}
    for n, r in enumerate(regs):
        features.setdefault(r.feature, []).append(
            f'    <reg name="{r.name}" bitsize="{r.bits}" regnum="{n}" type="{r.type}"/>'
        )
    body = "\n".join(
        f'  <feature name="{name}">\n' + "\n".join(rows) + "\n  </feature>"
        for name, rows in features.items()
    )
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE target SYSTEM "gdb-target.dtd">\n<target>\n'
        f"  <architecture>arm</architecture>\n{body}\n</target>\n"
    )


def encode(value: int | None, bits: int = 32) -> str:
    """Target byte order (little-endian) hex; an unknown value is ``xx..`` (GDB: unavailable)."""
    if value is None:
        return "xx" * (bits // 8)
    return (int(value) & ((1 << bits) - 1)).to_bytes(bits // 8, "little").hex()


def encode_all(values: dict[str, int | None], regs: list[Reg] = REGS) -> str:
    return "".join(encode(values.get(r.name), r.bits) for r in regs)
