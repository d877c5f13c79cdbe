"""Sim-only artefacts of the simulated Photon, as data: where the simulation differs from an
STM32F205 running Device OS 0.6.4, so that every capture from the sim says so.

Each artefact is detected by a symbol the firmware defines for it; its text is what the report's
``sim_artefacts`` list carries (and, for the memory map, what the firmware prints at boot:
``@sim <text>``, from ``sim_memory_label`` in firmware/platform/sim_memory.c).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimArtefact:
    id: str
    symbol: str  # present in the firmware that has this artefact
    text: str  # one line, starting with "sim: "
    detail: str  # why, and what silicon does instead

    def as_dict(self) -> dict:
        return {"id": self.id, "text": self.text, "detail": self.detail}


UNMAPPED_ACCESS_MPU = SimArtefact(
    "unmapped-access-mpu",
    "sim_mapped_regions",
    "sim: unmapped access modelled as MemManage via MPU (STM32F205 silicon: BusFault)",
    "QEMU 7.2 netduino2 reads unmapped addresses as 0 and drops stores (docs/sim-memory.md); "
    "the firmware programs the MPU over the F205's mapped memory with the background region off, "
    "so such an access faults as MemManage DACCVIOL/IACCVIOL (MMFAR) and escalates to HardFault "
    "FORCED where the board takes a precise BusFault (BFAR) or IBUSERR escalated the same way.",
)

PANIC_ON_CONSOLE = SimArtefact(
    "panic-on-console",
    "panic_log",
    "sim: SOS shown as @panic/@sos console lines, 25 ms blink units (board: RGB LED, ~5 s/round)",
    "panic_() drives the LED callbacks as Device OS does, but the simulated LED has no light; "
    "the log callback prints the panic and each SOS round on USART1, and the blink timing is "
    "shortened so that campaigns are not dominated by SOS time.",
)

RETAINED_CRASH_RECORD = SimArtefact(
    "retained-crash-record",
    "crash_record",
    "sim: crash record kept in retained RAM and printed at boot as @record",
    "Device OS 0.6.4 keeps only the reset reason and panic code (backup registers); the sim "
    "keeps the stacked frame, SCB fault registers, stack pointer and EXC_RETURN so that tests "
    "can compare photondbg's reading with the firmware's own.",
)

UNMAPPED_READS_ZERO = SimArtefact(
    "unmapped-reads-zero",
    "",
    "sim: unmapped reads return 0 and stores are dropped, no fault (STM32F205 silicon: BusFault)",
    "QEMU 7.2 netduino2 without the photondbg firmware's MPU map (docs/sim-memory.md): a garbage "
    "data pointer into unmapped memory goes unnoticed here; only a fetch from an execute-never "
    "region (0xA0000000 and up) faults (MemManage IACCVIOL), as it does on the board.",
)

ARTEFACTS = (UNMAPPED_ACCESS_MPU, PANIC_ON_CONSOLE, RETAINED_CRASH_RECORD)


def sim_artefacts(
    symbol_names, target_kind: str = "sim", machine: str | None = "netduino2"
) -> list[dict]:
    """The artefacts present in a firmware (by its symbol names), for a capture's report.

    ``symbol_names`` is anything supporting ``in`` (a set, or a dict of symbols)."""
    if target_kind != "sim":
        return []
    found = [a.as_dict() for a in ARTEFACTS if a.symbol in symbol_names]
    if machine == "netduino2" and UNMAPPED_ACCESS_MPU.symbol not in symbol_names:
        found.insert(0, UNMAPPED_READS_ZERO.as_dict())
    return found
