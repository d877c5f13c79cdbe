"""Which QEMU machine runs an ELF: read the ELF's facts (loaded segments, the vector table's
initial SP, ``.ARM.attributes``) and match them against the machine table
(:data:`photondbg.cortexm.machines.MACHINES`).

A machine *fits* when its core executes the code (CPU architecture, FP architecture) and its
memory holds every loaded segment and the initial SP. Among the machines that fit, the exact
core wins (v7E-M or FP code: the Cortex-M4F; v7-M code: the Cortex-M3), then the peripherals
the image references (a base address only one candidate maps, seen as a word in the loaded
image), then an initial SP that is exactly the top of one candidate's SRAM (a linker script
written for that memory), then the table's order. docs/machines.md has the evidence.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from photondbg.cortexm.attributes import build_attributes
from photondbg.cortexm.machines import (
    CORES,
    CPU_ARCH_NAMES,
    FP_ARCH_NAMES,
    HARDFP_SP_ONLY,
    MACHINES,
    Machine,
)
from photondbg.errors import UsageError

OTHER_CPU_NAMES = ("cortex-m7", "cortex-m33", "cortex-m23", "cortex-m55", "cortex-m85")


@dataclass
class ElfFacts:
    """What an ELF says about the machine it needs."""

    path: Path
    segments: list[tuple[int, int]] = field(default_factory=list)  # (address, bytes) in memory
    initial_sp: int | None = None
    cpu_name: str | None = None  # Tag_CPU_name ("7E-M" from GCC 12, "cortex-m7" from others)
    cpu_arch: int | None = None  # Tag_CPU_arch
    profile: str | None = None  # Tag_CPU_arch_profile: "M", "A", "R"
    fp_arch: int = 0  # Tag_FP_arch
    hardfp_use: int | None = None  # Tag_ABI_HardFP_use
    words: frozenset[int] = frozenset()  # every aligned word of the loaded image

    @property
    def arch_text(self) -> str:
        arch = CPU_ARCH_NAMES.get(self.cpu_arch or 0, f"Tag_CPU_arch {self.cpu_arch}")
        if self.cpu_arch is None:
            arch = "code of unknown architecture"
        name = f" ({self.cpu_name})" if self.cpu_name else ""
        return f"{arch}{name}"


def read_facts(elf: Path | str) -> ElfFacts:
    """The loaded segments (PT_LOAD: file image at p_paddr, zero-fill at p_vaddr), the word at
    the lowest load address (the vector table's initial SP) and the build attributes."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    facts = ElfFacts(Path(elf))
    try:
        with open(elf, "rb") as f:
            ef = ELFFile(f)
            words: set[int] = set()
            first: tuple[int, bytes] | None = None
            for seg in ef.iter_segments():
                if seg["p_type"] != "PT_LOAD" or not seg["p_memsz"]:
                    continue
                if seg["p_filesz"]:
                    data = seg.data()
                    facts.segments.append((seg["p_paddr"], seg["p_filesz"]))
                    words.update(w for (w,) in struct.iter_unpack("<I", data[: len(data) & ~3]))
                    if first is None or seg["p_paddr"] < first[0]:
                        first = (seg["p_paddr"], data)
                if seg["p_memsz"] > seg["p_filesz"] or seg["p_vaddr"] != seg["p_paddr"]:
                    facts.segments.append((seg["p_vaddr"], seg["p_memsz"]))
            facts.words = frozenset(words)
            if first is not None and len(first[1]) >= 4:
                facts.initial_sp = struct.unpack_from("<I", first[1])[0]
            for tag, value in build_attributes(ef):
                _take_attribute(facts, tag, value)
    except (OSError, ELFError, struct.error) as e:
        raise UsageError(f"{elf}: cannot read the ELF's segments: {e}") from None
    return facts


def _take_attribute(facts: ElfFacts, tag: str, value) -> None:
    if tag == "TAG_CPU_NAME":
        facts.cpu_name = str(value)
    elif tag == "TAG_CPU_ARCH":
        facts.cpu_arch = int(value)
    elif tag == "TAG_CPU_ARCH_PROFILE":
        facts.profile = chr(value) if isinstance(value, int) and value else None
    elif tag == "TAG_FP_ARCH":
        facts.fp_arch = int(value)
    elif tag == "TAG_ABI_HARDFP_USE":
        facts.hardfp_use = int(value)


def core_misfit(facts: ElfFacts, machine: Machine) -> str | None:
    """Why the machine's core cannot run the code, or None."""
    core = CORES[machine.core]
    if facts.profile not in (None, "M"):
        return f"the ELF is for an ARM {facts.profile}-profile CPU, not a Cortex-M"
    name = (facts.cpu_name or "").lower()
    if name in OTHER_CPU_NAMES:
        return f"the ELF is built for a {name}"
    if facts.cpu_arch is not None and facts.cpu_arch not in core.runs_arch:
        return f"the ELF is {facts.arch_text} code; the {core.name} runs ARMv6-M/ARMv7-M" + (
            "/ARMv7E-M" if 13 in core.runs_arch else ""
        )
    if facts.fp_arch:
        if core.fpu is None:
            fp = FP_ARCH_NAMES.get(facts.fp_arch, str(facts.fp_arch))
            return f"the ELF uses the FPU ({fp}); the {core.name} has none"
        if facts.fp_arch > core.fp_arch_max or facts.hardfp_use not in (None, HARDFP_SP_ONLY):
            what = FP_ARCH_NAMES.get(facts.fp_arch, str(facts.fp_arch))
            if facts.hardfp_use != HARDFP_SP_ONLY:
                what += ", double precision"
            return f"the ELF's FPU code ({what}) needs more than the {core.fpu}"
    return None


def memory_misfit(facts: ElfFacts, machine: Machine) -> str | None:
    """Why the machine's memory cannot hold the image, or None."""
    fbase, fsize = machine.flash
    rbase, rsize = machine.sram
    for addr, size in facts.segments:
        inside = (fbase <= addr and addr + size <= fbase + fsize) or (
            rbase <= addr and addr + size <= rbase + rsize
        )
        if not inside:
            return (
                f"segment 0x{addr:08x}-0x{addr + size - 1:08x} is outside its flash "
                f"0x{fbase:08x}+{fsize // 1024}K and SRAM 0x{rbase:08x}+{rsize // 1024}K"
            )
    sp = facts.initial_sp
    if sp is not None and not (rbase < sp <= rbase + rsize):
        return f"the initial SP 0x{sp:08x} is outside its SRAM 0x{rbase:08x}+{rsize // 1024}K"
    return None


def misfit(facts: ElfFacts, machine: Machine) -> str | None:
    return core_misfit(facts, machine) or memory_misfit(facts, machine)


def _exact_core(facts: ElfFacts, machine: Machine) -> bool:
    """v7E-M or FP code on the M4F; v7-M (or v6-M) code without FP on the M3."""
    wants_m4 = facts.cpu_arch == 13 or facts.fp_arch > 0
    return (machine.core == "cortex-m4f") == wants_m4


def _peripheral_refs(facts: ElfFacts, machine: Machine) -> int:
    return sum(1 for _, base in machine.peripherals if base in facts.words)


def _sp_at_top(facts: ElfFacts, machine: Machine) -> bool:
    base, size = machine.sram
    return facts.initial_sp == base + size


def ranked(facts: ElfFacts) -> list[tuple[Machine, str]]:
    """The machines that fit, best first, each with the reason it ranks where it does."""
    fits = [m for m in MACHINES.values() if misfit(facts, m) is None]
    order = list(MACHINES)

    def key(m: Machine):
        return (
            not _exact_core(facts, m),
            -_peripheral_refs(facts, m),
            not _sp_at_top(facts, m),
            order.index(m.name),
        )

    fits.sort(key=key)
    out = []
    for m in fits:
        why = [f"{m.core} runs it" + (" (exact core)" if _exact_core(facts, m) else "")]
        refs = _peripheral_refs(facts, m)
        if refs:
            why.append(f"references {refs} of its peripheral bases")
        if _sp_at_top(facts, m):
            why.append("initial SP is the top of its SRAM")
        out.append((m, "; ".join(why)))
    return out


def choose(elf: Path | str, requested: str | None = None) -> tuple[str, str]:
    """(machine, how it was chosen) for the ELF; UsageError (one line) when none fits or the
    requested one does not."""
    facts = read_facts(elf)
    if requested is not None:
        if requested not in MACHINES:
            raise UsageError(f"unknown machine {requested!r} (choose from {', '.join(MACHINES)})")
        why = misfit(facts, MACHINES[requested])
        if why:
            raise UsageError(
                f"{Path(elf).name} does not fit --machine {requested}: {why}" + _suggest(facts)
            )
        return requested, "--machine"
    best = ranked(facts)
    if not best:
        raise UsageError(f"{Path(elf).name}: no QEMU machine fits: {_no_fit_reason(facts)}")
    machine, why = best[0]
    return machine.name, f"inferred from the ELF: {why}"


def _suggest(facts: ElfFacts) -> str:
    best = ranked(facts)
    return f" (it fits {best[0][0].name}; omit --machine to infer it)" if best else ""


def _no_fit_reason(facts: ElfFacts) -> str:
    """The most telling reason: the core first (a wrong core fits nowhere), then memory."""
    cores = {m.name: core_misfit(facts, m) for m in MACHINES.values()}
    if all(cores.values()):
        closest = "netduinoplus2" if facts.fp_arch or facts.cpu_arch == 13 else "netduino2"
        return (
            f"{cores[closest]}; the machines emulate a Cortex-M3 (netduino2, mps2-an385, "
            f"lm3s6965evb) and a Cortex-M4F (netduinoplus2, mps2-an386): rebuild for one of them"
        )
    reasons = "; ".join(
        f"{name}: {memory_misfit(facts, MACHINES[name])}" for name, c in cores.items() if not c
    )
    return f"{reasons}. Link the image for one machine's flash and SRAM (docs/machines.md)"
